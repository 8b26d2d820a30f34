// UTF-8 helpers for tokenization: validity scanning, lossy repair (U+FFFD per maximal invalid
// subpart, as Python's errors="replace"), and GPT-2's byte <-> unicode map used by byte-level BPE.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace autoglm {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are invalid or
// truncated. `truncated` (optional) is set when the bytes are a valid but incomplete prefix.
size_t utf8_sequence_length(std::string_view s, size_t i, bool* truncated = nullptr);

// For invalid bytes at s[i]: the length of the maximal invalid subpart (>= 1) that
// utf8_repair replaces with one U+FFFD.
size_t utf8_invalid_subpart(std::string_view s, size_t i);

bool is_valid_utf8(std::string_view s);

// Replaces every invalid sequence with U+FFFD (maximal subparts, like Python's "replace").
std::string utf8_repair(std::string_view s);

// Appends the UTF-8 encoding of a code point.
void append_utf8(std::string& out, uint32_t code_point);

// GPT-2 byte-level alphabet: byte b <-> one printable code point.
const std::array<uint32_t, 256>& byte_to_unicode();
// Decodes a byte-level token string (e.g. "Ġhello") into raw bytes; false if a character is not
// in the alphabet.
bool byte_level_decode(std::string_view token, std::string& out);

}  // namespace autoglm
