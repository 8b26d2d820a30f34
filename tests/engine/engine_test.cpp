// Engine with a fake model (no weights): a fake executor keeps token values in paged KV slots and
// derives each next token from what it reads back through the block table, so wrong blocks,
// prefix hits or image keys change the output. Covers submission errors, concurrency from many
// threads (TSan target), preemption, cancellation, n > 1, stop strings, logprobs and metrics.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <thread>

#include "tokenizer/builtin.h"
#include "util/fake_config.h"

namespace autoglm {
namespace {

constexpr int32_t kImageToken = 500;
constexpr int64_t kVocab = 512;

Glm4vConfig fake_config() {
    return testing::fake_glm4v_config(kVocab, kImageToken - 1);
}

// The value a token contributes: its id, or for an image token its image's content and offset.
int64_t token_value(const Request& r, int64_t j) {
    for (const ImageInput& im : r.images)
        if (j >= im.token_offset && j < im.token_offset + im.num_tokens)
            return static_cast<int64_t>(
                       (im.content_hash + static_cast<uint64_t>(j - im.token_offset)) % 1000003) +
                   100000;
    return r.token_at(j);
}

int32_t next_token(const std::vector<int64_t>& context) {
    uint64_t h = 1469598103934665603ull;
    for (int64_t v : context) h = (h ^ static_cast<uint64_t>(v)) * 1099511628211ull;
    return static_cast<int32_t>(1 + (h >> 17) % 300);
}

class FakeExecutor final : public ModelExecutor {
  public:
    FakeExecutor(int64_t num_blocks, int64_t block_size)
        : block_size_(block_size), slots_(static_cast<size_t>(num_blocks * block_size), -1) {}

    StepOutput execute(const StepPlan& plan) override {
        StepOutput out;
        for (size_t ci = 0; ci < plan.chunks.size(); ++ci) {
            Request& r = *plan.chunks[ci].request;
            const int64_t end = r.num_computed_tokens + plan.chunks[ci].num_new_tokens;
            for (int64_t j = r.num_computed_tokens; j < end; ++j)
                slots_[slot(r, j)] = token_value(r, j);
            r.num_computed_tokens = end;
            if (end != r.num_tokens()) continue;
            std::vector<int64_t> context;
            for (int64_t j = 0; j < end; ++j) context.push_back(slots_[slot(r, j)]);
            const int32_t next = next_token(context);
            const size_t row = out.logits.size();
            out.logits.resize(row + kVocab);
            for (int64_t v = 0; v < kVocab; ++v)  // a peak at `next`, a slope elsewhere
                out.logits[row + static_cast<size_t>(v)] =
                    v == next ? 6.0f : -0.01f * static_cast<float>((v * 7 + next) % 97);
            out.sampling_chunks.push_back(static_cast<int32_t>(ci));
        }
        ++num_steps;
        if (step_delay.count() > 0) std::this_thread::sleep_for(step_delay);
        out.forward_seconds = forward_seconds;
        if (device_timing) pending_.push_back(0.002);
        return out;
    }
    void collect_device_seconds(DeviceSeconds& out) override {
        out.forward = std::move(pending_);
        out.forward_all = true;
        pending_.clear();
    }
    void release(const Request&) override {}
    // Image encodes that finish after `encode_polls` readiness checks (a GPU encoding beside
    // the steps); wait_for_images finishes them at once.
    bool images_ready(const Request& r, int64_t from) override {
        const bool has = std::any_of(r.images.begin(), r.images.end(), [&](const ImageInput& im) {
            return im.token_offset + im.num_tokens > from;
        });
        if (!has || encode_polls == 0) return true;
        return ++polls[r.id] > encode_polls;
    }
    void wait_for_images(const Request& r, int64_t) override {
        ++waits;
        polls[r.id] = encode_polls;
    }
    int64_t encode_polls = 0;
    std::map<int64_t, int64_t> polls;  // request id -> readiness checks so far
    int64_t waits = 0;
    double forward_seconds = -1;  // >= 0: a synchronous backend's forward time, in StepOutput
    bool device_timing = false;   // 2 ms a forward, reported later (an asynchronous backend)
    int64_t vocab_size() const override { return kVocab; }
    int64_t num_steps = 0;
    std::chrono::microseconds step_delay{0};  // a slower "GPU", for tests that race the engine

