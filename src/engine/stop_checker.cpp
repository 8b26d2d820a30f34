// StopChecker. Checks run in vLLM v0's order: eos, stop_token_ids, stop strings, then length, so a
// stop on the last allowed token reports "stop" (vLLM v1 reports "length" for eos on that token).
#include "engine/stop_checker.h"

#include <algorithm>

#include "core/check.h"

namespace autoglm {

std::string_view finish_reason_name(FinishReason reason) {
    switch (reason) {
        case FinishReason::kStop:
            return "stop";
        case FinishReason::kLength:
            return "length";
        case FinishReason::kAbort:
            return "abort";
    }
    return "abort";
}

StopChecker::StopChecker(const SamplingParams& params, std::vector<int32_t> eos_token_ids,
                         int64_t max_output_tokens)
    : params_(params),
      eos_token_ids_(std::move(eos_token_ids)),
      max_output_tokens_(std::min(max_output_tokens, params.max_tokens.value_or(kNoLimit))) {}

bool StopChecker::is_stop_token(int32_t token_id, StopReason* reason) const {
    const auto contains = [token_id](const std::vector<int32_t>& ids) {
        return std::find(ids.begin(), ids.end(), token_id) != ids.end();
    };
    // An eos id wins over the same id in stop_token_ids, and reports no stop_reason (vLLM).
    if (!params_.ignore_eos && contains(eos_token_ids_)) {
        *reason = std::monostate{};
        return true;
    }
    if (contains(params_.stop_token_ids)) {
        *reason = token_id;
        return true;
    }
    return false;
}

size_t StopChecker::find_stop_string(size_t previous_size, std::string* matched) const {
    size_t best_start = std::string::npos;
    size_t best_end = std::string::npos;
    for (const std::string& stop : params_.stop) {
        if (stop.empty()) continue;  // rejected by validate(); never a match here
        // Only matches that end in the new text: older ones were checked (or were still inside
        // min_tokens, where vLLM ignores them too).
        const size_t from = previous_size >= stop.size() ? previous_size - stop.size() + 1 : 0;
        const size_t start = text_.find(stop, from);
        if (start == std::string::npos) continue;
        const size_t end = start + stop.size();
        // The match a character-by-character stream would meet first: the earliest end; at the
        // same end, the longer string. Independent of how the text was split into tokens.
        if (end < best_end || (end == best_end && start < best_start)) {
            best_start = start;
            best_end = end;
            *matched = stop;
        }
    }
    return best_start;
}

size_t StopChecker::held_back_size() const {
    // With include_stop_str_in_output any text that could begin a stop string is emitted anyway
    // (a match ends after it), so nothing needs holding.
    if (params_.include_stop_str_in_output) return 0;
    size_t held = 0;
    for (const std::string& stop : params_.stop) {
        if (stop.empty()) continue;
        const size_t longest = std::min(stop.size() - 1, text_.size());
        for (size_t n = longest; n > held; --n) {
            if (text_.compare(text_.size() - n, n, stop, 0, n) == 0) {
                held = n;
                break;
            }
        }
    }
    return held;
}

StopUpdate StopChecker::emit_until(size_t end) {
    StopUpdate update;
    // The held-back suffix never starts before text already emitted (it only grows by what
    // arrived since), so `end` does not move backwards; max() is a guard.
    end = std::max(end, num_emitted_);
    update.text = text_.substr(num_emitted_, end - num_emitted_);
    num_emitted_ = end;
    return update;
}

StopUpdate StopChecker::finish(FinishReason reason, StopReason stop_reason, size_t text_end) {
    text_.resize(std::max(text_end, num_emitted_));
    StopUpdate update = emit_until(text_.size());
    update.finish_reason = reason;
    update.stop_reason = std::move(stop_reason);
    finished_ = true;
    return update;
}

StopUpdate StopChecker::append(int32_t token_id, std::string_view token_text) {
    CHECK(!finished_) << "append after the sequence finished";
    ++num_generated_;
    // vLLM: nothing stops the sequence within its first min_tokens tokens.
    const bool can_stop = num_generated_ > params_.min_tokens;
    StopReason reason;
    if (can_stop && is_stop_token(token_id, &reason)) {
        // The stop token's text is dropped unless include_stop_str_in_output (vLLM v1).
        if (params_.include_stop_str_in_output) text_.append(token_text);
        return finish(FinishReason::kStop, std::move(reason), text_.size());
    }
    const size_t previous_size = text_.size();
    text_.append(token_text);
    if (can_stop && !params_.stop.empty()) {
        std::string matched;
        const size_t start = find_stop_string(previous_size, &matched);
        if (start != std::string::npos) {
            const size_t end = params_.include_stop_str_in_output ? start + matched.size() : start;
            return finish(FinishReason::kStop, std::move(matched), end);
        }
    }
    if (num_generated_ >= max_output_tokens_) {
        return finish(FinishReason::kLength, std::monostate{}, text_.size());
    }
    return emit_until(text_.size() - held_back_size());
}

StopUpdate StopChecker::abort() {
    CHECK(!finished_) << "abort after the sequence finished";
    return finish(FinishReason::kAbort, std::monostate{}, text_.size());
}

}  // namespace autoglm
