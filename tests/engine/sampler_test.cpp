// Sampler: penalty arithmetic, truncation masks, greedy ties, seeded determinism across batches,
// sampling frequencies against softmax(logits / T), raw logprobs, and SamplingParams::validate.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "engine/sampler.h"

namespace autoglm {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

SamplerRow make_row(const std::vector<float>& logits, const SamplingParams& params,
                    uint64_t seed = 0, const std::vector<int32_t>& output = {},
                    const std::vector<int32_t>& prompt = {}) {
    return SamplerRow{logits, prompt, output, &params, seed};
}

// Logits whose softmax is exactly proportional to `probs`.
std::vector<float> log_of(const std::vector<double>& probs) {
    std::vector<float> logits;
    for (const double p : probs) logits.push_back(static_cast<float>(std::log(p)));
    return logits;
}

std::set<int32_t> support(const std::vector<double>& probs) {
    std::set<int32_t> ids;
    for (size_t i = 0; i < probs.size(); ++i) {
        if (probs[i] > 0) ids.insert(static_cast<int32_t>(i));
    }
    return ids;
}

TEST(Penalties, RepetitionDividesPositiveAndMultipliesNegative) {
    std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.0f, -1.0f, 3.0f};
    SamplingParams p;
    p.repetition_penalty = 2.0f;
    const std::vector<int32_t> prompt = {0, 3, 0}, output = {1, 1};
    apply_penalties(logits, prompt, output, p);
    // Seen tokens (prompt and output) once each, however often they occur.
    EXPECT_EQ(logits, (std::vector<float>{1.0f, -4.0f, 1.0f, 0.0f, -1.0f, 3.0f}));
}

TEST(Penalties, FrequencyAndPresenceSeeOutputOnly) {
    std::vector<float> logits = {1.5f, 0.7f, -0.3f, 2.0f};
    SamplingParams p;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    const std::vector<int32_t> prompt = {0, 0, 3}, output = {1, 2, 1, 1};
    apply_penalties(logits, prompt, output, p);
    EXPECT_EQ(logits[0], 1.5f);
    EXPECT_EQ(logits[1], (0.7f - 0.5f * 3.0f) - 0.25f);
    EXPECT_EQ(logits[2], (-0.3f - 0.5f * 1.0f) - 0.25f);
    EXPECT_EQ(logits[3], 2.0f);
}

TEST(Penalties, CombineInVllmOrder) {
    std::vector<float> logits = {3.0f, -1.0f, 0.5f};
    SamplingParams p;
    p.repetition_penalty = 1.5f;
    p.frequency_penalty = -0.4f;  // negative values encourage
    p.presence_penalty = 1.0f;
    const std::vector<int32_t> prompt = {2}, output = {0, 0, 1};
    apply_penalties(logits, prompt, output, p);
    EXPECT_EQ(logits[0], (3.0f / 1.5f - (-0.4f) * 2.0f) - 1.0f);
    EXPECT_EQ(logits[1], (-1.0f * 1.5f - (-0.4f) * 1.0f) - 1.0f);
    EXPECT_EQ(logits[2], 0.5f / 1.5f);  // prompt only: repetition but no frequency/presence
}

TEST(Penalties, GreedyIsArgmaxAfterPenaltiesFirstIndexOnTies) {
    const Sampler sampler({});
    SamplingParams p;
    p.temperature = 0.0f;
    const std::vector<float> tied = {1.0f, 5.0f, 2.0f, 5.0f};
    EXPECT_EQ(sampler.sample(make_row(tied, p)).token_id, 1);
    p.repetition_penalty = 2.0f;  // 5 / 2 = 2.5 for the seen token 1 -> token 3 wins
    EXPECT_EQ(sampler.sample(make_row(tied, p, 0, {1})).token_id, 3);
    EXPECT_EQ(sampler.distribution(make_row(tied, p, 0, {1})), (std::vector<double>{0, 0, 0, 1}));
}

