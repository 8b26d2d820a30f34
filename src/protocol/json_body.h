// Request bodies parsed as nlohmann::ordered_json without lexing megabytes of data URLs byte by
// byte: long plain string values are cut out before the parse and put back after it.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace autoglm {

// The same value (or the same failure: a discarded value) as
// nlohmann::ordered_json::parse(text, nullptr, false). String values of at least `min_long`
// bytes that need no unescaping (printable ASCII, no backslash) skip the JSON lexer: each is
// replaced by a short placeholder for the parse and moved into place afterwards, so a
// screenshot's ~1.4 MB data URL costs one scan and one copy.
nlohmann::ordered_json parse_json_fast(std::string_view text, size_t min_long = 16 * 1024);

}  // namespace autoglm
