// ReasoningSplitter.
#include "protocol/reasoning.h"

#include <algorithm>

namespace autoglm {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
    for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
        if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
    return 0;
}

}  // namespace

ReasoningDelta ReasoningSplitter::push(std::string_view text) {
    pending_.append(text);
    ReasoningDelta out;
    if (state_ == State::kStart) {
        // Leading whitespace is allowed before the tag.
        const size_t first = pending_.find_first_not_of(" \t\r\n");
        if (first == std::string::npos) return out;
        const std::string_view rest = std::string_view(pending_).substr(first);
        if (rest.size() < kOpen.size() && kOpen.substr(0, rest.size()) == rest) return out;
        if (rest.substr(0, kOpen.size()) == kOpen) {
            state_ = State::kReasoning;
            pending_.erase(0, first + kOpen.size());
        } else {
            state_ = State::kContent;
        }
    }
    if (state_ == State::kReasoning) {
        const size_t close = pending_.find(kClose);
        if (close == std::string::npos) {
            const size_t held = partial_tag_suffix(pending_, kClose);
            out.reasoning = pending_.substr(0, pending_.size() - held);
            pending_.erase(0, pending_.size() - held);
            return out;
        }
        out.reasoning = pending_.substr(0, close);
        pending_.erase(0, close + kClose.size());
        state_ = State::kContent;
    }
    out.content += pending_;
    pending_.clear();
    return out;
}

ReasoningDelta ReasoningSplitter::finish() {
    ReasoningDelta out;
    if (state_ == State::kReasoning)
        out.reasoning = pending_;
    else
        out.content = pending_;
    pending_.clear();
    return out;
}

}  // namespace autoglm
