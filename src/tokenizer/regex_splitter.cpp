// RegexSplitter on PCRE2 (8-bit, UTF, UCP, JIT); match data is per call so it is thread-safe.
#include "tokenizer/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace autoglm {

const char* const kGlm4SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct RegexSplitter::Impl {
    pcre2_code* code = nullptr;
    ~Impl() {
        if (code) pcre2_code_free(code);
    }
};

RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;
RegexSplitter::~RegexSplitter() = default;

Result<RegexSplitter> RegexSplitter::compile(const std::string& pattern) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
    if (!code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error_code, message, sizeof(message));
        return Error{"pre-tokenizer regex does not compile at offset " +
                     std::to_string(error_offset) + ": " + reinterpret_cast<char*>(message)};
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT fails
    RegexSplitter splitter;
    splitter.impl_ = std::make_unique<Impl>();
    splitter.impl_->code = code;
    splitter.pattern_ = pattern;
    return splitter;
}

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& pieces) const {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = 0;
    size_t last_end = 0;
    while (offset < text.size()) {
        const int rc =
            pcre2_match(impl_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc < 0) break;  // no further match (or an error): the rest is one gap piece
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        size_t begin = ov[0], end = ov[1];
        if (begin > last_end) pieces.push_back(text.substr(last_end, begin - last_end));
        if (end == begin) {  // empty match: step one code point to make progress
            size_t step = 1;
            while (begin + step < text.size() && (text[begin + step] & 0xc0) == 0x80) ++step;
            offset = begin + step;
            continue;
        }
        pieces.push_back(text.substr(begin, end - begin));
        last_end = end;
        offset = end;
    }
    if (last_end < text.size()) pieces.push_back(text.substr(last_end));
    pcre2_match_data_free(md);
}

}  // namespace autoglm
