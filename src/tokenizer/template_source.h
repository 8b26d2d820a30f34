// Where a checkpoint keeps its chat template: chat_template.jinja (newer exports) or the
// "chat_template" entry of tokenizer_config.json (a string, or a list of named templates).
#pragma once

#include <string>

#include "core/result.h"

namespace autoglm {

// The template text of a checkpoint folder; `name` picks one of several named templates.
Result<std::string> load_chat_template_source(const std::string& dir,
                                              const std::string& name = "default");

}  // namespace autoglm