  private:
    size_t slot(const Request& r, int64_t j) const {
        return static_cast<size_t>(
            r.block_table.at(static_cast<size_t>(j / block_size_)) * block_size_ + j % block_size_);
    }
    int64_t block_size_;
    std::vector<int64_t> slots_;
    std::vector<double> pending_;
};

// What a request gives alone: the fake's rule applied to the growing sequence.
std::vector<int32_t> reference(const Request& prompt, int64_t num_new) {
    std::vector<int64_t> context;
    for (int64_t j = 0; j < prompt.num_tokens(); ++j) context.push_back(token_value(prompt, j));
    std::vector<int32_t> out;
    for (int64_t i = 0; i < num_new; ++i) {
        out.push_back(next_token(context));
        context.push_back(out.back());
    }
    return out;
}

struct Collected {
    std::vector<std::vector<int32_t>> ids;
    std::vector<std::string> text;
    std::vector<std::optional<FinishReason>> finish;
    std::vector<StopReason> stop_reason;
    std::vector<std::vector<SampleResult>> logprobs;
    EngineUsage usage;
    bool finished = false;
    int64_t num_items = 0;
};

// Reads a handle's outputs until the request finishes (or 30 s pass).
Collected collect(RequestHandle& h, int32_t n = 1) {
    Collected c;
    c.ids.resize(static_cast<size_t>(n));
    c.text.resize(static_cast<size_t>(n));
    c.finish.resize(static_cast<size_t>(n));
    c.stop_reason.resize(static_cast<size_t>(n));
    c.logprobs.resize(static_cast<size_t>(n));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!c.finished && std::chrono::steady_clock::now() < deadline) {
        auto item = h.outputs().pop(std::chrono::milliseconds(100));
        if (!item) continue;
        ++c.num_items;
        const auto i = static_cast<size_t>(item->index);
        c.ids[i].insert(c.ids[i].end(), item->token_ids.begin(), item->token_ids.end());
        c.text[i] += item->text;
        c.logprobs[i].insert(c.logprobs[i].end(), item->logprobs.begin(), item->logprobs.end());
        if (item->finish_reason)
            c.finish[i] = item->finish_reason, c.stop_reason[i] = item->stop_reason;
        if (item->request_finished) c.finished = true, c.usage = item->usage;
    }
    return c;
}

// Synchronous driving: steps until every request finished.
void drain(Engine& e) {
    for (int i = 0; i < 100000 && e.num_unfinished() > 0; ++i) e.step();
}

struct Rig {
    explicit Rig(int32_t num_blocks = 64, int32_t block_size = 4, int64_t max_model_len = 128,
                 const Tokenizer* tok = nullptr, SchedulerConfig sched = {32, 8},
                 int64_t max_queued = 0)
        : config(fake_config()),
          executor(num_blocks, block_size),
          engine({sched, num_blocks, block_size, max_model_len, max_queued}, config, executor, tok,
                 {2}) {}
    Glm4vConfig config;
    FakeExecutor executor;
    Engine engine;
};

std::shared_ptr<RequestHandle> submit_ok(Engine& e, GenerationInput in) {
    auto r = e.submit(std::move(in));
    if (auto* f = std::get_if<SubmitFailure>(&r)) {
        ADD_FAILURE() << f->message;
        return nullptr;
    }
    return std::get<std::shared_ptr<RequestHandle>>(r);
}

GenerationInput greedy(std::vector<int32_t> prompt, int64_t max_tokens) {
    GenerationInput in;
    in.prompt_ids = std::move(prompt);
    in.params.temperature = 0;
    in.params.max_tokens = max_tokens;
    in.params.ignore_eos = true;
    return in;
}

std::vector<int32_t> random_prompt(std::mt19937& gen, size_t n, int32_t base = 0) {
    std::vector<int32_t> v(n);
    for (auto& x : v) x = base + static_cast<int32_t>(3 + gen() % 400);
    return v;
}

TEST(Engine, SingleRequestStreamsTheReferenceAndFreesItsBlocks) {
    Rig rig;
    std::mt19937 gen(1);
    const auto prompt = random_prompt(gen, 21);
    auto h = submit_ok(rig.engine, greedy(prompt, 10));
    ASSERT_TRUE(h);
    drain(rig.engine);
    const Collected c = collect(*h);
    ASSERT_TRUE(c.finished);
    EXPECT_EQ(c.ids[0], reference(Request::make(0, prompt), 10));
    EXPECT_EQ(c.finish[0], FinishReason::kLength);
    EXPECT_EQ(c.num_items, 10);  // one output per token
    EXPECT_EQ(c.usage.prompt_tokens, 21);
    EXPECT_EQ(c.usage.completion_tokens, 10);
    EXPECT_TRUE(h->outputs().closed_and_drained());
    EXPECT_EQ(rig.engine.kv_cache().pool().usage(), 0.0);
    EXPECT_TRUE(rig.engine.kv_cache().check_invariants().ok());
}

TEST(Engine, SubmitRejectsBadInputWithTheRightKind) {
    Rig rig(/*num_blocks=*/64, 4, /*max_model_len=*/32);
    const auto kind = [&](GenerationInput in) {
        auto r = rig.engine.submit(std::move(in));
        return std::holds_alternative<SubmitFailure>(r) ? std::get<SubmitFailure>(r).kind
                                                        : static_cast<SubmitError>(-1);
    };
    EXPECT_EQ(kind(greedy({}, 4)), SubmitError::kInvalid);
    EXPECT_EQ(kind(greedy({1, 2, static_cast<int32_t>(kVocab)}, 4)), SubmitError::kInvalid);
    EXPECT_EQ(kind(greedy({1, kImageToken, 3}, 4)), SubmitError::kInvalid);  // no image given
    GenerationInput bad_temp = greedy({1, 2}, 4);
    bad_temp.params.temperature = -1;
    EXPECT_EQ(kind(bad_temp), SubmitError::kInvalid);
    EXPECT_EQ(kind(greedy(std::vector<int32_t>(32, 7), 1)), SubmitError::kTooLong);
    auto r = rig.engine.submit(greedy(std::vector<int32_t>(20, 7), 13));
    ASSERT_TRUE(std::holds_alternative<SubmitFailure>(r));
    EXPECT_EQ(std::get<SubmitFailure>(r).message,
              "This model's maximum context length is 32 tokens. However, you requested 33 "
              "tokens (20 in the messages, 13 in the completion). Please reduce the length of "
              "the messages or completion.");
    rig.engine.stop();
    EXPECT_EQ(kind(greedy({1, 2}, 4)), SubmitError::kShutdown);
}

TEST(Engine, QueueLimitRefusesBeyondMaxQueuedRequests) {
    Rig rig(64, 4, 128, nullptr, {32, 8}, /*max_queued=*/2);
    auto a = submit_ok(rig.engine, greedy({1, 2, 3}, 2));
    auto b = submit_ok(rig.engine, greedy({4, 5, 6}, 2));
    auto c = rig.engine.submit(greedy({7, 8, 9}, 2));
    ASSERT_TRUE(std::holds_alternative<SubmitFailure>(c));
    EXPECT_EQ(std::get<SubmitFailure>(c).kind, SubmitError::kQueueFull);
    drain(rig.engine);
    EXPECT_TRUE(submit_ok(rig.engine, greedy({7, 8, 9}, 2)));  // room again
}

TEST(Engine, WithoutMaxTokensStopsAtTheContextLimit) {
    Rig rig(64, 4, /*max_model_len=*/20);
    GenerationInput in = greedy(std::vector<int32_t>(15, 9), 1);
    in.params.max_tokens.reset();
    auto h = submit_ok(rig.engine, std::move(in));
    drain(rig.engine);
    const Collected c = collect(*h);
    EXPECT_EQ(c.ids[0].size(), 5u);
    EXPECT_EQ(c.finish[0], FinishReason::kLength);
}

TEST(Engine, EosStopsUnlessIgnored) {
    Rig rig;
    // Find a prompt whose greedy path meets the eos id 2 early: make the fake's first output 2
    // by searching prompts.
    std::mt19937 gen(3);
    std::vector<int32_t> prompt;
    for (int tries = 0; tries < 100000; ++tries) {
        prompt = random_prompt(gen, 5);
        if (reference(Request::make(0, prompt), 1)[0] == 2) break;
    }
    ASSERT_EQ(reference(Request::make(0, prompt), 1)[0], 2);
    GenerationInput in = greedy(prompt, 5);
    in.params.ignore_eos = false;
    auto stopped = submit_ok(rig.engine, in);
    in.params.ignore_eos = true;
    auto ignored = submit_ok(rig.engine, in);
    drain(rig.engine);
    const Collected a = collect(*stopped), b = collect(*ignored);
    EXPECT_EQ(a.ids[0], std::vector<int32_t>{2});
    EXPECT_EQ(a.finish[0], FinishReason::kStop);
    EXPECT_TRUE(std::holds_alternative<std::monostate>(a.stop_reason[0]));
    EXPECT_EQ(b.ids[0].size(), 5u);
}

TEST(Engine, CancelReturnsEveryBlockAtTheNextStep) {
    Rig rig(/*num_blocks=*/32, 4);
    std::mt19937 gen(2);
    auto a = submit_ok(rig.engine, greedy(random_prompt(gen, 30), 60));
    auto b = submit_ok(rig.engine, greedy(random_prompt(gen, 9), 60));
    for (int i = 0; i < 5; ++i) rig.engine.step();
    EXPECT_GT(rig.engine.kv_cache().pool().usage(), 0.0);
    a->cancel();
    b->cancel();
    rig.engine.step();
    EXPECT_EQ(rig.engine.num_unfinished(), 0);
    EXPECT_EQ(rig.engine.kv_cache().pool().usage(), 0.0);
    EXPECT_EQ(rig.engine.kv_cache().pool().num_free_blocks(), 32);
    EXPECT_TRUE(rig.engine.kv_cache().check_invariants().ok());
    const Collected ca = collect(*a);
    EXPECT_TRUE(ca.finished);
    EXPECT_EQ(ca.finish[0], FinishReason::kAbort);
    EXPECT_LT(ca.ids[0].size(), 60u);
    EXPECT_EQ(rig.engine.metrics().finished_abort.load(), 2u);
}

TEST(Engine, ParallelSamplesShareThePromptBlocks) {
    Rig rig(/*num_blocks=*/64, 4);
    std::mt19937 gen(4);
    const auto prompt = random_prompt(gen, 40);
    GenerationInput in = greedy(prompt, 6);
    in.params.n = 3;
    auto h = submit_ok(rig.engine, in);
    drain(rig.engine);
    const Collected c = collect(*h, 3);
    ASSERT_TRUE(c.finished);
    const auto want = reference(Request::make(0, prompt), 6);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(c.ids[static_cast<size_t>(i)], want) << i;
    // The two siblings found 9 of the prompt's 10 blocks (the last prompt token always runs).
    EXPECT_EQ(rig.engine.kv_cache().pool().stats().num_hit_tokens, 2u * 36u);
    EXPECT_EQ(c.usage.completion_tokens, 18);
    EXPECT_EQ(c.usage.prompt_tokens, 40);
}

TEST(Engine, SeededSamplingIgnoresBatchCompanyAndSiblingsDiffer) {
    std::mt19937 gen(6);
    const auto prompt = random_prompt(gen, 12);
    GenerationInput in = greedy(prompt, 12);
    in.params.temperature = 1.5f;
    in.params.seed = 1234;
    in.params.n = 2;
    Rig alone;
    auto h = submit_ok(alone.engine, in);
    drain(alone.engine);
    const Collected a = collect(*h, 2);
    Rig crowded;
    std::vector<std::shared_ptr<RequestHandle>> others;
    for (int i = 0; i < 5; ++i)
        others.push_back(submit_ok(crowded.engine, greedy(random_prompt(gen, 7), 20)));
    auto h2 = submit_ok(crowded.engine, in);
    drain(crowded.engine);
    const Collected b = collect(*h2, 2);
    EXPECT_EQ(a.ids, b.ids);
    EXPECT_NE(a.ids[0], a.ids[1]);  // seed + 0 and seed + 1
}

TEST(Engine, ImagesKeyThePrefixCacheByContent) {
    Rig rig(/*num_blocks=*/64, 4);
    auto px = [](float fill) {
        auto p = std::make_shared<Glm4vProcessedImage>();
        p->grid_h = 4, p->grid_w = 4, p->num_tokens = 4, p->patch_dim = 2;
        p->pixel_values.assign(32, fill);
        return p;
    };
    const std::vector<int32_t> prompt = {5, 6, 7, 499, kImageToken, 501, 8, 9, 10, 11, 12, 13};
    GenerationInput a = greedy(prompt, 4), b = greedy(prompt, 4), c = greedy(prompt, 4);
    a.images = {{px(1.0f)}};
    b.images = {{px(1.0f)}};  // same pixels: hits a's blocks
    c.images = {{px(2.0f)}};  // other pixels, same token ids: must not hit
    auto ha = submit_ok(rig.engine, a);
    drain(rig.engine);
    auto hb = submit_ok(rig.engine, b);
    drain(rig.engine);
    const uint64_t hits_after_b = rig.engine.kv_cache().pool().stats().num_hit_tokens;
    auto hc = submit_ok(rig.engine, c);
    drain(rig.engine);
    const Collected ra = collect(*ha), rb = collect(*hb), rc = collect(*hc);
    EXPECT_EQ(ra.ids[0], rb.ids[0]);
    EXPECT_NE(ra.ids[0], rc.ids[0]);
    EXPECT_EQ(rb.usage.cached_tokens, 12);  // 3 full blocks of the 15-token prompt
    EXPECT_EQ(hits_after_b, 12u);
    EXPECT_EQ(rc.usage.cached_tokens, 4);  // only the block before the image
}

std::shared_ptr<Glm4vProcessedImage> flat_image(float fill) {
    auto p = std::make_shared<Glm4vProcessedImage>();
    p->grid_h = 4, p->grid_w = 4, p->num_tokens = 4, p->patch_dim = 2;
    p->pixel_values.assign(32, fill);
    return p;
}

// An image request waits in the queue while its encode runs; a running request keeps decoding
// meanwhile, and the engine blocks on the encode only when nothing else can run. The outputs
// are those of a backend that encodes at once.
TEST(Engine, ImageEncodesRunBesideDecodes) {
    // 2: the encode finishes between the scheduler's question and the engine's wait.
    std::vector<std::vector<int32_t>> outputs[3];
    int64_t waits[3] = {0, 0, 0};
    for (const int64_t polls : {0, 2, 3}) {
        const size_t k = polls == 0 ? 0 : polls == 2 ? 1 : 2;
        Rig rig(/*num_blocks=*/64, 4);
        rig.executor.encode_polls = polls;
        auto text = submit_ok(rig.engine, greedy({5, 6, 7, 8, 9}, 12));
        rig.engine.step();  // the text request is running
        GenerationInput a = greedy({5, 6, 499, kImageToken, 501, 8, 9}, 4);
        a.images = {{flat_image(1.0f)}};
        auto ha = submit_ok(rig.engine, a);
        drain(rig.engine);
        GenerationInput b = greedy({5, 6, 499, kImageToken, 501, 8, 9}, 4);
        b.images = {{flat_image(2.0f)}};
        auto hb = submit_ok(rig.engine, b);  // alone: the engine has to wait for its encode
        drain(rig.engine);
        for (auto* h : {&text, &ha, &hb}) {
            const Collected c = collect(**h);
            ASSERT_TRUE(c.finished);
            outputs[k].push_back(c.ids[0]);
        }
        waits[k] = rig.executor.waits;
    }
    EXPECT_EQ(outputs[0], outputs[1]);
    EXPECT_EQ(outputs[0], outputs[2]);
    EXPECT_EQ(waits[0], 0);
    EXPECT_EQ(waits[1], 1);  // only for the request that came alone
    EXPECT_EQ(waits[2], 1);
}

TEST(Engine, StopStringsAndTextDeltas) {
    const auto tok = make_demo_tokenizer();
    Rig rig(64, 4, 128, tok.get());
    std::mt19937 gen(7);
    const auto prompt = random_prompt(gen, 10);
    const auto ids = reference(Request::make(0, prompt), 12);
    const std::string full = tok->decode(ids);
    GenerationInput plain = greedy(prompt, 12);
    auto h1 = submit_ok(rig.engine, plain);
    // A stop string from the middle of the text, spanning a token boundary.
    const std::string text_to_5 = tok->decode(std::vector<int32_t>(ids.begin(), ids.begin() + 5));
    const std::string stop = full.substr(text_to_5.size() - 2, 4);
    GenerationInput stopped = greedy(prompt, 12);
    stopped.params.stop = {stop};
    auto h2 = submit_ok(rig.engine, stopped);
    drain(rig.engine);
    const Collected a = collect(*h1), b = collect(*h2);
    EXPECT_EQ(a.text[0], full);
    EXPECT_EQ(b.finish[0], FinishReason::kStop);
    EXPECT_EQ(std::get<std::string>(b.stop_reason[0]), stop);
    EXPECT_EQ(b.text[0], full.substr(0, full.find(stop)));
}

TEST(Engine, LogprobsCarryTheChosenTokenAndAlternatives) {
    Rig rig;
    GenerationInput in = greedy({10, 20, 30}, 3);
    in.params.logprobs = 2;
    auto h = submit_ok(rig.engine, in);
    drain(rig.engine);
    const Collected c = collect(*h);
    ASSERT_EQ(c.logprobs[0].size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(c.logprobs[0][i].token_id, c.ids[0][i]);
        EXPECT_EQ(c.logprobs[0][i].rank, 1);
        ASSERT_EQ(c.logprobs[0][i].top_logprobs.size(), 2u);
        EXPECT_EQ(c.logprobs[0][i].top_logprobs[0].token_id, c.ids[0][i]);
        EXPECT_LT(c.logprobs[0][i].logprob, 0.0f);
    }
}

// The TSan target: 8 client threads submit 48 requests (shared prefixes, a pool too small for
// all) while the engine thread runs; every output equals the single-run reference.
TEST(Engine, ConcurrentClientsThroughATinyPoolGetTheReference) {
    Rig rig(/*num_blocks=*/40, 4, /*max_model_len=*/96, nullptr, {24, 16});
    rig.engine.start();
    std::vector<std::thread> clients;
    std::atomic<int> mismatches{0}, failures{0};
    for (int t = 0; t < 8; ++t) {
        clients.emplace_back([&, t] {
            std::mt19937 gen(100 + t);
            const std::vector<int32_t> shared = random_prompt(gen, 20);
            for (int i = 0; i < 6; ++i) {
                std::vector<int32_t> prompt = i % 2 ? shared : std::vector<int32_t>{};
                const auto tail = random_prompt(gen, 2 + gen() % 30);
                prompt.insert(prompt.end(), tail.begin(), tail.end());
                const int64_t n = 1 + static_cast<int64_t>(gen() % 24);
                auto r = rig.engine.submit(greedy(prompt, n));
                if (!std::holds_alternative<std::shared_ptr<RequestHandle>>(r)) {
                    ++failures;
                    continue;
                }
                auto h = std::get<std::shared_ptr<RequestHandle>>(r);
                if (i == 5) {  // cancel one per client mid-flight
                    h->cancel();
                    if (!collect(*h).finished) ++failures;
                    continue;
                }
                const Collected c = collect(*h);
                if (!c.finished || c.ids[0] != reference(Request::make(0, prompt), n)) ++mismatches;
            }
        });
    }
    for (auto& c : clients) c.join();
    rig.engine.stop();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(mismatches.load(), 0);
    const EngineMetrics& m = rig.engine.metrics();
    EXPECT_EQ(m.num_running.load(), 0);
    EXPECT_EQ(m.kv_cache_usage.load(), 0.0);
    EXPECT_GT(m.prefix_cache_hits.load(), 0u);
    EXPECT_EQ(m.e2e_request_latency.snapshot().count, 48u);
    EXPECT_EQ(m.finished_length.load() + m.finished_abort.load(), 48u);
    EXPECT_TRUE(rig.engine.kv_cache().check_invariants().ok());
}

TEST(Engine, PreemptionUnderATinyPoolKeepsOutputsExact) {
    Rig rig(/*num_blocks=*/12, 4, /*max_model_len=*/48, nullptr, {64, 8});
    std::mt19937 gen(9);
    std::vector<std::pair<std::vector<int32_t>, std::shared_ptr<RequestHandle>>> reqs;
    for (int i = 0; i < 6; ++i) {
        auto prompt = random_prompt(gen, 6 + gen() % 10);
        reqs.emplace_back(prompt, submit_ok(rig.engine, greedy(prompt, 16)));
    }
    drain(rig.engine);
    EXPECT_GT(rig.engine.metrics().preemptions.load(), 0u);
    for (auto& [prompt, h] : reqs)
        EXPECT_EQ(collect(*h).ids[0], reference(Request::make(0, prompt), 16));
    EXPECT_EQ(rig.engine.kv_cache().pool().usage(), 0.0);
}

TEST(Engine, MetricsCountRequestsAndTokens) {
    Rig rig;
    auto a = submit_ok(rig.engine, greedy({1, 2, 3, 4, 5}, 4));
    auto b = submit_ok(rig.engine, greedy({6, 7, 8}, 2));
    drain(rig.engine);
    const EngineMetrics& m = rig.engine.metrics();
    EXPECT_EQ(m.prompt_tokens.load(), 8u);
    EXPECT_EQ(m.generation_tokens.load(), 6u);
    EXPECT_EQ(m.finished_length.load(), 2u);
    EXPECT_EQ(m.time_to_first_token.snapshot().count, 2u);
    EXPECT_EQ(m.inter_token_latency.snapshot().count, 4u);  // tokens after each first
    EXPECT_EQ(m.request_queue_time.snapshot().count, 2u);
    EXPECT_EQ(m.e2e_request_latency.snapshot().count, 2u);
    EXPECT_EQ(m.prefix_cache_queries.load(), 8u);
}

TEST(Engine, EveryStepIsTimedAndItsTokensCounted) {
    for (const bool device : {false, true}) {
        Rig rig;
        if (device)
            rig.executor.device_timing = true;
        else
            rig.executor.forward_seconds = 0.003;
        auto a = submit_ok(rig.engine, greedy({1, 2, 3, 4, 5}, 4));
        auto b = submit_ok(rig.engine, greedy({6, 7, 8}, 2));
        drain(rig.engine);
        const EngineMetrics& m = rig.engine.metrics();
        const auto steps = static_cast<uint64_t>(rig.executor.num_steps);
        const Histogram::Snapshot tokens = m.iteration_tokens.snapshot();
        EXPECT_EQ(tokens.count, steps);
        // Both prompts (8 tokens) in the first step, then every output token but each last.
        EXPECT_EQ(tokens.sum, 8.0 + 3.0 + 1.0);
        EXPECT_EQ(tokens.cumulative_counts[1], steps) << "no step ran more than 8 tokens";
        const StepPhaseHistograms& h = m.step_phases;
        for (const Histogram* all_steps :
             {&h.schedule, &h.prepare, &h.output, &h.total, &h.forward, &h.gap})
            EXPECT_EQ(all_steps->snapshot().count, steps);
        EXPECT_EQ(h.vision.snapshot().count, 0u);  // no images
        EXPECT_NEAR(h.forward.snapshot().sum, (device ? 0.002 : 0.003) * steps, 1e-9);
        EXPECT_LE(h.gap.snapshot().sum, h.total.snapshot().sum);
    }
}

TEST(Engine, StopAbortsUnfinishedRequests) {
    Rig rig;
    rig.executor.step_delay = std::chrono::milliseconds(5);  // 100 tokens take 0.5 s
    rig.engine.start();
    auto h = submit_ok(rig.engine, greedy({1, 2, 3}, 100));
    h->outputs().pop(std::chrono::seconds(5));  // at least one token out
    rig.engine.stop();
    const Collected c = collect(*h);
    EXPECT_TRUE(c.finished);
    EXPECT_EQ(c.finish[0], FinishReason::kAbort);
}

}  // namespace
}  // namespace autoglm
