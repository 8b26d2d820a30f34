// Text helpers with Python semantics: UTF-8 <-> code points (lossless for invalid bytes),
// str.isspace, strip/split, float repr and string repr.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace autoglm::jinja {

// Invalid UTF-8 bytes decode to U+DC80..U+DCFF and encode back to the same byte.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view cps);
void append_utf8(std::string& out, char32_t cp);
// Decodes the code point at s[i] and stores its byte length (1 for an invalid byte).
char32_t utf8_decode_at(std::string_view s, size_t i, size_t* length);
// Number of code points (Python len(str)).
size_t utf8_length(std::string_view s);

// Python str.isspace() for one code point.
bool is_python_space(char32_t cp);

enum class StripSide { kLeft, kRight, kBoth };
// Python str.strip()/lstrip()/rstrip(): whitespace when chars is null, else the given set.
std::string python_strip(std::string_view s, StripSide side, const std::string* chars = nullptr);
// Python str.split(): on whitespace runs when sep is null; max_split < 0 means no limit.
std::vector<std::string> python_split(std::string_view s, const std::string* sep,
                                      int64_t max_split);
// Python str.replace(); count < 0 means all. An empty `from` inserts between code points.
std::string python_replace(std::string_view s, std::string_view from, std::string_view to,
                           int64_t count);
// NOTE: ASCII-only case mapping; Python also maps non-ASCII letters.
std::string ascii_upper(std::string_view s);
std::string ascii_lower(std::string_view s);

// Python repr(float): shortest round-trip digits, '1e-05' / '1e+16' outside [1e-4, 1e16).
std::string python_float_repr(double d);
// Python repr(str): single quotes unless the text has ' and no ", escapes non-printables.
std::string python_string_repr(std::string_view s);

}  // namespace autoglm::jinja