TEST(MinTokens, MasksEosAndStopIdsUntilReached) {
    const Sampler sampler({3});
    SamplingParams p;
    p.temperature = 0.0f;
    p.min_tokens = 2;
    p.stop_token_ids = {4, 1000};  // out-of-vocabulary ids are ignored
    const std::vector<float> logits = {0.0f, 1.0f, 2.0f, 9.0f, 8.0f};
    const auto masked = sampler.process_logits(make_row(logits, p, 0, {0}));
    EXPECT_EQ(masked, (std::vector<float>{0.0f, 1.0f, 2.0f, -kInf, -kInf}));
    EXPECT_EQ(sampler.sample(make_row(logits, p, 0, {0})).token_id, 2);
    EXPECT_EQ(sampler.sample(make_row(logits, p, 0, {0, 0})).token_id, 3);
    p.ignore_eos = true;  // vLLM still masks the eos ids
    EXPECT_EQ(sampler.sample(make_row(logits, p, 0, {0})).token_id, 2);
}

// The edit form (what a device applies) gives apply_penalties + apply_min_tokens' exact bits,
// over random rows and settings: overlapping prompt/output ids, biases on penalized ids, eos and
// stop ids that coincide or lie outside the vocabulary, every sign of every penalty.
TEST(LogitEdits, EqualThePenaltyStagesBitForBit) {
    constexpr int64_t kVocab = 97;
    const std::vector<int32_t> eos = {5, 96};
    std::mt19937 gen(17);
    std::normal_distribution<float> value(0.0f, 3.0f);
    std::uniform_int_distribution<int32_t> token(0, kVocab - 1);
    const float reps[] = {1.0f, 1.3f, 0.8f}, pens[] = {0.0f, 0.5f, -0.7f};
    int64_t cases = 0, changed = 0;
    for (int trial = 0; trial < 400; ++trial) {
        SamplingParams p;
        p.repetition_penalty = reps[trial % 3];
        p.frequency_penalty = pens[(trial / 3) % 3];
        p.presence_penalty = pens[(trial / 9) % 3];
        p.min_tokens = trial % 4 == 0 ? 0 : trial % 7;
        if (trial % 5 == 0) p.stop_token_ids = {token(gen), 5, 1000};
        if (trial % 2 == 0) p.logit_bias = {{token(gen) % 90, value(gen)}, {96, -1.5f}};
        std::vector<int32_t> prompt(static_cast<size_t>(trial % 13)),
            output(static_cast<size_t>(trial % 11));
        for (int32_t& t : prompt) t = token(gen) % 40;  // overlaps the output's range
        for (int32_t& t : output) t = token(gen) % 50;
        const int rows = 3;
        std::vector<float> logits(static_cast<size_t>(rows * kVocab));
        for (float& x : logits) x = value(gen);
        logits[static_cast<size_t>(kVocab + 3)] = 0.0f;  // the repetition rule's boundary
        std::vector<float> want = logits, got = logits;
        const auto row1 = std::span<float>(want).subspan(kVocab, kVocab);
        apply_penalties(row1, prompt, output, p);
        apply_min_tokens(row1, static_cast<int64_t>(output.size()), p, eos);
        std::vector<LogitEdit> edits;
        ASSERT_TRUE(append_logit_edits(1, distinct_ids(prompt), output, p, eos, kVocab, edits));
        for (size_t i = 1; i < edits.size(); ++i) ASSERT_LT(edits[i - 1].token, edits[i].token);
        apply_logit_edits(got, kVocab, edits);
        ++cases;
        changed += want != logits;
        for (size_t i = 0; i < want.size(); ++i)
            ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
                << "trial " << trial << " index " << i << ": " << got[i] << " vs " << want[i];
    }
    EXPECT_GT(changed, cases / 2) << "most cases must edit something";
}

TEST(LogitEdits, ARepeatedBiasIdIsLeftToTheHost) {
    SamplingParams p;
    p.logit_bias = {{3, 1.0f}, {4, 2.0f}, {3, 0.5f}};
    std::vector<LogitEdit> edits(2);
    EXPECT_FALSE(append_logit_edits(0, {}, {}, p, {}, 10, edits));
    EXPECT_EQ(edits.size(), 2u) << "nothing appended";
    p.logit_bias.pop_back();
    EXPECT_TRUE(append_logit_edits(0, {}, {}, p, {}, 10, edits));
    EXPECT_EQ(edits.size(), 4u);
}

