// StopChecker: one sequence's finish detection (eos, stop_token_ids, stop strings across token
// boundaries, min_tokens, max_tokens) and how much of its detokenized text is safe to stream.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/sampling_params.h"

namespace autoglm {

// OpenAI's finish_reason values.
enum class FinishReason { kStop, kLength, kAbort };
std::string_view finish_reason_name(FinishReason reason);  // "stop", "length", "abort"

// vLLM's stop_reason: the stop string or stop token id that ended the output; monostate for an
// eos id (vLLM reports None) and for the other finish reasons.
using StopReason = std::variant<std::monostate, int32_t, std::string>;

struct StopUpdate {
    std::string text;  // to append to the stream now (bytes; never splits a UTF-8 character)
    std::optional<FinishReason> finish_reason;  // set on the last update only
    StopReason stop_reason;
};

class StopChecker {
  public:
    static constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

    // eos_token_ids: the model's eos ids (generation_config). max_output_tokens: the engine's own
    // cap (room left in the context); the smaller of it and params.max_tokens ends with "length".
    StopChecker(const SamplingParams& params, std::vector<int32_t> eos_token_ids,
                int64_t max_output_tokens = kNoLimit);

    // One generated token and the text the detokenizer produced for it (may be empty).
    StopUpdate append(int32_t token_id, std::string_view token_text);
    // Ends the sequence from outside (cancel); returns the held-back text with kAbort.
    StopUpdate abort();

    bool finished() const { return finished_; }
    int64_t num_generated() const { return num_generated_; }
    // All text handed out so far: the final output text once finished.
    std::string_view emitted_text() const {
        return std::string_view(text_).substr(0, num_emitted_);
    }

  private:
    bool is_stop_token(int32_t token_id, StopReason* reason) const;
    // Start of the earliest-ending stop string that ends after text_[previous_size - 1] (ties:
    // the longer one); npos if none.
    size_t find_stop_string(size_t previous_size, std::string* matched) const;
    // Length of the longest suffix of text_ that is a proper prefix of some stop string.
    size_t held_back_size() const;
    StopUpdate emit_until(size_t end);
    StopUpdate finish(FinishReason reason, StopReason stop_reason, size_t text_end);

    SamplingParams params_;
    std::vector<int32_t> eos_token_ids_;
    int64_t max_output_tokens_;
    std::string text_;        // detokenized output so far (emitted, then held back)
    size_t num_emitted_ = 0;  // bytes of text_ already handed out
    int64_t num_generated_ = 0;
    bool finished_ = false;
};

}  // namespace autoglm
