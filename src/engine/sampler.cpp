// Sampler stages and the per-row draw. Probabilities are computed in double from float logits;
// penalties and temperature stay in float, like vLLM's float32 tensors.
#include "engine/sampler.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "core/check.h"
#include "core/parallel.h"

namespace autoglm {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;
constexpr size_t kTopPFirstChunk = 256;  // candidates sorted before widening the search

// The splitmix64 finalizer: a bijective 64-bit mix.
uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void check_token(int32_t id, size_t vocab_size) {
    CHECK(id >= 0 && static_cast<size_t>(id) < vocab_size)
        << "token id " << id << " outside the vocabulary of " << vocab_size;
}

// Sorted distinct ids and, for output ids, their counts.
std::vector<std::pair<int32_t, int32_t>> count_ids(std::span<const int32_t> ids) {
    std::vector<int32_t> sorted(ids.begin(), ids.end());
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::pair<int32_t, int32_t>> counts;
    for (const int32_t id : sorted) {
        if (!counts.empty() && counts.back().first == id) {
            ++counts.back().second;
        } else {
            counts.emplace_back(id, 1);
        }
    }
    return counts;
}

float max_logit(std::span<const float> logits) {
    float m = kNegInf;
    for (const float x : logits) m = std::max(m, x);
    return m;
}

// "a ranks before b": higher logit first, then lower id (a total order, so deterministic).
struct RanksBefore {
    std::span<const float> logits;
    bool operator()(int32_t a, int32_t b) const {
        const float la = logits[static_cast<size_t>(a)];
        const float lb = logits[static_cast<size_t>(b)];
        return la > lb || (la == lb && a < b);
    }
};

void fill_logprobs(std::span<const float> raw, int32_t num_top, SampleResult* result) {
    const double max = max_logit(raw);
    double sum = 0;
    for (const float x : raw) sum += std::exp(static_cast<double>(x) - max);
    const double log_total = max + std::log(sum);
    const float chosen = raw[static_cast<size_t>(result->token_id)];
    result->logprob = static_cast<float>(static_cast<double>(chosen) - log_total);
    result->rank = std::count_if(raw.begin(), raw.end(), [&](float x) { return x >= chosen; });
    const size_t k = std::min(static_cast<size_t>(num_top), raw.size());
    std::vector<int32_t> ids(raw.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(k), ids.end(),
                      RanksBefore{raw});
    result->top_logprobs.clear();
    for (size_t i = 0; i < k; ++i) {
        const double x = raw[static_cast<size_t>(ids[i])];
        result->top_logprobs.push_back({ids[i], static_cast<float>(x - log_total)});
    }
}

}  // namespace

uint64_t make_request_seed(const std::optional<int64_t>& seed) {
    if (seed) return static_cast<uint64_t>(*seed);
    // One random base per process, then a distinct well-mixed value per request.
    static std::atomic<uint64_t> counter{(static_cast<uint64_t>(std::random_device{}()) << 32) ^
                                         std::random_device{}()};
    return mix64(counter.fetch_add(kGoldenGamma, std::memory_order_relaxed));
}

double counter_uniform(uint64_t seed, uint64_t step) {
    const uint64_t bits = mix64(mix64(seed) + (step + 1) * kGoldenGamma);
    return static_cast<double>(bits >> 11) * 0x1.0p-53;  // 53 random mantissa bits
}