TEST(Truncation, TemperatureScalesLogits) {
    const Sampler sampler({});
    SamplingParams p;
    p.temperature = 0.5f;
    const std::vector<float> logits = {1.0f, 2.0f, 0.5f};
    const auto probs = sampler.distribution(make_row(logits, p));
    double total = 0;
    for (const float x : logits) total += std::exp(x / 0.5);
    for (size_t i = 0; i < logits.size(); ++i)
        EXPECT_NEAR(probs[i], std::exp(logits[i] / 0.5) / total, 1e-7);
    p.temperature = 0.001f;  // raised to 0.01 like vLLM, and still random sampling
    EXPECT_EQ(p.effective_temperature(), kMinTemperature);
    EXPECT_FALSE(p.is_greedy());
}

TEST(Truncation, TopKKeepsTiesAtTheThreshold) {
    const Sampler sampler({});
    SamplingParams p;
    p.top_k = 2;
    EXPECT_EQ(support(sampler.distribution(make_row({1.0f, 4.0f, 2.0f, 3.0f}, p))),
              (std::set<int32_t>{1, 3}));
    EXPECT_EQ(support(sampler.distribution(make_row({1.0f, 4.0f, 3.0f, 3.0f}, p))),
              (std::set<int32_t>{1, 2, 3}));
    p.top_k = -1;
    EXPECT_EQ(support(sampler.distribution(make_row({1.0f, 4.0f, 3.0f, 3.0f}, p))).size(), 4u);
}

TEST(Truncation, TopPKeepsSmallestPrefixReachingP) {
    const Sampler sampler({});
    SamplingParams p;
    const auto logits = log_of({0.15, 0.5, 0.05, 0.3});
    p.top_p = 0.75f;
    const auto probs = sampler.distribution(make_row(logits, p));
    EXPECT_EQ(support(probs), (std::set<int32_t>{1, 3}));
    EXPECT_NEAR(probs[1], 0.5 / 0.8, 1e-6);  // renormalized over the kept tokens
    p.top_p = 0.85f;
    EXPECT_EQ(support(sampler.distribution(make_row(logits, p))), (std::set<int32_t>{0, 1, 3}));
    p.top_p = 0.01f;  // always at least the top token
    EXPECT_EQ(support(sampler.distribution(make_row(logits, p))), (std::set<int32_t>{1}));
}

TEST(Truncation, TopPOverALargeVocabularyWidensItsSearch) {
    std::vector<float> logits(5000, 0.0f);  // uniform: top_p 0.5 keeps the 2500 lowest ids
    std::vector<float> masked = logits;
    apply_top_p(masked, 0.5f);
    int kept = 0;
    for (size_t i = 0; i < masked.size(); ++i) {
        if (masked[i] == 0.0f) {
            ++kept;
            EXPECT_LT(i, 2500u);
        }
    }
    EXPECT_EQ(kept, 2500);
}

TEST(Truncation, TopKRenormalizesBeforeTopP) {
    const Sampler sampler({});
    SamplingParams p;
    p.top_k = 2;
    p.top_p = 0.5f;
    // After top_k: {4/7, 3/7}; the mass before token 1 is 4/7 >= 0.5, so only token 0 stays.
    // (top_p alone would keep token 1 as well: its preceding mass is 0.4.)
    EXPECT_EQ(support(sampler.distribution(make_row(log_of({0.4, 0.3, 0.2, 0.1}), p))),
              (std::set<int32_t>{0}));
}

TEST(Truncation, MinPIsRelativeToTopAndFollowsTemperature) {
    const Sampler sampler({});
    SamplingParams p;
    p.min_p = 0.2f;  // threshold 0.2 * 0.5 = 0.1
    const auto logits = log_of({0.5, 0.3, 0.15, 0.05});
    EXPECT_EQ(support(sampler.distribution(make_row(logits, p))), (std::set<int32_t>{0, 1, 2}));
    p.temperature = 2.0f;  // flatter: sqrt(0.05 / 0.5) = 0.32 > 0.2, everything stays
    EXPECT_EQ(support(sampler.distribution(make_row(logits, p))).size(), 4u);
}

TEST(Truncation, SampledTokensStayInsideTheKeptSet) {
    const Sampler sampler({});
    SamplingParams p;
    p.top_k = 5;
    p.top_p = 0.9f;
    p.min_p = 0.05f;
    std::vector<float> logits(64);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i)) * 3;
    const auto allowed = support(sampler.distribution(make_row(logits, p)));
    ASSERT_GE(allowed.size(), 2u);
    std::set<int32_t> seen;
    for (uint64_t seed = 0; seed < 2000; ++seed)
        seen.insert(sampler.sample(make_row(logits, p, seed)).token_id);
    EXPECT_EQ(seen, allowed);
}

