// Base64: the one encoder and decoder of the project (data: URLs, tiktoken rank files, the
// benchmark's screenshots).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace autoglm {

// Standard alphabet with padding.
std::string base64_encode(std::string_view bytes);
// Standard or URL-safe alphabet, padding optional, whitespace ignored.
Result<std::string> base64_decode(std::string_view text);

}  // namespace autoglm
