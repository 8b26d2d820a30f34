// Shared helper for the rendering tests: compile, render with a JSON context, compare.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/jinja/chat_template.h"

namespace autoglm::jinja {

inline void expect_render(const std::string& source, const std::string& context,
                          const std::string& expected) {
    auto compiled = ChatTemplate::compile(source);
    ASSERT_TRUE(compiled.ok()) << source << "\n" << compiled.error_message();
    auto rendered = compiled.value().render(nlohmann::ordered_json::parse(context));
    ASSERT_TRUE(rendered.ok()) << source << "\n" << rendered.error_message();
    EXPECT_EQ(rendered.value(), expected) << "template: " << source;
}

}  // namespace autoglm::jinja
