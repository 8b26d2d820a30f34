// The GLM-4.1V and GLM-4-9B-chat chat templates against renderings recorded from transformers
// (tests/data/templates/template_goldens.json, made by tools/golden/make_template_goldens.py).
// The templates themselves are read from the shared model folder; the test skips without it.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer/jinja/chat_template.h"

namespace autoglm::jinja {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

const std::string kTemplateDir = std::string(AUTOGLM_SHARED_DIR) + "/models/glm4v-tokenizer";

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Template name (as the fixture spells it) -> source, or nullopt when the files are absent.
std::optional<std::map<std::string, std::string>> load_templates() {
    auto glm41v = read_file(kTemplateDir + "/chat_template.jinja");
    auto config = read_file(kTemplateDir + "/reference-glm-4-9b-chat/tokenizer_config.json");
    if (!glm41v || !config) return std::nullopt;
    return std::map<std::string, std::string>{
        {"glm41v", *glm41v}, {"glm4_chat", json::parse(*config).at("chat_template")}};
}

// ordered_json keeps each dict's key order, which tojson and printed dicts depend on.
ordered_json load_fixture() {
    auto text = read_file(std::string(AUTOGLM_TEST_DATA_DIR) + "/templates/template_goldens.json");
    if (!text) return ordered_json();
    return ordered_json::parse(*text);
}

// Where two renderings first differ, with a little context, for a readable failure.
std::string first_difference(const std::string& want, const std::string& got) {
    size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
    const size_t from = i < 40 ? 0 : i - 40;
    auto quote = [](const std::string& s) {
        return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
    };
    return "first difference at byte " + std::to_string(i) + "\n  want: ..." +
           quote(want.substr(from, 80)) + "\n  got:  ..." + quote(got.substr(from, 80));
}

TEST(JinjaGolden, FixtureCoversBothTemplates) {
    const ordered_json fixture = load_fixture();
    ASSERT_TRUE(fixture.is_object()) << "missing tests/data/templates/template_goldens.json";
    std::map<std::string, int> counts;
    for (const auto& c : fixture.at("cases")) ++counts[c.at("template").get<std::string>()];
    EXPECT_GE(counts["glm41v"], 20);
    EXPECT_GE(counts["glm4_chat"], 8);
    EXPECT_FALSE(fixture.at("renderer").get<std::string>().empty());
}

TEST(JinjaGolden, RendersLikeTransformers) {
    const auto sources = load_templates();
    if (!sources) GTEST_SKIP() << "chat templates not found under " << kTemplateDir;
    const ordered_json fixture = load_fixture();
    ASSERT_TRUE(fixture.is_object());
    std::map<std::string, ChatTemplate> compiled;
    for (const auto& [name, source] : *sources) {
        auto t = ChatTemplate::compile(source);
        ASSERT_TRUE(t.ok()) << name << ": " << t.error_message();
        compiled.emplace(name, std::move(t).value());
    }
    int passed = 0;
    for (const auto& c : fixture.at("cases")) {
        const std::string name = c.at("name");
        const auto& tmpl = compiled.at(c.at("template").get<std::string>());
        auto rendered = tmpl.render(c.at("context"));
        ASSERT_TRUE(rendered.ok()) << name << ": " << rendered.error_message();
        const std::string expected = c.at("expected");
        if (rendered.value() == expected) {
            ++passed;
        } else {
            ADD_FAILURE() << name << ": " << first_difference(expected, rendered.value());
        }
    }
    std::cout << "[ golden   ] " << passed << "/" << fixture.at("cases").size()
              << " template goldens match (" << fixture.at("renderer").get<std::string>() << ")\n";
}

}  // namespace
}  // namespace autoglm::jinja
