// SamplingParams: one request's decoding settings with OpenAI / vLLM field names and defaults, and
// validate() with vLLM's range checks and messages (SamplingParams._verify_args).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace autoglm {

// vLLM's default --max-logprobs (and OpenAI's top_logprobs cap).
inline constexpr int32_t kMaxLogprobs = 20;
// vLLM: temperatures in (0, kMinTemperature) are raised to kMinTemperature (NaN/inf guard) and a
// temperature below kGreedyTemperature means greedy.
inline constexpr float kMinTemperature = 1e-2f;
inline constexpr float kGreedyTemperature = 1e-5f;

struct SamplingParams {
    int32_t n = 1;                      // completions per prompt (the engine forks n sequences)
    float temperature = 1.0f;           // 0 = greedy (argmax after penalties)
    float top_p = 1.0f;                 // (0, 1]; 1 = off
    int32_t top_k = 0;                  // 0 or -1 = off (vLLM quietly accepts -1)
    float min_p = 0.0f;                 // [0, 1]; relative to the most likely token; 0 = off
    float repetition_penalty = 1.0f;    // HF/vLLM: prompt and output tokens; > 1 discourages
    float presence_penalty = 0.0f;      // OpenAI: output tokens only, once per distinct token
    float frequency_penalty = 0.0f;     // OpenAI: output tokens only, times the token's count
    std::optional<int64_t> seed;        // unset: a random seed is drawn at creation
    std::optional<int64_t> max_tokens;  // unset: until the context is full (the engine caps it)
    int64_t min_tokens = 0;  // eos and stop_token_ids are masked until this many are generated
    std::vector<std::string> stop;        // stop strings (not in the output unless included)
    std::vector<int32_t> stop_token_ids;  // stop even when ignore_eos is set
    bool ignore_eos = false;              // do not stop on the model's eos ids
    std::optional<int32_t> logprobs;      // number of top alternatives; 0 = only the chosen
    bool skip_special_tokens = true;      // for the detokenizer
    bool include_stop_str_in_output = false;
    // OpenAI logit_bias: added to the token's logit before penalties and sampling.
    std::vector<std::pair<int32_t, float>> logit_bias;

    // vLLM's checks, in its order; the message is vLLM's (user errors -> HTTP 400).
    Status validate() const;
    bool is_greedy() const;
    // The temperature the sampler divides by (tiny positive values raised, as vLLM does).
    float effective_temperature() const;
};

}  // namespace autoglm
