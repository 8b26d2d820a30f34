// The built-in demo model's tokenizer and chat template: written by this project, needing no
// downloaded files. Bytes are tokens 0..255, pseudo-words fill the ids up to GLM's special tokens,
// which keep their real ids.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace autoglm {

std::unique_ptr<Tokenizer> make_demo_tokenizer();
// A GLM-4.1V-style template ([gMASK]<sop>, <|role|>\n content, image placeholders).
const std::string& demo_chat_template();

}  // namespace autoglm
