// UTF-8 scanning and the byte-level alphabet.
#include "tokenizer/utf8.h"

#include <unordered_map>

namespace autoglm {

namespace {

// Scans one sequence at s[i]: returns its length when valid, else 0 with `subpart` set to the
// maximal invalid subpart (the lead byte plus the continuation bytes that were still allowed).
size_t scan_sequence(std::string_view s, size_t i, size_t& subpart, bool& truncated) {
    truncated = false;
    subpart = 1;
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        need = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        need = 3;
        if (b0 == 0xe0) lo = 0xa0;  // no overlongs
        if (b0 == 0xed) hi = 0x9f;  // no surrogates
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        need = 4;
        if (b0 == 0xf0) lo = 0x90;
        if (b0 == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    for (size_t k = 1; k < need; ++k) {
        if (i + k >= s.size()) {
            truncated = true;
            return 0;
        }
        const auto b = static_cast<unsigned char>(s[i + k]);
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) return 0;
        subpart = k + 1;
    }
    return need;
}

}  // namespace

size_t utf8_sequence_length(std::string_view s, size_t i, bool* truncated) {
    size_t subpart = 0;
    bool trunc = false;
    const size_t n = scan_sequence(s, i, subpart, trunc);
    if (truncated) *truncated = trunc;
    return n;
}

size_t utf8_invalid_subpart(std::string_view s, size_t i) {
    size_t subpart = 1;
    bool truncated = false;
    scan_sequence(s, i, subpart, truncated);
    return subpart;
}

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const size_t n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string utf8_repair(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        size_t subpart = 0;
        bool truncated = false;
        const size_t n = scan_sequence(s, i, subpart, truncated);
        if (n > 0) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += "\xef\xbf\xbd";
            i += subpart;
        }
    }
    return out;
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

const std::array<uint32_t, 256>& byte_to_unicode() {
    // Printable Latin-1 bytes map to themselves; the rest to 256, 257, ... in byte order.
    static const std::array<uint32_t, 256> table = [] {
        std::array<uint32_t, 256> t{};
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable =
                (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
            t[b] = printable ? b : next++;
        }
        return t;
    }();
    return table;
}

bool byte_level_decode(std::string_view token, std::string& out) {
    static const std::unordered_map<uint32_t, unsigned char> reverse = [] {
        std::unordered_map<uint32_t, unsigned char> r;
        for (uint32_t b = 0; b < 256; ++b) r[byte_to_unicode()[b]] = static_cast<unsigned char>(b);
        return r;
    }();
    out.clear();
    for (size_t i = 0; i < token.size();) {
        const size_t n = utf8_sequence_length(token, i);
        if (n == 0) return false;
        uint32_t cp = static_cast<unsigned char>(token[i]);
        if (n > 1) {
            cp &= (0xff >> (n + 1));
            for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (token[i + k] & 0x3f);
        }
        const auto it = reverse.find(cp);
        if (it == reverse.end()) return false;
        out += static_cast<char>(it->second);
        i += n;
    }
    return true;
}

}  // namespace autoglm
