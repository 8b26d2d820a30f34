// SamplingParams::validate with vLLM's messages; numbers are printed the way Python prints them
// (floats keep a ".0"), so clients that match vLLM's error text keep working.
#include "engine/sampling_params.h"

#include <charconv>
#include <cmath>
#include <string_view>

namespace autoglm {
namespace {

std::string format_number(float value) {
    char buffer[64];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
    std::string text(buffer, ec == std::errc() ? end : buffer);
    if (std::isfinite(value) && text.find_first_of(".e") == std::string::npos) text.append(".0");
    return text;
}

std::string format_number(int64_t value) {
    return std::to_string(value);
}

template <typename T>
Error range_error(std::string_view what, const T& value) {
    std::string message(what);
    message.append(", got ").append(format_number(value)).append(".");
    return Error{std::move(message)};
}

// The penalty and probability checks; NaN fails every one of them (negated comparisons).
Status validate_ranges(const SamplingParams& p) {
    if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f))
        return range_error("presence_penalty must be in [-2, 2]", p.presence_penalty);
    if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f))
        return range_error("frequency_penalty must be in [-2, 2]", p.frequency_penalty);
    if (!(p.repetition_penalty > 0.0f) || std::isinf(p.repetition_penalty))
        return range_error("repetition_penalty must be greater than zero", p.repetition_penalty);
    if (!(p.temperature >= 0.0f) || std::isinf(p.temperature))
        return range_error("temperature must be non-negative", p.temperature);
    if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
        return range_error("top_p must be in (0, 1]", p.top_p);
    if (p.top_k < -1)
        return range_error("top_k must be 0 (disable), or at least 1", int64_t{p.top_k});
    if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
        return range_error("min_p must be in [0, 1]", p.min_p);
    return {};
}

Status validate_lengths(const SamplingParams& p) {
    if (p.max_tokens && *p.max_tokens < 1)
        return range_error("max_tokens must be at least 1", *p.max_tokens);
    if (p.min_tokens < 0)
        return range_error("min_tokens must be greater than or equal to 0", p.min_tokens);
    if (p.max_tokens && p.min_tokens > *p.max_tokens) {
        std::string what("min_tokens must be less than or equal to max_tokens=");
        what.append(std::to_string(*p.max_tokens));
        return range_error(what, p.min_tokens);
    }
    return {};
}

}  // namespace

Status SamplingParams::validate() const {
    if (n < 1) return range_error("n must be at least 1", int64_t{n});
    if (Status s = validate_ranges(*this); !s.ok()) return s;
    if (Status s = validate_lengths(*this); !s.ok()) return s;
    if (logprobs && *logprobs < 0)
        return range_error("logprobs must be non-negative", int64_t{*logprobs});
    if (logprobs && *logprobs > kMaxLogprobs) {
        // vLLM's engine-side check against --max-logprobs.
        std::string message("Requested sample logprobs of ");
        message.append(std::to_string(*logprobs)).append(", which is greater than max allowed: ");
        message.append(std::to_string(kMaxLogprobs));
        return Error{std::move(message)};
    }
    for (const std::string& s : stop) {
        if (s.empty()) return Error{"stop cannot contain an empty string."};
    }
    return {};
}

float SamplingParams::effective_temperature() const {
    if (temperature > 0.0f && temperature < kMinTemperature) return kMinTemperature;
    return temperature;
}

bool SamplingParams::is_greedy() const {
    return effective_temperature() < kGreedyTemperature;
}

}  // namespace autoglm