void apply_penalties(std::span<float> logits, std::span<const int32_t> prompt_ids,
                     std::span<const int32_t> output_ids, const SamplingParams& params) {
    for (const auto& [id, bias] : params.logit_bias)  // ids were checked against the vocabulary
        if (id >= 0 && static_cast<size_t>(id) < logits.size())
            logits[static_cast<size_t>(id)] += bias;
    const auto output_counts = count_ids(output_ids);
    for (const auto& [id, count] : output_counts) check_token(id, logits.size());
    if (params.repetition_penalty != 1.0f) {
        const float p = params.repetition_penalty;
        std::vector<int32_t> seen(prompt_ids.begin(), prompt_ids.end());
        seen.insert(seen.end(), output_ids.begin(), output_ids.end());
        for (const auto& [id, count] : count_ids(seen)) {
            check_token(id, logits.size());
            float& x = logits[static_cast<size_t>(id)];
            x = x > 0 ? x / p : x * p;
        }
    }
    if (params.frequency_penalty != 0.0f) {
        for (const auto& [id, count] : output_counts) {
            // The product rounded on its own (never fused into the subtraction): a LogitEdit
            // carries it the same way.
            const float penalty = params.frequency_penalty * static_cast<float>(count);
            logits[static_cast<size_t>(id)] -= penalty;
        }
    }
    if (params.presence_penalty != 0.0f) {
        for (const auto& [id, count] : output_counts)
            logits[static_cast<size_t>(id)] -= params.presence_penalty;
    }
}

void apply_min_tokens(std::span<float> logits, int64_t num_generated, const SamplingParams& params,
                      std::span<const int32_t> eos_token_ids) {
    if (num_generated >= params.min_tokens) return;
    // NOTE: stop_token_ids come from the user and may lie outside the vocabulary: skipped.
    const auto mask = [&](int32_t id) {
        if (id >= 0 && static_cast<size_t>(id) < logits.size())
            logits[static_cast<size_t>(id)] = kNegInf;
    };
    for (const int32_t id : eos_token_ids) mask(id);
    for (const int32_t id : params.stop_token_ids) mask(id);
}

void apply_temperature(std::span<float> logits, float temperature) {
    if (temperature == 1.0f) return;
    for (float& x : logits) x /= temperature;
}

void apply_min_p(std::span<float> logits, float min_p) {
    if (min_p <= 0.0f) return;
    // p_i < min_p * p_max  <=>  exp(l_i - l_max) < min_p (the normalizer cancels).
    const double max = max_logit(logits);
    for (float& x : logits) {
        if (std::exp(static_cast<double>(x) - max) < min_p) x = kNegInf;
    }
}

void apply_top_k(std::span<float> logits, int32_t top_k) {
    if (top_k <= 0 || static_cast<size_t>(top_k) >= logits.size()) return;
    std::vector<float> values(logits.begin(), logits.end());
    const auto kth = values.begin() + (top_k - 1);
    std::nth_element(values.begin(), kth, values.end(), std::greater<float>());
    const float threshold = *kth;
    for (float& x : logits) {
        if (x < threshold) x = kNegInf;
    }
}

void apply_top_p(std::span<float> logits, float top_p) {
    if (top_p >= 1.0f) return;
    std::vector<int32_t> ids;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (logits[i] != kNegInf) ids.push_back(static_cast<int32_t>(i));
    }
    const double max = max_logit(logits);
    double total = 0;
    for (const int32_t id : ids) total += std::exp(logits[static_cast<size_t>(id)] - max);
    const double budget = static_cast<double>(top_p) * total;
    // The kept set is a prefix of the ranking: sort only as far as needed, widening on demand.
    size_t num_sorted = std::min(ids.size(), kTopPFirstChunk);
    size_t num_keep = 0;
    for (;;) {
        std::partial_sort(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(num_sorted), ids.end(),
                          RanksBefore{logits});
        double mass = 0;  // of the tokens ranked before the current one
        num_keep = 0;
        while (num_keep < num_sorted && (num_keep == 0 || mass < budget)) {
            mass += std::exp(logits[static_cast<size_t>(ids[num_keep])] - max);
            ++num_keep;
        }
        if (num_keep < num_sorted || num_sorted == ids.size()) break;
        num_sorted = std::min(ids.size(), num_sorted * 2);
    }
    for (size_t i = num_keep; i < ids.size(); ++i) logits[static_cast<size_t>(ids[i])] = kNegInf;
}

