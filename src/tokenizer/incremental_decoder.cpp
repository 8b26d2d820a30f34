// IncrementalDecoder: emit the longest prefix of the pending bytes that is complete UTF-8.
#include "tokenizer/incremental_decoder.h"

#include "tokenizer/utf8.h"

namespace autoglm {

std::string IncrementalDecoder::push(int32_t id) {
    if (skip_special_ && tokenizer_.is_special(id)) return {};
    pending_ += tokenizer_.token_bytes(id);
    std::string out;
    size_t i = 0;
    while (i < pending_.size()) {
        bool truncated = false;
        const size_t n = utf8_sequence_length(pending_, i, &truncated);
        if (n > 0) {
            i += n;
            continue;
        }
        if (truncated) break;  // wait for the rest of this character
        // Invalid bytes can never become valid: emit the valid prefix, then one U+FFFD for the
        // maximal invalid subpart, exactly as a full decode would.
        const size_t bad = utf8_invalid_subpart(pending_, i);
        out += pending_.substr(0, i);
        out += "\xef\xbf\xbd";
        pending_.erase(0, i + bad);
        i = 0;
    }
    out += pending_.substr(0, i);
    pending_.erase(0, i);
    return out;
}

std::string IncrementalDecoder::finish() {
    std::string out = utf8_repair(pending_);
    pending_.clear();
    return out;
}

}  // namespace autoglm
