// Python json.dumps over template values, as Hugging Face's `tojson` filter calls it
// (ensure_ascii=False by default, optional indent, separators and sort_keys).
#pragma once

#include <optional>
#include <string>

#include "tokenizer/jinja/value.h"

namespace autoglm::jinja {

struct JsonDumpOptions {
    bool ensure_ascii = false;
    std::optional<std::string> indent;  // the per-level indent text; nullopt = single line
    std::string item_separator = ", ";  // Python's default is "," when indent is set
    std::string key_separator = ": ";
    bool sort_keys = false;
};

// Throws TemplateError for values JSON cannot hold (undefined, namespaces).
std::string json_dumps(const Value& value, const JsonDumpOptions& options, int line);

}  // namespace autoglm::jinja
