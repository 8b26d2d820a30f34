// IncrementalDecoder: token ids in, text deltas out, for streaming. A delta never ends inside a
// UTF-8 character: incomplete trailing bytes are held until the next token completes them, and
// finish() flushes what is left (as U+FFFD when it can never become valid).
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace autoglm {

class IncrementalDecoder {
  public:
    explicit IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special = false)
        : tokenizer_(tokenizer), skip_special_(skip_special) {}

    // The text that token `id` completes (possibly empty).
    std::string push(int32_t id);
    // Whatever is still held, repaired to valid UTF-8.
    std::string finish();

  private:
    const Tokenizer& tokenizer_;
    bool skip_special_;
    std::string pending_;  // bytes not yet emitted (at most an incomplete character)
};

}  // namespace autoglm
