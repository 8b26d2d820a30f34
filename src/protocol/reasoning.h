// Splits generated text into reasoning and content at GLM's think tags, incrementally: when the
// output opens with <think>, the text up to </think> is reasoning and the rest is content; output
// that does not open with <think> is all content. A tag split across deltas is held back.
#pragma once

#include <string>
#include <string_view>

namespace autoglm {

struct ReasoningDelta {
    std::string reasoning;
    std::string content;
};

class ReasoningSplitter {
  public:
    ReasoningDelta push(std::string_view text);
    ReasoningDelta finish();  // releases held-back text

  private:
    enum class State { kStart, kReasoning, kContent };
    State state_ = State::kStart;
    std::string pending_;
};

}  // namespace autoglm
