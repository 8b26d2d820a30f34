// The demo tokenizer (no files), special-token lookup and vLLM's "string" content format.
#include <gtest/gtest.h>

#include "tokenizer/builtin.h"
#include "tokenizer/content_format.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/template_source.h"
#include "util/temp_dir.h"

namespace autoglm {
namespace {

using nlohmann::json;

TEST(DemoTokenizer, LosslessWithRealSpecialIds) {
    const auto tok = make_demo_tokenizer();
    for (const std::string s :
         {"hello world", "你好，世界 😀", "  \n\t x", "<|user|>\nhi<|assistant|>\n", " ka tebo"}) {
        EXPECT_EQ(tok->decode(tok->encode(s)), s);
    }
    EXPECT_EQ(tok->encode("[gMASK]<sop>"), (std::vector<int32_t>{151331, 151333}));
    EXPECT_EQ(tok->encode(" ba"), (std::vector<int32_t>{256}));  // first pseudo-word
    EXPECT_EQ(tok->encode(" ka"), (std::vector<int32_t>{256 + 6 * 5}));
    EXPECT_EQ(tok->vocab_size(), 151352);
    // Every id below the specials decodes to text, so random models still stream words.
    EXPECT_EQ(tok->token_bytes(151328).empty(), false);
    EXPECT_EQ(tok->decode(std::vector<int32_t>{256, 257}), " ba be");
}

TEST(SpecialTokens, FoundByText) {
    const auto tok = make_demo_tokenizer();
    const SpecialTokens s = find_special_tokens(*tok);
    EXPECT_EQ(s.user, 151336);
    EXPECT_EQ(s.image, 151343);
    EXPECT_EQ(s.answer_end, 151348);
    EXPECT_EQ(s.think_begin, 151350);
    EXPECT_EQ(s.stop_ids({}), (std::vector<int64_t>{151329, 151336, 151338, 151348}));
    EXPECT_EQ(s.stop_ids({7}), (std::vector<int64_t>{7}));
}

TEST(ContentFormat, StringFlattensLikeVllm) {
    const json messages = json::parse(R"([
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}},
                                     {"type": "text", "text": "Q1"}, {"type": "text", "text": "Q2"}]},
        {"role": "user", "content": [{"type": "text", "text": "only"}]},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}},
                                     {"type": "image_url", "image_url": {"url": "y"}}]}
    ])");
    const json flat = apply_content_format(messages, ContentFormat::kString);
    EXPECT_EQ(flat[0]["content"], "S");
    EXPECT_EQ(flat[1]["content"], "<|begin_of_image|><|image|><|end_of_image|>\nQ1\nQ2");
    EXPECT_EQ(flat[2]["content"], "only");
    EXPECT_EQ(flat[3]["content"],
              "<|begin_of_image|><|image|><|end_of_image|>\n"
              "<|begin_of_image|><|image|><|end_of_image|>\n");
    EXPECT_EQ(apply_content_format(messages, ContentFormat::kOpenAi), messages);
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

TEST(TemplateSource, JinjaFileFirstThenTokenizerConfig) {
    testing::TempDir dir;
    EXPECT_FALSE(load_chat_template_source(dir.path()).ok());
    testing::write_file(dir.file("tokenizer_config.json"),
                        R"({"chat_template": [{"name": "tool_use", "template": "T"},
                                              {"name": "default", "template": "D"}]})");
    EXPECT_EQ(load_chat_template_source(dir.path()).value(), "D");
    EXPECT_EQ(load_chat_template_source(dir.path(), "tool_use").value(), "T");
    EXPECT_FALSE(load_chat_template_source(dir.path(), "nope").ok());
    testing::write_file(dir.file("chat_template.jinja"), "J");
    EXPECT_EQ(load_chat_template_source(dir.path()).value(), "J");
}

}  // namespace
}  // namespace autoglm