int32_t argmax_first(std::span<const float> logits) {
    CHECK(!logits.empty());
    size_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i) {
        if (logits[i] > logits[best]) best = i;
    }
    return static_cast<int32_t>(best);
}

bool samples_on_device(const SamplingParams& params) {
    return !params.logprobs;
}

std::vector<int32_t> distinct_ids(std::span<const int32_t> ids) {
    std::vector<int32_t> out(ids.begin(), ids.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bool append_logit_edits(int32_t row, std::span<const int32_t> prompt_distinct,
                        std::span<const int32_t> output_ids, const SamplingParams& params,
                        std::span<const int32_t> eos_token_ids, int64_t vocab_size,
                        std::vector<LogitEdit>& edits) {
    if (params.logit_bias.size() > 1) {  // a repeated id adds twice: not one edit
        std::vector<int32_t> ids;
        for (const auto& [id, bias] : params.logit_bias) ids.push_back(id);
        std::sort(ids.begin(), ids.end());
        if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) return false;
    }
    const size_t first = edits.size();
    const auto vocab = static_cast<size_t>(vocab_size);
    const auto edit = [&](int32_t token, uint32_t op) -> LogitEdit& {
        edits.push_back({});
        LogitEdit& e = edits.back();
        e.row = row;
        e.token = token;
        e.ops = op;
        return e;
    };
    for (const auto& [id, bias] : params.logit_bias)
        if (id >= 0 && static_cast<size_t>(id) < vocab) edit(id, LogitEdit::kBias).bias = bias;
    const auto output_counts = count_ids(output_ids);
    for (const auto& [id, count] : output_counts) check_token(id, vocab);
    if (params.repetition_penalty != 1.0f) {
        const float p = params.repetition_penalty;
        for (const int32_t id : prompt_distinct) {
            check_token(id, vocab);
            edit(id, LogitEdit::kRepetition).repetition = p;
        }
        for (const auto& [id, count] : output_counts)
            if (!std::binary_search(prompt_distinct.begin(), prompt_distinct.end(), id))
                edit(id, LogitEdit::kRepetition).repetition = p;
    }
    if (params.frequency_penalty != 0.0f)
        for (const auto& [id, count] : output_counts)
            edit(id, LogitEdit::kFrequency).frequency =
                params.frequency_penalty * static_cast<float>(count);
    if (params.presence_penalty != 0.0f)
        for (const auto& [id, count] : output_counts)
            edit(id, LogitEdit::kPresence).presence = params.presence_penalty;
    if (static_cast<int64_t>(output_ids.size()) < params.min_tokens) {
        for (const int32_t id : eos_token_ids)
            if (id >= 0 && static_cast<size_t>(id) < vocab) edit(id, LogitEdit::kMask);
        for (const int32_t id : params.stop_token_ids)
            if (id >= 0 && static_cast<size_t>(id) < vocab) edit(id, LogitEdit::kMask);
    }
    // One edit per token: merge the pieces (each op appears at most once per token).
    const auto begin = edits.begin() + static_cast<ptrdiff_t>(first);
    std::stable_sort(begin, edits.end(),
                     [](const LogitEdit& a, const LogitEdit& b) { return a.token < b.token; });
    auto out = begin;
    for (auto it = begin; it != edits.end(); ++it) {
        if (out != begin && (out - 1)->token == it->token) {
            LogitEdit& m = *(out - 1);
            if (it->ops & LogitEdit::kBias) m.bias = it->bias;
            if (it->ops & LogitEdit::kRepetition) m.repetition = it->repetition;
            if (it->ops & LogitEdit::kFrequency) m.frequency = it->frequency;
            if (it->ops & LogitEdit::kPresence) m.presence = it->presence;
            m.ops |= it->ops;
            continue;
        }
        *out++ = *it;
    }
    edits.erase(out, edits.end());
    return true;
}

void apply_logit_edits(std::span<float> logits, int64_t vocab_size,
                       std::span<const LogitEdit> edits) {
    for (const LogitEdit& e : edits) {
        const size_t i = static_cast<size_t>(e.row) * static_cast<size_t>(vocab_size) +
                         static_cast<size_t>(e.token);
        CHECK(e.token >= 0 && e.token < vocab_size && i < logits.size())
            << "edit of token " << e.token << " in row " << e.row;
        float x = logits[i];
        if (e.ops & LogitEdit::kBias) x += e.bias;
        if (e.ops & LogitEdit::kRepetition) x = x > 0 ? x / e.repetition : x * e.repetition;
        if (e.ops & LogitEdit::kFrequency) x -= e.frequency;
        if (e.ops & LogitEdit::kPresence) x -= e.presence;
        if (e.ops & LogitEdit::kMask) x = kNegInf;
        logits[i] = x;
    }
}

int32_t sample_inverse_cdf(std::span<const float> logits, double u) {
    const double max = max_logit(logits);
    // NOTE: all -inf (or NaN) logits leave nothing to draw from: a model or caller bug.
    CHECK(std::isfinite(max)) << "no finite logit to sample from";
    double total = 0;
    for (const float x : logits) total += std::exp(static_cast<double>(x) - max);
    const double target = u * total;
    double mass = 0;
    int32_t last_possible = -1;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (logits[i] == kNegInf) continue;
        mass += std::exp(static_cast<double>(logits[i]) - max);
        last_possible = static_cast<int32_t>(i);
        if (mass > target) return last_possible;
    }
    return last_possible;  // rounding left target at the very end
}