TEST(Seeds, SameSeedSameTokensOtherSeedsDiffer) {
    const Sampler sampler({});
    SamplingParams p;
    const std::vector<float> logits(100, 0.0f);
    const auto generate = [&](uint64_t seed) {
        std::vector<int32_t> output;
        for (int step = 0; step < 40; ++step)
            output.push_back(sampler.sample(make_row(logits, p, seed, output)).token_id);
        return output;
    };
    EXPECT_EQ(generate(7), generate(7));
    EXPECT_NE(generate(7), generate(8));
    EXPECT_EQ(make_request_seed(42), 42u);
    EXPECT_NE(make_request_seed(std::nullopt), make_request_seed(std::nullopt));
    for (uint64_t step = 0; step < 1000; ++step) {
        const double u = counter_uniform(3, step);
        EXPECT_TRUE(u >= 0.0 && u < 1.0);
    }
}

TEST(Seeds, BatchMatesAndOrderDoNotMatter) {
    const Sampler sampler({});
    SamplingParams a, b;
    a.temperature = 0.9f;
    b.top_k = 3;
    std::vector<float> logits_a(50), logits_b(50);
    for (size_t i = 0; i < 50; ++i) {
        logits_a[i] = std::cos(static_cast<float>(i));
        logits_b[i] = static_cast<float>(i % 7);
    }
    const std::vector<int32_t> out_a = {1, 2}, out_b = {};
    const SamplerRow ra{logits_a, {}, out_a, &a, 11}, rb{logits_b, {}, out_b, &b, 12};
    for (uint64_t s = 0; s < 20; ++s) {
        SamplerRow rs{logits_a, {}, out_b, &b, s};
        const std::vector<SamplerRow> batch1 = {ra, rb, rs}, batch2 = {rs, rb, ra};
        const auto r1 = sampler.sample_batch(batch1), r2 = sampler.sample_batch(batch2);
        EXPECT_EQ(r1[0].token_id, r2[2].token_id);
        EXPECT_EQ(r1[0].token_id, sampler.sample(ra).token_id);
        EXPECT_EQ(r1[1].token_id, r2[1].token_id);
    }
}

// Pearson's chi-square over 20000 fixed-seed draws; df = 7, so 40 is far in the tail
// (p < 1e-5) while a wrong temperature or an off-by-one CDF gives thousands.
TEST(Seeds, FrequenciesFollowSoftmaxOverTemperature) {
    const Sampler sampler({});
    SamplingParams p;
    p.temperature = 0.7f;
    const std::vector<float> logits = {0.1f, 1.2f, -0.5f, 0.8f, 2.0f, -1.5f, 0.0f, 1.0f};
    constexpr int kDraws = 20000;
    std::vector<int> counts(logits.size());
    std::vector<int32_t> output;  // the step advances with its size
    for (int i = 0; i < kDraws; ++i) {
        const int32_t id = sampler.sample(make_row(logits, p, 1234, output)).token_id;
        ++counts[static_cast<size_t>(id)];
        output.push_back(0);
    }
    double total = 0;
    for (const float x : logits) total += std::exp(x / 0.7);
    double chi2 = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        const double expected = kDraws * std::exp(logits[i] / 0.7) / total;
        chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
    }
    EXPECT_LT(chi2, 40.0);
}

