// RegexSplitter: the pre-tokenizer split (tiktoken's pat_str, or a tokenizer.json Split/ByteLevel
// regex) on PCRE2 with UTF + UCP and JIT: text -> the matched pieces, with the gaps between
// matches kept as pieces of their own (HF "Isolated" behaviour).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace autoglm {

class RegexSplitter {
  public:
    static Result<RegexSplitter> compile(const std::string& pattern);

    RegexSplitter(RegexSplitter&&) noexcept;
    RegexSplitter& operator=(RegexSplitter&&) noexcept;
    ~RegexSplitter();

    // Appends the pieces of `text` (valid UTF-8) in order; their concatenation is `text`.
    void split(std::string_view text, std::vector<std::string_view>& pieces) const;
    const std::string& pattern() const { return pattern_; }

  private:
    RegexSplitter() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::string pattern_;
};

// GLM-4's pre-tokenizer pattern (the same as cl100k's), used with tiktoken-format vocabularies.
extern const char* const kGlm4SplitPattern;
// GPT-2's pattern, used by a ByteLevel pre-tokenizer with use_regex = true.
extern const char* const kGpt2SplitPattern;

}  // namespace autoglm
