// Python-compatible text helpers: UTF-8 coding, whitespace, strip/split/replace and reprs.
#include "tokenizer/jinja/text_util.h"

#include "tokenizer/jinja/error.h"  // for its -Wrestrict note

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace autoglm::jinja {
namespace {

constexpr char32_t kEscapedByteBase = 0xDC00;

// Length of the UTF-8 sequence starting at s[i], or 0 when it is invalid.
size_t sequence_length(std::string_view s, size_t i, char32_t* cp) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    char32_t value = 0;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    } else if ((b0 & 0xE0) == 0xC0) {
        n = 2, value = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
        n = 3, value = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
        n = 4, value = b0 & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        value = (value << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (value < kMin[n] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
    *cp = value;
    return n;
}

bool in_set(char32_t cp, const std::u32string& set) {
    return set.find(cp) != std::u32string::npos;
}

}  // namespace

std::u32string utf8_decode(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const size_t n = sequence_length(s, i, &cp);
        if (n == 0) {
            out.push_back(kEscapedByteBase + static_cast<unsigned char>(s[i]));
            ++i;
        } else {
            out.push_back(cp);
            i += n;
        }
    }
    return out;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp >= kEscapedByteBase + 0x80 && cp <= kEscapedByteBase + 0xFF) {
        out.push_back(static_cast<char>(cp - kEscapedByteBase));
    } else if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string utf8_encode(std::u32string_view cps) {
    std::string out;
    out.reserve(cps.size());
    for (char32_t cp : cps) append_utf8(out, cp);
    return out;
}

char32_t utf8_decode_at(std::string_view s, size_t i, size_t* length) {
    char32_t cp = 0;
    const size_t n = sequence_length(s, i, &cp);
    *length = n == 0 ? 1 : n;
    return n == 0 ? kEscapedByteBase + static_cast<unsigned char>(s[i]) : cp;
}

size_t utf8_length(std::string_view s) {
    size_t count = 0;
    for (size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const size_t n = sequence_length(s, i, &cp);
        i += n == 0 ? 1 : n;
        ++count;
    }
    return count;
}

bool is_python_space(char32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string python_strip(std::string_view s, StripSide side, const std::string* chars) {
    const std::u32string cps = utf8_decode(s);
    const std::u32string set = chars ? utf8_decode(*chars) : std::u32string();
    auto strippable = [&](char32_t cp) { return chars ? in_set(cp, set) : is_python_space(cp); };
    size_t begin = 0;
    size_t end = cps.size();
    if (side != StripSide::kRight) {
        while (begin < end && strippable(cps[begin])) ++begin;
    }
    if (side != StripSide::kLeft) {
        while (end > begin && strippable(cps[end - 1])) --end;
    }
    return utf8_encode(std::u32string_view(cps).substr(begin, end - begin));
}

std::vector<std::string> python_split(std::string_view s, const std::string* sep,
                                      int64_t max_split) {
    std::vector<std::string> out;
    if (sep != nullptr) {
        size_t pos = 0;
        while (max_split < 0 || static_cast<int64_t>(out.size()) < max_split) {
            const size_t hit = s.find(*sep, pos);
            if (hit == std::string_view::npos) break;
            out.emplace_back(s.substr(pos, hit - pos));
            pos = hit + sep->size();
        }
        out.emplace_back(s.substr(pos));
        return out;
    }
    const std::u32string cps = utf8_decode(s);
    size_t i = 0;
    while (i < cps.size()) {
        while (i < cps.size() && is_python_space(cps[i])) ++i;
        if (i == cps.size()) break;
        size_t j = i;
        if (max_split >= 0 && static_cast<int64_t>(out.size()) == max_split) {
            size_t end = cps.size();
            while (end > i && is_python_space(cps[end - 1])) --end;
            j = end;
        } else {
            while (j < cps.size() && !is_python_space(cps[j])) ++j;
        }
        out.push_back(utf8_encode(std::u32string_view(cps).substr(i, j - i)));
        i = j;
    }
    return out;
}

std::string python_replace(std::string_view s, std::string_view from, std::string_view to,
                           int64_t count) {
    std::string out;
    int64_t done = 0;
    if (from.empty()) {
        const std::u32string cps = utf8_decode(s);
        for (size_t i = 0; i <= cps.size(); ++i) {
            if (count < 0 || done < count) {
                out.append(to);
                ++done;
            }
            if (i < cps.size()) append_utf8(out, cps[i]);
        }
        return out;
    }
    size_t pos = 0;
    while (count < 0 || done < count) {
        const size_t hit = s.find(from, pos);
        if (hit == std::string_view::npos) break;
        out.append(s.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
        ++done;
    }
    out.append(s.substr(pos));
    return out;
}

std::string ascii_upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string python_float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
    const std::string sci(buf, res.ptr);  // "-1.2345e+02"
    const size_t e_pos = sci.find('e');
    const int exponent = std::atoi(sci.c_str() + e_pos + 1);
    const bool negative = sci[0] == '-';
    std::string digits;
    for (size_t i = negative ? 1 : 0; i < e_pos; ++i) {
        if (sci[i] != '.') digits.push_back(sci[i]);
    }
    std::string out = negative ? "-" : "";
    if (exponent < -4 || exponent >= 16) {
        out += digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        char exp_buf[16];
        std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+',
                      std::abs(exponent));
        return out + exp_buf;
    }
    if (exponent < 0) {
        return out + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    }
    const auto int_digits = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= int_digits) {
        return out + digits + std::string(int_digits - digits.size(), '0') + ".0";
    }
    return out + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
}

namespace {

// Approximates Python's str.isprintable(): controls, separators other than ' ' and the common
// format characters are not printable.
bool is_printable(char32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) return false;
    if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F)) {
        return false;
    }
    if ((cp >= 0x205F && cp <= 0x2064) || cp == 0x3000 || cp == 0xFEFF) return false;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0xE000 && cp <= 0xF8FF)) return false;
    return true;
}

void append_escape(std::string& out, char32_t cp) {
    char buf[16];
    if (cp <= 0xFF) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(cp));
    } else if (cp <= 0xFFFF) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
    } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(cp));
    }
    out += buf;
}

}  // namespace

std::string python_string_repr(std::string_view s) {
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char quote = has_single && !has_double ? '"' : '\'';
    std::string out(1, quote);
    for (char32_t cp : utf8_decode(s)) {
        if (cp == static_cast<char32_t>(quote) || cp == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(cp));
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp >= kEscapedByteBase + 0x80 && cp <= kEscapedByteBase + 0xFF) {
            append_escape(out, cp);
        } else if (!is_printable(cp)) {
            append_escape(out, cp);
        } else {
            append_utf8(out, cp);
        }
    }
    out.push_back(quote);
    return out;
}

}  // namespace autoglm::jinja
