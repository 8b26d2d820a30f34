// Engine: submission (validation, image expansion, positions), the engine thread, and one step:
// schedule -> execute -> update (sample, detokenize, stop checks, outputs, metrics).
#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "core/hash.h"
#include "core/logging.h"
#include "model/glm4v/rope_index.h"
#include "tokenizer/incremental_decoder.h"

namespace autoglm {

using Clock = std::chrono::steady_clock;

struct EngineInbox {
    std::mutex mutex;
    std::condition_variable wake;
    std::vector<std::unique_ptr<EngineGroup>> pending;  // submitted, not yet seen by the engine
    bool cancel_pending = false;
    bool stopping = false;
};

struct EngineSequence {
    Request request;
    EngineGroup* group = nullptr;
    int32_t index = 0;
    uint64_t seed = 0;
    int64_t max_output_tokens = 0;  // min(max_tokens, max_model_len - prompt)
    std::unique_ptr<StopChecker> stop;
    std::unique_ptr<IncrementalDecoder> decoder;
    bool started = false;  // handed to the scheduler
    bool finished = false;
    bool scheduled = false;  // scheduled at least once
    Clock::time_point last_token;
    std::optional<std::vector<int32_t>> prompt_distinct;  // for repetition_penalty, made once
};

struct EngineGroup {
    std::shared_ptr<RequestHandle> handle;
    SamplingParams params;
    std::vector<std::unique_ptr<EngineSequence>> sequences;
    int64_t num_unfinished = 0;
    bool first_token_seen = false;
    Clock::time_point arrival;
    EngineUsage usage;
};

void RequestHandle::cancel() {
    cancelled_.store(true, std::memory_order_release);
    if (!inbox_) return;
    {
        std::lock_guard<std::mutex> lock(inbox_->mutex);
        inbox_->cancel_pending = true;
    }
    inbox_->wake.notify_one();
}

namespace {

// 64-bit content hash (XXH3) of preprocessed pixels and their grid, for images submitted without
// a key (the server keys them by their encoded bytes); a compact image hashes its resized
// picture and its normalization table.
uint64_t hash_pixels(const Glm4vProcessedImage& px) {
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(px.grid_t * 1000003 + px.grid_h) ^
                    (static_cast<uint64_t>(px.grid_w) << 40);
    if (!px.compact())
        return hash_bytes(px.pixel_values.data(), px.pixel_values.size() * sizeof(float), seed);
    seed = hash_bytes(px.table.data(), sizeof(px.table), seed);
    return hash_bytes(px.resized_rgb.pixels.data(), px.resized_rgb.pixels.size(), seed);
}

SubmitFailure failure(SubmitError kind, std::string message) {
    return SubmitFailure{kind, std::move(message)};
}

}  // namespace

Engine::Engine(const EngineConfig& config, const Glm4vConfig& model_config, ModelExecutor& executor,
               const Tokenizer* tokenizer, std::vector<int32_t> eos_token_ids)
    : config_(config),
      model_config_(model_config),
      executor_(executor),
      tokenizer_(tokenizer),
      eos_token_ids_(std::move(eos_token_ids)),
      kv_(config.num_blocks, config.block_size),
      scheduler_(config.scheduler, kv_),
      sampler_(eos_token_ids_),
      inbox_(std::make_shared<EngineInbox>()) {
    CHECK(config.max_model_len > 0 &&
          config.max_model_len <= int64_t{config.num_blocks} * config.block_size)
        << "max_model_len " << config.max_model_len << " does not fit the KV pool of "
        << int64_t{config.num_blocks} * config.block_size << " tokens";
    scheduler_.set_inputs_ready(
        [this](const Request& r, int64_t from) { return executor_.images_ready(r, from); });
}

Engine::~Engine() {
    stop();
}

Result<Request> Engine::prepare(GenerationInput& input) const {
    const auto image_token = static_cast<int32_t>(model_config_.image_token_id);
    const int64_t vocab = model_config_.text.vocab_size;
    size_t num_placeholders = 0;
    for (int32_t id : input.prompt_ids) {
        if (id < 0 || id >= vocab)
            return Error{"token id " + std::to_string(id) + " is out of vocabulary (size " +
                         std::to_string(vocab) + ")"};
        num_placeholders += id == image_token;
    }
    for (const auto& [id, bias] : input.params.logit_bias)
        if (id < 0 || id >= vocab)
            return Error{"logit_bias token id " + std::to_string(id) +
                         " is out of vocabulary (size " + std::to_string(vocab) + ")"};
    if (num_placeholders != input.images.size())
        return Error{"the prompt has " + std::to_string(num_placeholders) +
                     " image placeholders for " + std::to_string(input.images.size()) + " images"};
    std::vector<int32_t> ids;
    std::vector<ImageInput> images;
    std::vector<ImageGrid> grids;
    size_t next = 0;
    for (int32_t id : input.prompt_ids) {
        if (id != image_token) {
            ids.push_back(id);
            continue;
        }
        EngineImage& image = input.images[next++];
        if (!image.pixels || image.pixels->num_tokens <= 0) return Error{"empty image"};
        if (image.content_hash == 0) image.content_hash = hash_pixels(*image.pixels);
        const Glm4vProcessedImage& px = *image.pixels;
        images.push_back(
            {image.pixels, image.content_hash, static_cast<int64_t>(ids.size()), px.num_tokens});
        grids.push_back({px.grid_t, px.grid_h, px.grid_w});
        ids.insert(ids.end(), static_cast<size_t>(px.num_tokens), image_token);
    }
    auto rope = compute_rope_positions(ids, grids, model_config_);
    if (!rope) return rope.error();
    Request r = Request::make(0, std::move(ids), std::move(rope.value().positions),
                              rope.value().rope_delta);
    for (const ImageInput& image : images)
        r.image_spans.push_back({image.content_hash, image.token_offset, image.num_tokens});
    r.images = std::move(images);
    return r;
}

Result<std::vector<int32_t>> Engine::prompt_token_ids(GenerationInput input) const {
    auto prepared = prepare(input);
    if (!prepared) return prepared.error();
    return std::move(prepared.value().token_ids);
}

std::variant<std::shared_ptr<RequestHandle>, SubmitFailure> Engine::submit(GenerationInput input) {
    if (Status s = input.params.validate(); !s.ok())
        return failure(SubmitError::kInvalid, s.error_message());
    if (input.prompt_ids.empty()) return failure(SubmitError::kInvalid, "the prompt is empty");
    auto prepared = prepare(input);
    if (!prepared) return failure(SubmitError::kInvalid, prepared.error_message());
    Request& prompt = prepared.value();
    const int64_t num_prompt = prompt.num_tokens();
    const int64_t max_len = config_.max_model_len;
    const std::string limit =
        "This model's maximum context length is " + std::to_string(max_len) + " tokens. ";
    if (num_prompt >= max_len)
        return failure(SubmitError::kTooLong,
                       limit + "However, your request has " + std::to_string(num_prompt) +
                           " input tokens. Please reduce the length of the input messages.");
    const auto& max_tokens = input.params.max_tokens;
    if (max_tokens && num_prompt + *max_tokens > max_len)
        return failure(SubmitError::kTooLong,
                       limit + "However, you requested " +
                           std::to_string(num_prompt + *max_tokens) + " tokens (" +
                           std::to_string(num_prompt) + " in the messages, " +
                           std::to_string(*max_tokens) +
                           " in the completion). Please reduce the length of the messages or "
                           "completion.");

    auto group = std::make_unique<EngineGroup>();
    group->arrival = Clock::now();
    group->params = input.params;
    group->num_unfinished = input.params.n;
    group->usage.prompt_tokens = num_prompt;
    auto handle = std::make_shared<RequestHandle>();
    handle->id_ = next_request_id_.fetch_add(1);
    handle->num_prompt_tokens_ = num_prompt;
    handle->inbox_ = inbox_;
    group->handle = handle;
    for (int32_t i = 0; i < input.params.n; ++i) {
        auto seq = std::make_unique<EngineSequence>();
        seq->request = i + 1 < input.params.n ? prompt : std::move(prompt);
        seq->group = group.get();
        seq->index = i;
        // vLLM: the k-th of n seeded samples uses seed + k.
        const auto& seed = input.params.seed;
        seq->seed = make_request_seed(seed ? std::optional<int64_t>(*seed + i) : std::nullopt);
        seq->max_output_tokens = std::min(max_len - num_prompt, max_tokens.value_or(max_len));
        seq->stop =
            std::make_unique<StopChecker>(input.params, eos_token_ids_, max_len - num_prompt);
        if (tokenizer_)
            seq->decoder =
                std::make_unique<IncrementalDecoder>(*tokenizer_, input.params.skip_special_tokens);
        group->sequences.push_back(std::move(seq));
    }
    {
        std::lock_guard<std::mutex> lock(inbox_->mutex);
        if (inbox_->stopping) return failure(SubmitError::kShutdown, "the engine is shutting down");
        if (config_.max_queued_requests > 0 &&
            num_unfinished_.load() >= config_.max_queued_requests)
            return failure(SubmitError::kQueueFull,
                           "the server is at capacity (" +
                               std::to_string(config_.max_queued_requests) +
                               " requests in flight); retry later");
        ++num_unfinished_;
        inbox_->pending.push_back(std::move(group));
    }
    inbox_->wake.notify_one();
    return handle;
}

void Engine::start_sequence(EngineSequence& seq) {
    seq.request.id = next_sequence_id_++;
    seq.started = true;
    sequences_[seq.request.id] = &seq;
    scheduler_.add(&seq.request);
}

void Engine::admit_inbox() {
    std::vector<std::unique_ptr<EngineGroup>> pending;
    {
        std::lock_guard<std::mutex> lock(inbox_->mutex);
        pending.swap(inbox_->pending);
        inbox_->cancel_pending = false;
    }
    for (auto& group : pending) {
        // The first sequence alone: its siblings start once its prompt is in the cache, so
        // they share the prompt's blocks instead of computing them again.
        start_sequence(*group->sequences.front());
        const int64_t id = group->handle->id();
        groups_.emplace(id, std::move(group));
    }
}

void Engine::deliver(EngineGroup& group, EngineOutput out) {
    if (!out.request_finished) {
        group.handle->outputs_.push(std::move(out));
        return;
    }
    // Everything a client may check once it sees the end (counters, gauges, the freed blocks)
    // is settled before the last output is pushed.
    const auto e2e = std::chrono::duration<double>(Clock::now() - group.arrival).count();
    metrics_.e2e_request_latency.observe(e2e);
    --num_unfinished_;
    update_gauges();
    const std::shared_ptr<RequestHandle> handle = group.handle;
    groups_.erase(handle->id());  // destroys `group`
    handle->outputs_.push(std::move(out));
    handle->outputs_.close();
}

void Engine::finish_sequence(EngineSequence& seq, EngineOutput& out) {
    EngineGroup& group = *seq.group;
    seq.finished = true;
    if (seq.started) {
        scheduler_.remove(&seq.request);
        executor_.release(seq.request);
        sequences_.erase(seq.request.id);
    }
    group.usage.completion_tokens += seq.request.num_output_tokens();
    if (--group.num_unfinished > 0) return;
    out.request_finished = true;
    out.usage = group.usage;
    switch (*out.finish_reason) {
        case FinishReason::kStop:
            ++metrics_.finished_stop;
            break;
        case FinishReason::kLength:
            ++metrics_.finished_length;
            break;
        case FinishReason::kAbort:
            ++metrics_.finished_abort;
            break;
    }
}

// Ends the groups whose handle asked to cancel (or all of them): every unfinished sequence gets
// its held-back text and finish_reason "abort"; their blocks return to the pool now.
void Engine::abort_groups(bool only_cancelled) {
    std::vector<EngineGroup*> victims;
    for (auto& [id, group] : groups_)
        if (!only_cancelled || group->handle->cancel_requested()) victims.push_back(group.get());
    for (EngineGroup* group : victims) {
        for (auto& seq : group->sequences) {
            if (seq->finished) continue;
            const StopUpdate u = seq->stop->abort();
            EngineOutput out;
            out.index = seq->index;
            out.text = u.text;
            out.finish_reason = FinishReason::kAbort;
            finish_sequence(*seq, out);
            const bool last = out.request_finished;
            deliver(*group, std::move(out));
            if (last) break;  // the group is gone
        }
    }
}

void Engine::record_first_schedules(const StepPlan& plan) {
    const Clock::time_point now = Clock::now();
    for (const ScheduledChunk& c : plan.chunks) {
        EngineSequence& seq = *sequences_.at(c.request->id);
        if (seq.scheduled) continue;
        seq.scheduled = true;
        if (seq.index != 0) continue;
        // At the first schedule the computed tokens are exactly the prefix-cache hit.
        seq.group->usage.cached_tokens = c.request->num_computed_tokens;
        metrics_.request_queue_time.observe(
            std::chrono::duration<double>(now - seq.group->arrival).count());
    }
}

void Engine::append_token(EngineSequence& seq, const SampleResult& sample) {
    EngineGroup& group = *seq.group;
    const Clock::time_point now = Clock::now();
    const int32_t token = sample.token_id;
    seq.request.append_output(token);
    ++metrics_.generation_tokens;
    if (seq.request.num_output_tokens() > 1)
        metrics_.inter_token_latency.observe(
            std::chrono::duration<double>(now - seq.last_token).count());
    seq.last_token = now;
    if (!group.first_token_seen) {
        group.first_token_seen = true;
        metrics_.time_to_first_token.observe(
            std::chrono::duration<double>(now - group.arrival).count());
        metrics_.prompt_tokens += static_cast<uint64_t>(group.usage.prompt_tokens);
        for (auto& sibling : group.sequences)
            if (!sibling->started) start_sequence(*sibling);
    }
    std::string text;
    if (seq.decoder) {
        text = seq.decoder->push(token);
        // The last possible token: flush a character the decoder still holds.
        if (seq.stop->num_generated() + 1 >= seq.max_output_tokens) text += seq.decoder->finish();
    }
    const StopUpdate u = seq.stop->append(token, text);
    EngineOutput out;
    out.index = seq.index;
    out.token_ids = {token};
    out.text = u.text;
    if (group.params.logprobs) out.logprobs = {sample};
    if (u.finish_reason) {
        out.finish_reason = u.finish_reason;
        out.stop_reason = u.stop_reason;
        finish_sequence(seq, out);
    }
    deliver(group, std::move(out));
}

bool Engine::sample_on_device(const std::vector<EngineSequence*>& seqs) {
    if (!executor_.has_device_sampler()) return false;
    std::vector<DeviceSampleRow> rows;
    std::vector<LogitEdit> edits;
    const int64_t vocab = executor_.vocab_size();
    for (EngineSequence* seq : seqs) {
        const SamplingParams& p = seq->group->params;
        if (!samples_on_device(p)) return false;  // mixed steps: all on the host
        const Request& r = seq->request;
        const int64_t num_generated = r.num_output_tokens();
        if (p.repetition_penalty != 1.0f && !seq->prompt_distinct)
            seq->prompt_distinct =
                distinct_ids(std::span<const int32_t>(r.token_ids)
                                 .first(static_cast<size_t>(r.num_prompt_tokens)));
        static const std::vector<int32_t> kNone;
        if (!append_logit_edits(static_cast<int32_t>(rows.size()),
                                seq->prompt_distinct ? *seq->prompt_distinct : kNone,
                                r.output_ids(), p, eos_token_ids_, vocab, edits))
            return false;
        const bool greedy = p.is_greedy();
        rows.push_back({greedy ? 0.0f : p.effective_temperature(), p.top_k, p.top_p, p.min_p,
                        greedy ? 0.0 : counter_uniform(seq->seed, num_generated)});
    }
    std::vector<int32_t> ids;
    if (!executor_.sample_on_device(rows, edits, ids)) return false;
    CHECK(ids.size() == seqs.size())
        << "the device sampled " << ids.size() << " of " << seqs.size() << " rows";
    for (size_t i = 0; i < seqs.size(); ++i) {
        SampleResult sample;
        sample.token_id = ids[i];
        append_token(*seqs[i], sample);
    }
    return true;
}

void Engine::update(const StepPlan& plan, StepOutput& out) {
    std::vector<EngineSequence*> seqs;
    for (const int32_t chunk : out.sampling_chunks)
        seqs.push_back(sequences_.at(plan.chunks[static_cast<size_t>(chunk)].request->id));
    if (seqs.empty() || sample_on_device(seqs)) return;
    executor_.fetch_logits(out);
    const auto vocab = static_cast<size_t>(executor_.vocab_size());
    CHECK(out.logits.size() == seqs.size() * vocab)
        << "logits for " << out.logits.size() / vocab << " of " << seqs.size() << " sampling rows";
    std::vector<SamplerRow> rows;
    for (size_t i = 0; i < seqs.size(); ++i) {
        const Request& r = seqs[i]->request;
        const auto prompt =
            std::span<const int32_t>(r.token_ids).first(static_cast<size_t>(r.num_prompt_tokens));
        rows.push_back({{out.logits.data() + i * vocab, vocab},
                        prompt,
                        r.output_ids(),
                        &seqs[i]->group->params,
                        seqs[i]->seed});
    }
    const std::vector<SampleResult> samples = sampler_.sample_batch(rows);
    for (size_t i = 0; i < seqs.size(); ++i) append_token(*seqs[i], samples[i]);
}

void Engine::update_gauges() {
    metrics_.num_waiting = static_cast<int64_t>(scheduler_.num_waiting());
    metrics_.num_running = static_cast<int64_t>(scheduler_.num_running());
    metrics_.kv_cache_usage = kv_.pool().usage();
    metrics_.preemptions = scheduler_.stats().num_preemptions;
    metrics_.prefix_cache_queries = kv_.pool().stats().num_query_tokens;
    metrics_.prefix_cache_hits = kv_.pool().stats().num_hit_tokens;
}

namespace {

struct StepClock {
    using Clock = std::chrono::steady_clock;
    Clock::time_point begin = Clock::now(), scheduled, executed, end;
    static double seconds(Clock::time_point a, Clock::time_point b) {
        return std::chrono::duration<double>(b - a).count();
    }
};

}  // namespace

bool Engine::step() {
    StepClock clock;
    admit_inbox();
    abort_groups(/*only_cancelled=*/true);
    if (scheduler_.num_running() + scheduler_.num_waiting() == 0) {
        update_gauges();
        return false;
    }
    const StepPlan plan = scheduler_.schedule();
    if (plan.chunks.empty()) {
        // Nothing runs and the first waiting request's images were still being encoded when the
        // scheduler asked (they may have finished since: then the wait returns at once). A lone
        // request always fits (max_model_len <= the pool, checked at construction), so the next
        // step admits it; more than a few waits in a row would be a scheduling bug.
        Request* front = scheduler_.front_waiting();
        CHECK(front && ++empty_plans_ < 100) << "the scheduler planned nothing for "
                                             << scheduler_.num_waiting() << " waiting requests";
        executor_.wait_for_images(*front, scheduler_.peek_hit(front));
        return true;
    }
    empty_plans_ = 0;
    record_first_schedules(plan);
    // What the step runs, read before execute advances num_computed_tokens.
    int64_t tokens = 0, decodes = 0;
    for (const ScheduledChunk& c : plan.chunks) {
        tokens += c.num_new_tokens;
        decodes += c.request->num_computed_tokens >= c.request->num_prompt_tokens;
    }
    clock.scheduled = StepClock::Clock::now();
    StepOutput out = executor_.execute(plan);
    clock.executed = StepClock::Clock::now();
    update(plan, out);
    update_gauges();
    clock.end = StepClock::Clock::now();

    metrics_.iteration_tokens.observe(static_cast<double>(tokens));
    StepPhaseHistograms& h = metrics_.step_phases;
    const double total = StepClock::seconds(clock.begin, clock.end);
    const double exec = StepClock::seconds(clock.scheduled, clock.executed);
    // This step's forward and image encodes: known now on the CPU; on the GPU once finished.
    double forward = out.forward_seconds, vision = out.images_encoded > 0 ? out.vision_seconds : 0;
    if (forward >= 0) h.forward.observe(forward);
    for (int32_t i = 0; i < out.images_encoded && out.vision_seconds >= 0; ++i)
        h.vision.observe(out.vision_seconds / out.images_encoded);
    ModelExecutor::DeviceSeconds device;
    executor_.collect_device_seconds(device);
    for (const double d : device.forward) h.forward.observe(d);
    for (const double d : device.vision) h.vision.observe(d);
    if (forward < 0 && device.forward_all && !device.forward.empty())
        forward = device.forward.back();
    if (vision < 0) {
        vision = -1;  // unknown unless every encode of this step has been reported
        const auto n = static_cast<size_t>(out.images_encoded);
        if (device.vision_all && device.vision.size() >= n) {
            vision = 0;
            for (size_t i = device.vision.size() - n; i < device.vision.size(); ++i)
                vision += device.vision[i];
        }
    }
    h.schedule.observe(StepClock::seconds(clock.begin, clock.scheduled));
    // On the CPU the model runs inside execute; on the GPU execute only launches it.
    const double prepare = std::max(
        0.0, exec - std::max(0.0, out.vision_seconds) - std::max(0.0, out.forward_seconds));
    h.prepare.observe(prepare);
    h.output.observe(StepClock::seconds(clock.executed, clock.end));
    h.total.observe(total);
    if (forward >= 0 && vision >= 0) h.gap.observe(std::max(0.0, total - vision - forward));
    if (config_.profile_steps) {
        char fwd[32] = "pending", vis[32] = "pending";
        if (forward >= 0) std::snprintf(fwd, sizeof fwd, "%.2f ms", forward * 1e3);
        if (vision >= 0) std::snprintf(vis, sizeof vis, "%.2f ms", vision * 1e3);
        char line[320];
        std::snprintf(line, sizeof line,
                      "step %lld: %zu chunks, %lld tokens (%lld prefill, %lld decodes), %d images; "
                      "schedule %.2f ms, prepare %.2f ms, vision %s, forward %s, "
                      "output %.2f ms, total %.2f ms",
                      static_cast<long long>(num_steps_), plan.chunks.size(),
                      static_cast<long long>(tokens), static_cast<long long>(tokens - decodes),
                      static_cast<long long>(decodes), out.images_encoded,
                      StepClock::seconds(clock.begin, clock.scheduled) * 1e3, prepare * 1e3, vis,
                      fwd, StepClock::seconds(clock.executed, clock.end) * 1e3, total * 1e3);
        LOG_INFO << line;
    }
    ++num_steps_;
    return true;
}

void Engine::run_loop() {
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(inbox_->mutex);
            inbox_->wake.wait(lock, [&] {
                return inbox_->stopping || !inbox_->pending.empty() || inbox_->cancel_pending ||
                       scheduler_.num_running() + scheduler_.num_waiting() > 0;
            });
            if (inbox_->stopping) break;
        }
        step();
    }
    admit_inbox();
    abort_groups(/*only_cancelled=*/false);
    update_gauges();
}

void Engine::start() {
    CHECK(!thread_.joinable()) << "engine already started";
    thread_ = std::thread([this] { run_loop(); });
}

void Engine::stop() {
    {
        std::lock_guard<std::mutex> lock(inbox_->mutex);
        inbox_->stopping = true;
    }
    inbox_->wake.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    } else {
        admit_inbox();
        abort_groups(/*only_cancelled=*/false);
        update_gauges();
    }
}

}  // namespace autoglm
