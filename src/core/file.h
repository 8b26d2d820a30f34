// Reading small whole files (configs, tokenizers, templates, images) into memory.
#pragma once

#include <string>

#include "core/result.h"

namespace autoglm {

// The file's bytes; the error names the path and the reason.
Result<std::string> read_file(const std::string& path);

}  // namespace autoglm