TEST(Logprobs, RawLogSoftmaxBeforeProcessing) {
    const Sampler sampler({});
    SamplingParams p;
    p.temperature = 0.3f;
    p.repetition_penalty = 1.3f;
    p.top_k = 10;
    p.logprobs = 5;
    std::vector<float> logits(1000);
    for (size_t i = 0; i < logits.size(); ++i)
        logits[i] = std::sin(static_cast<float>(i) * 0.37f) * 6 + static_cast<float>(i % 3);
    const std::vector<int32_t> output = {4, 5};
    const SampleResult r = sampler.sample(make_row(logits, p, 99, output));
    double max = -kInf, sum = 0;
    for (const float x : logits) max = std::max(max, static_cast<double>(x));
    for (const float x : logits) sum += std::exp(x - max);
    const auto reference = [&](int32_t id) { return logits[size_t(id)] - max - std::log(sum); };
    EXPECT_NEAR(r.logprob, reference(r.token_id), 1e-5);
    ASSERT_EQ(r.top_logprobs.size(), 5u);
    int64_t rank = 0;
    for (const float x : logits) rank += x >= logits[size_t(r.token_id)];
    EXPECT_EQ(r.rank, rank);
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_NEAR(r.top_logprobs[i].logprob, reference(r.top_logprobs[i].token_id), 1e-5);
        if (i > 0) {
            EXPECT_GE(r.top_logprobs[i - 1].logprob, r.top_logprobs[i].logprob);
        }
    }
    int64_t num_above = 0;  // the fifth best really is fifth
    for (const float x : logits) num_above += x > logits[size_t(r.top_logprobs[4].token_id)];
    EXPECT_EQ(num_above, 4);
    p.logprobs = 0;  // only the chosen token
    const SampleResult only = sampler.sample(make_row(logits, p, 99, output));
    EXPECT_TRUE(only.top_logprobs.empty());
    EXPECT_EQ(only.token_id, r.token_id);
    EXPECT_NEAR(only.logprob, reference(only.token_id), 1e-5);
}

TEST(SamplingParamsValidate, VllmMessages) {
    const auto error = [](auto mutate) {
        SamplingParams p;
        mutate(p);
        return p.validate().error_message();
    };
    EXPECT_TRUE(SamplingParams{}.validate().ok());
    EXPECT_EQ(error([](SamplingParams& p) { p.temperature = -1; }),
              "temperature must be non-negative, got -1.0.");
    EXPECT_EQ(error([](SamplingParams& p) { p.top_p = 0; }), "top_p must be in (0, 1], got 0.0.");
    EXPECT_EQ(error([](SamplingParams& p) { p.top_p = 1.5f; }),
              "top_p must be in (0, 1], got 1.5.");
    EXPECT_EQ(error([](SamplingParams& p) { p.top_k = -5; }),
              "top_k must be 0 (disable), or at least 1, got -5.");
    EXPECT_EQ(error([](SamplingParams& p) { p.min_p = 1.5f; }),
              "min_p must be in [0, 1], got 1.5.");
    EXPECT_EQ(error([](SamplingParams& p) { p.repetition_penalty = 0; }),
              "repetition_penalty must be greater than zero, got 0.0.");
    EXPECT_EQ(error([](SamplingParams& p) { p.presence_penalty = 2.5f; }),
              "presence_penalty must be in [-2, 2], got 2.5.");
    EXPECT_EQ(error([](SamplingParams& p) { p.frequency_penalty = -3; }),
              "frequency_penalty must be in [-2, 2], got -3.0.");
    EXPECT_EQ(error([](SamplingParams& p) { p.n = 0; }), "n must be at least 1, got 0.");
    EXPECT_EQ(error([](SamplingParams& p) { p.max_tokens = 0; }),
              "max_tokens must be at least 1, got 0.");
    EXPECT_EQ(error([](SamplingParams& p) { p.min_tokens = -1; }),
              "min_tokens must be greater than or equal to 0, got -1.");
    EXPECT_EQ(error([](SamplingParams& p) {
                  p.max_tokens = 4;
                  p.min_tokens = 5;
              }),
              "min_tokens must be less than or equal to max_tokens=4, got 5.");
    EXPECT_EQ(error([](SamplingParams& p) { p.logprobs = 21; }),
              "Requested sample logprobs of 21, which is greater than max allowed: 20");
    EXPECT_EQ(error([](SamplingParams& p) { p.logprobs = -2; }),
              "logprobs must be non-negative, got -2.");
    EXPECT_EQ(error([](SamplingParams& p) {
                  p.stop = {"a", ""};
              }),
              "stop cannot contain an empty string.");
    EXPECT_EQ(error([](SamplingParams& p) { p.temperature = std::nanf(""); }),
              "temperature must be non-negative, got nan.");
    SamplingParams ok;
    ok.top_k = -1;
    ok.logprobs = 20;
    ok.temperature = 0;
    EXPECT_TRUE(ok.validate().ok());
    EXPECT_TRUE(ok.is_greedy());
}

}  // namespace
}  // namespace autoglm
