// The engine's device-sampling path with a fake backend that keeps its logits "on the device":
// steps whose rows the Sampler would only truncate and draw from go to sample_on_device (here
// the CPU Sampler's stages), the others fetch the logits and use the host Sampler, and a seeded
// request gives the same tokens either way.
#include <gtest/gtest.h>

#include <random>

#include "engine/engine.h"
#include "util/fake_config.h"

namespace autoglm {
namespace {

constexpr int64_t kVocab = 256;
constexpr int32_t kEos = 7;

Glm4vConfig small_config() {
    return testing::fake_glm4v_config(kVocab, 250);  // image/video ids 250..255
}

// Broad logits from the whole sequence so far (many plausible tokens, so draws differ).
std::vector<float> logits_for(const Request& r) {
    uint64_t h = 1469598103934665603ull;
    for (const int32_t t : r.token_ids) h = (h ^ static_cast<uint64_t>(t)) * 1099511628211ull;
    std::mt19937_64 gen(h);
    std::normal_distribution<float> dist(0.0f, 2.0f);
    std::vector<float> v(kVocab);
    for (float& x : v) x = dist(gen);
    return v;
}

// With `device`, execute() leaves the logits out of StepOutput: only fetch_logits fills them.
class LogitsExecutor final : public ModelExecutor {
  public:
    explicit LogitsExecutor(bool device) : device_(device) {}

    StepOutput execute(const StepPlan& plan) override {
        StepOutput out;
        logits_.clear();
        for (size_t ci = 0; ci < plan.chunks.size(); ++ci) {
            Request& r = *plan.chunks[ci].request;
            r.num_computed_tokens += plan.chunks[ci].num_new_tokens;
            if (r.num_computed_tokens != r.num_tokens()) continue;
            const std::vector<float> row = logits_for(r);
            logits_.insert(logits_.end(), row.begin(), row.end());
            out.sampling_chunks.push_back(static_cast<int32_t>(ci));
        }
        if (!device_) out.logits = logits_;
        return out;
    }
    void fetch_logits(StepOutput& out) override {
        if (!device_) return;
        ++num_fetches;
        out.logits = logits_;
    }
    bool has_device_sampler() const override { return device_; }
    bool sample_on_device(std::span<const DeviceSampleRow> rows, std::span<const LogitEdit> edits,
                          std::vector<int32_t>& ids) override {
        if (!device_) return false;
        EXPECT_EQ(rows.size() * kVocab, logits_.size());
        num_edits += static_cast<int64_t>(edits.size());
        std::vector<float> edited = logits_;
        apply_logit_edits(edited, kVocab, edits);
        ids.clear();
        for (size_t i = 0; i < rows.size(); ++i) {
            const DeviceSampleRow& p = rows[i];
            std::vector<float> x(edited.begin() + static_cast<ptrdiff_t>(i * kVocab),
                                 edited.begin() + static_cast<ptrdiff_t>((i + 1) * kVocab));
            if (p.temperature == 0.0f) {
                ids.push_back(argmax_first(x));
                continue;
            }
            apply_temperature(x, p.temperature);
            apply_min_p(x, p.min_p);
            apply_top_k(x, p.top_k);
            apply_top_p(x, p.top_p);
            ids.push_back(sample_inverse_cdf(x, p.u));
        }
        ++num_device_steps;
        num_device_rows += static_cast<int64_t>(rows.size());
        return true;
    }
    void release(const Request&) override {}
    int64_t vocab_size() const override { return kVocab; }

    int64_t num_device_steps = 0, num_device_rows = 0, num_fetches = 0, num_edits = 0;

