// Built-in filters, tests, global functions and methods on str/dict values, with the names the
// parser accepts; behavior follows jinja2 and Hugging Face's chat-template environment.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/jinja/value.h"

namespace autoglm::jinja {

struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;

    // The argument at `index` or named `name`; null when absent.
    const Value* get(size_t index, std::string_view name) const;
    // Fails when more positional arguments than `max_positional` or an unknown keyword appear.
    void check(size_t max_positional, const std::vector<std::string_view>& names,
               std::string_view callee, int line) const;
};

bool is_known_filter(std::string_view name);
bool is_known_test(std::string_view name);
bool is_known_function(std::string_view name);
bool is_known_method(std::string_view name);

// All throw TemplateError on bad arguments or types.
Value apply_filter(const std::string& name, const Value& input, const CallArgs& args, int line);
bool apply_test(const std::string& name, const Value& input, const CallArgs& args, int line);
Value call_method(const Value& object, const std::string& name, const CallArgs& args, int line);
// range, namespace, dict, raise_exception, strftime_now.
Value call_function(const std::string& name, const CallArgs& args, int line);

}  // namespace autoglm::jinja
