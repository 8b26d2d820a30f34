// The real GLM-4.1V path end to end: the official chat template (from ../shared) rendered by our
// interpreter, tokenized with the GLM-4 vocabulary, reproduces the GLM-4.1V processor's recorded
// ids (glm41v_tokenizer_testvectors.json) for both cases; the demo template renders GLM's format.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tokenizer/builtin.h"
#include "tokenizer/jinja/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "util/golden.h"

namespace autoglm {
namespace {

using nlohmann::json;

const std::string kShared = std::string(AUTOGLM_SHARED_DIR) + "/models/glm4v-tokenizer";

// The conversation behind each recorded prompt: a system message and one user turn whose text
// follows "<|user|>\n" (and the image placeholder, for the image case).
json messages_of(const std::string& rendered) {
    const std::string sys_tag = "<|system|>\n", user_tag = "<|user|>\n",
                      image = "<|begin_of_image|><|image|><|end_of_image|>",
                      end = "<|assistant|>\n";
    const size_t s = rendered.find(sys_tag) + sys_tag.size();
    const size_t u = rendered.find(user_tag);
    std::string user_text = rendered.substr(u + user_tag.size());
    user_text.resize(user_text.size() - end.size());
    json user = {{"role", "user"}, {"content", user_text}};
    if (user_text.rfind(image, 0) == 0)
        user["content"] = json::array(
            {{{"type", "image"}}, {{"type", "text"}, {"text", user_text.substr(image.size())}}});
    return json::array({{{"role", "system"}, {"content", rendered.substr(s, u - s)}}, user});
}

TEST(ChatRender, OfficialTemplateAndVocabularyReproduceGlm41vIds) {
    if (!std::filesystem::exists(kShared + "/tokenizer.model"))
        GTEST_SKIP() << "GLM-4.1V template/vocabulary not found at " << kShared;
    auto tmpl = jinja::ChatTemplate::compile(testing::read_text(kShared + "/chat_template.jinja"));
    ASSERT_TRUE(tmpl.ok()) << tmpl.error_message();
    auto added = Tokenizer::added_tokens_from_config(
        testing::read_text(kShared + "/reference-glm-4-9b-chat/tokenizer_config.json"));
    ASSERT_TRUE(added.ok());
    auto tok =
        Tokenizer::from_tiktoken(testing::read_text(kShared + "/tokenizer.model"), added.value());
    ASSERT_TRUE(tok.ok()) << tok.error_message();
    ASSERT_TRUE(tok.value()->add_token({151343, "<|image|>", true}));
    const json vectors =
        json::parse(testing::read_text(kShared + "/glm41v_tokenizer_testvectors.json"));
    for (const json& c : vectors["cases"]) {
        const std::string want_text = c["rendered_prompt"].get<std::string>();
        auto text = tmpl.value().render(
            json{{"messages", messages_of(want_text)}, {"add_generation_prompt", true}});
        ASSERT_TRUE(text.ok()) << text.error_message();
        EXPECT_EQ(text.value(), want_text) << c["name"];
        const auto want = c["input_ids"].get<std::vector<int32_t>>();
        const auto num_image = std::count(want.begin(), want.end(), 151343);
        std::vector<int32_t> got;
        for (int32_t id : tok.value()->encode(text.value())) {
            if (id == 151343)
                got.insert(got.end(), static_cast<size_t>(num_image), id);
            else
                got.push_back(id);
        }
        EXPECT_EQ(got, want) << c["name"];
    }
}

TEST(ChatRender, DemoTemplateFollowsGlmFormat) {
    auto tmpl = jinja::ChatTemplate::compile(demo_chat_template());
    ASSERT_TRUE(tmpl.ok()) << tmpl.error_message();
    const json messages = json::parse(R"([
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]},
        {"role": "assistant", "content": "<think>T</think><answer>A</answer>"},
        {"role": "user", "content": "Q2"}])");
    auto text = tmpl.value().render(json{{"messages", messages}, {"add_generation_prompt", true}});
    ASSERT_TRUE(text.ok()) << text.error_message();
    EXPECT_EQ(text.value(),
              "[gMASK]<sop><|system|>\nS<|user|>\n<|begin_of_image|><|image|><|end_of_image|>Q"
              "<|assistant|>\n<think>T</think><answer>A</answer><|user|>\nQ2<|assistant|>\n");
}

}  // namespace
}  // namespace autoglm