Sampler::Sampler(std::vector<int32_t> eos_token_ids) : eos_token_ids_(std::move(eos_token_ids)) {}

std::vector<float> Sampler::process_logits(const SamplerRow& row) const {
    CHECK(row.params != nullptr);
    const SamplingParams& p = *row.params;
    std::vector<float> logits(row.logits.begin(), row.logits.end());
    apply_penalties(logits, row.prompt_ids, row.output_ids, p);
    apply_min_tokens(logits, static_cast<int64_t>(row.output_ids.size()), p, eos_token_ids_);
    if (p.is_greedy()) return logits;
    apply_temperature(logits, p.effective_temperature());
    apply_min_p(logits, p.min_p);
    apply_top_k(logits, p.top_k);
    apply_top_p(logits, p.top_p);
    return logits;
}

std::vector<double> Sampler::distribution(const SamplerRow& row) const {
    const std::vector<float> logits = process_logits(row);
    std::vector<double> probs(logits.size(), 0.0);
    if (row.params->is_greedy()) {
        probs[static_cast<size_t>(argmax_first(logits))] = 1.0;
        return probs;
    }
    const double max = max_logit(logits);
    double total = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        probs[i] = std::exp(static_cast<double>(logits[i]) - max);
        total += probs[i];
    }
    for (double& x : probs) x /= total;
    return probs;
}

SampleResult Sampler::sample(const SamplerRow& row) const {
    const std::vector<float> logits = process_logits(row);
    SampleResult result;
    if (row.params->is_greedy()) {
        result.token_id = argmax_first(logits);
    } else {
        const double u = counter_uniform(row.seed, row.output_ids.size());
        result.token_id = sample_inverse_cdf(logits, u);
    }
    if (row.params->logprobs) fill_logprobs(row.logits, *row.params->logprobs, &result);
    return result;
}

std::vector<SampleResult> Sampler::sample_batch(std::span<const SamplerRow> rows) const {
    std::vector<SampleResult> results(rows.size());
    parallel_for(static_cast<int64_t>(rows.size()), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            results[static_cast<size_t>(i)] = sample(rows[static_cast<size_t>(i)]);
    });
    return results;
}

}  // namespace autoglm
