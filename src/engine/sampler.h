// Sampler: one logits row per sequence -> the next token id, following vLLM v1 (CPU reference,
// backend-neutral). The processing stages are public functions so tests can check each one.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/sampling_params.h"

namespace autoglm {

// One sequence's input. The spans must outlive the call.
struct SamplerRow {
    std::span<const float> logits;        // [vocab_size], the model's raw output for the last token
    std::span<const int32_t> prompt_ids;  // images expanded (repetition_penalty sees them)
    std::span<const int32_t> output_ids;  // generated so far; its size is the RNG step
    const SamplingParams* params = nullptr;
    uint64_t seed = 0;  // from make_request_seed(), fixed for the request's whole life
};

struct TokenLogprob {
    int32_t token_id = 0;
    float logprob = 0;
};

struct SampleResult {
    int32_t token_id = 0;
    // Only when params.logprobs is set. vLLM v1's default logprobs_mode "raw_logprobs": the
    // log-softmax of the raw logits, before penalties, temperature and truncation.
    float logprob = 0;  // of token_id
    int64_t rank = 0;   // vLLM: number of tokens whose logprob is >= the chosen one's (1 = best)
    std::vector<TokenLogprob> top_logprobs;  // params.logprobs best, descending, ties by id
};

// The request's seed: params.seed when set, else a fresh one from a process-wide source.
uint64_t make_request_seed(const std::optional<int64_t>& seed);
// Counter-based uniform in [0, 1): a pure function of (seed, step), so a seeded request draws
// the same numbers whatever else shares its batch (splitmix64 stream of the seed, element step).
double counter_uniform(uint64_t seed, uint64_t step);

// vLLM's order: repetition (prompt + output; logit > 0 -> /p else *p), then frequency
// (-= f * count in output), then presence (-= p if in output). In float, like vLLM.
void apply_penalties(std::span<float> logits, std::span<const int32_t> prompt_ids,
                     std::span<const int32_t> output_ids, const SamplingParams& params);
// While fewer than min_tokens are generated, eos ids and stop_token_ids get -inf (vLLM masks
// the model's eos ids even with ignore_eos).
void apply_min_tokens(std::span<float> logits, int64_t num_generated, const SamplingParams& params,
                      std::span<const int32_t> eos_token_ids);
void apply_temperature(std::span<float> logits, float temperature);
// Drops tokens whose probability is below min_p times the top probability.
void apply_min_p(std::span<float> logits, float min_p);
// Keeps the tokens whose logit is >= the k-th largest (vLLM: ties at the threshold all stay).
void apply_top_k(std::span<float> logits, int32_t top_k);
// Keeps, in order of probability (ties by lower id), each token whose preceding mass is < top_p:
// the smallest prefix reaching top_p, always at least one token (vLLM's ascending-cumsum rule).
void apply_top_p(std::span<float> logits, float top_p);
// First index of the maximum (ties -> lowest id).
int32_t argmax_first(std::span<const float> logits);
// True when a backend may sample the row on its device: everything before the draw is either a
// LogitEdit (logit_bias, penalties, min_tokens) or the truncation it implements (temperature,
// min_p, top_k, top_p, counter_uniform). Only logprobs, which need the raw row, keep it here.
bool samples_on_device(const SamplingParams& params);

// apply_penalties + apply_min_tokens for one (row, token) as data, so a backend can apply them
// where the logits are: in order x += bias; repetition (x > 0 ? x / r : x * r); x -= frequency
// (the penalty times the count, a float product made here); x -= presence; -inf for a mask. Each
// float operation is one IEEE round-to-nearest step, so every backend gets the same bits.
struct LogitEdit {
    enum Op : uint32_t { kBias = 1, kRepetition = 2, kFrequency = 4, kPresence = 8, kMask = 16 };
    int32_t row = 0;
    int32_t token = 0;
    uint32_t ops = 0;  // Op bits
    float bias = 0.0f;
    float repetition = 1.0f;
    float frequency = 0.0f;
    float presence = 0.0f;
};

// Appends row `row`'s edits (sorted by token, one per token) for a sequence with `output_ids`
// generated: what apply_penalties and apply_min_tokens would do to its logits.
// `prompt_distinct` holds the prompt's distinct ids, sorted (read only with repetition_penalty).
// False (nothing appended): the row needs the host (a logit_bias id given twice).
bool append_logit_edits(int32_t row, std::span<const int32_t> prompt_distinct,
                        std::span<const int32_t> output_ids, const SamplingParams& params,
                        std::span<const int32_t> eos_token_ids, int64_t vocab_size,
                        std::vector<LogitEdit>& edits);
// The reference: applies edits to rows of `vocab_size` logits laid out contiguously.
void apply_logit_edits(std::span<float> logits, int64_t vocab_size,
                       std::span<const LogitEdit> edits);
// A prompt's distinct ids, sorted (append_logit_edits' prompt_distinct).
std::vector<int32_t> distinct_ids(std::span<const int32_t> ids);
// Inverse CDF in token-id order over softmax(logits): the first id whose running mass
// exceeds u * total (masked -inf entries have zero mass).
int32_t sample_inverse_cdf(std::span<const float> logits, double u);

class Sampler {
  public:
    // eos_token_ids: the model's eos ids (generation_config), masked by min_tokens.
    explicit Sampler(std::vector<int32_t> eos_token_ids);

    // The logits the final draw uses: penalties -> min_tokens -> temperature -> min_p -> top_k
    // -> top_p (greedy rows stop after min_tokens). Masked tokens are -inf.
    std::vector<float> process_logits(const SamplerRow& row) const;
    // The probabilities of each token being drawn (greedy: one-hot on the argmax).
    std::vector<double> distribution(const SamplerRow& row) const;

    SampleResult sample(const SamplerRow& row) const;
    // Rows are independent (per-row seed and step), so order and batch mates do not matter.
    std::vector<SampleResult> sample_batch(std::span<const SamplerRow> rows) const;

  private:
    std::vector<int32_t> eos_token_ids_;
};

}  // namespace autoglm