  private:
    bool device_;
    std::vector<float> logits_;  // the last step's rows
};

GenerationInput sampled(int32_t first, int64_t max_tokens, int64_t seed) {
    GenerationInput in;
    for (int32_t i = 0; i < 9; ++i) in.prompt_ids.push_back(first + 3 * i);
    in.params.temperature = 0.8f;
    in.params.top_p = 0.9f;
    in.params.top_k = 50;
    in.params.seed = seed;
    in.params.max_tokens = max_tokens;
    in.params.ignore_eos = true;
    return in;
}

// Every request's ids, submitted together, run to the end on one engine.
std::vector<std::vector<int32_t>> run(LogitsExecutor& executor,
                                      const std::vector<GenerationInput>& inputs) {
    Engine engine({{256, 16}, 256, 4, 128}, small_config(), executor, nullptr, {kEos});
    std::vector<std::shared_ptr<RequestHandle>> handles;
    for (const GenerationInput& in : inputs) {
        auto r = engine.submit(in);
        EXPECT_TRUE(std::holds_alternative<std::shared_ptr<RequestHandle>>(r));
        handles.push_back(std::get<std::shared_ptr<RequestHandle>>(r));
    }
    for (int i = 0; i < 10000 && engine.num_unfinished() > 0; ++i) engine.step();
    std::vector<std::vector<int32_t>> ids;
    for (auto& h : handles) {
        ids.emplace_back();
        while (auto item = h->outputs().try_pop())
            ids.back().insert(ids.back().end(), item->token_ids.begin(), item->token_ids.end());
    }
    return ids;
}

TEST(DeviceSampling, EligibleStepsSampleOnTheDeviceWithTheHostsTokens) {
    std::vector<GenerationInput> inputs = {sampled(10, 12, 1), sampled(40, 9, 2)};
    inputs.push_back(sampled(70, 7, 3));
    inputs.back().params.temperature = 1.3f, inputs.back().params.min_p = 0.05f;
    inputs.back().params.top_k = 0;
    inputs.push_back(sampled(90, 5, 4));
    inputs.back().params.temperature = 0.0f;  // greedy rows go to the device too
    LogitsExecutor host(false), device(true);
    const auto want = run(host, inputs);
    const auto got = run(device, inputs);
    EXPECT_EQ(got, want);
    EXPECT_EQ(device.num_device_rows, 12 + 9 + 7 + 5);
    EXPECT_EQ(device.num_fetches, 0);
    EXPECT_NE(want[0], run(host, {sampled(10, 12, 99)})[0]) << "the seed must matter";
}

TEST(DeviceSampling, PenaltiesBiasAndMinTokensSampleOnTheDeviceWithTheHostsTokens) {
    const auto variants = [] {
        std::vector<GenerationInput> v(6, sampled(20, 6, 5));
        // Strong settings, so each one visibly changes the tokens (checked below).
        v[0].params.repetition_penalty = 0.2f;  // < 1 favours the prompt's ids
        v[1].params.frequency_penalty = -2.0f;  // < 0 favours repeats
        v[2].params.presence_penalty = -2.0f;
        v[3].params.logit_bias = {{21, 3.0f}, {100, -2.5f}, {33, 4.0f}};
        v[4].params.min_tokens = 4;  // eos (7) is favoured, and allowed from the 5th token on
        v[4].params.stop_token_ids = {9, 11, 100000};          // one outside the vocabulary
        v[4].params.logit_bias = {{kEos, 30.0f}, {9, 29.0f}};  // then 9 stops it: 5 tokens
        v[5].params.repetition_penalty = 0.5f, v[5].params.frequency_penalty = -1.0f;
        v[5].params.presence_penalty = 0.2f, v[5].params.min_tokens = 2;
        v[5].params.temperature = 0.0f;
        return v;
    }();
    for (size_t i = 0; i < variants.size(); ++i) {
        SCOPED_TRACE("variant " + std::to_string(i));
        LogitsExecutor host(false), device(true);
        const auto want = run(host, {variants[i]});
        EXPECT_EQ(run(device, {variants[i]}), want);
        EXPECT_EQ(device.num_device_rows, static_cast<int64_t>(want[0].size()));
        EXPECT_EQ(device.num_fetches, 0);
        EXPECT_GT(device.num_edits, 0);
        GenerationInput plain = variants[i];
        plain.params.repetition_penalty = 1.0f, plain.params.frequency_penalty = 0.0f;
        plain.params.presence_penalty = 0.0f, plain.params.logit_bias.clear();
        plain.params.min_tokens = 0;
        EXPECT_NE(run(host, {plain}), want) << "the adjustment must change the tokens";
    }
}

TEST(DeviceSampling, LogprobsAndARepeatedBiasIdUseTheHostSampler) {
    const auto variants = [] {
        std::vector<GenerationInput> v(2, sampled(20, 6, 5));
        v[0].params.logprobs = 0;
        v[1].params.logit_bias = {{21, 3.0f}, {21, 0.1f}};
        return v;
    }();
    for (const GenerationInput& in : variants) {
        LogitsExecutor host(false), device(true);
        EXPECT_EQ(run(device, {in}), run(host, {in}));
        EXPECT_EQ(device.num_device_rows, 0);
        EXPECT_EQ(device.num_fetches, 6);
    }
}

TEST(DeviceSampling, AMixedStepSamplesAllOnTheHost) {
    GenerationInput plain = sampled(50, 10, 7), with_logprobs = sampled(60, 4, 8);
    with_logprobs.params.logprobs = 2;
    LogitsExecutor host(false), device(true);
    EXPECT_EQ(run(device, {plain, with_logprobs}), run(host, {plain, with_logprobs}));
    // Both decode together for 4 steps (host); then the plain one alone (device).
    EXPECT_EQ(device.num_fetches, 4);
    EXPECT_EQ(device.num_device_rows, 6);
    EXPECT_EQ(device.num_device_steps, 6);
}

}  // namespace
}  // namespace autoglm
