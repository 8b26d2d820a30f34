// vLLM compatibility over loopback with the demo model: CORS preflights and headers, /tokenize and
// /detokenize, request mm_processor_kwargs, the "string" content format, logit_bias,
// return_tokens_as_token_ids and the bounds on request fields.
#include <gtest/gtest.h>

#include "server/stack.h"
#include "tokenizer/content_format.h"

namespace autoglm {
namespace {

using testing::chat_body;
using testing::data_url;
using testing::demo_model;
using testing::expect_error;
using testing::http_call;
using testing::image_message;
using testing::json;
using testing::post_json;
using testing::Stack;
using testing::StackOptions;

const std::string kPng = std::string(AUTOGLM_TEST_DATA_DIR) + "/images/phone.png";  // 390x870

bool has_cors_header(const testing::HttpReply& r) {
    for (const auto& [name, value] : r.headers)
        if (name.rfind("Access-Control-", 0) == 0) return true;
    return false;
}

TEST(Cors, PreflightFromAnAllowedOriginOnlyAndHeadersOnResponses) {
    StackOptions o;
    o.serve.cors.allowed_origins = {"https://app.example"};
    o.serve.cors.allowed_headers = {"authorization", "content-type"};
    Stack s(o);
    const std::map<std::string, std::string> preflight = {
        {"Origin", "https://app.example"},
        {"Access-Control-Request-Method", "POST"},
        {"Access-Control-Request-Headers", "authorization, content-type"}};
    auto r = http_call(s.port(), "OPTIONS", "/v1/chat/completions", "", preflight);
    EXPECT_EQ(r.status, 204);
    EXPECT_EQ(r.headers["Access-Control-Allow-Origin"], "https://app.example");
    EXPECT_EQ(r.headers["Access-Control-Allow-Headers"], "authorization, content-type");
    EXPECT_NE(r.headers["Access-Control-Allow-Methods"].find("POST"), std::string::npos);
    EXPECT_EQ(r.headers["Vary"], "Origin");

    auto evil = preflight;
    evil["Origin"] = "https://evil.example";
    r = http_call(s.port(), "OPTIONS", "/v1/chat/completions", "", evil);
    EXPECT_EQ(r.status, 400);
    EXPECT_FALSE(has_cors_header(r));
    auto odd_header = preflight;
    odd_header["Access-Control-Request-Headers"] = "x-secret";
    r = http_call(s.port(), "OPTIONS", "/v1/chat/completions", "", odd_header);
    EXPECT_EQ(r.status, 400);
    EXPECT_FALSE(has_cors_header(r));

    r = post_json(s.port(), "/v1/chat/completions", chat_body("hi", 2),
                  {{"Origin", "https://app.example"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers["Access-Control-Allow-Origin"], "https://app.example");
    r = post_json(s.port(), "/v1/chat/completions", chat_body("hi", 2),
                  {{"Origin", "https://evil.example"}});
    EXPECT_FALSE(has_cors_header(r));
    // A plain OPTIONS (not a preflight) is still not a route.
    EXPECT_EQ(http_call(s.port(), "OPTIONS", "/v1/models").status, 405);
}

TEST(Cors, DefaultsAllowEveryOrigin) {
    Stack s;
    auto r = http_call(s.port(), "OPTIONS", "/v1/models", "",
                       {{"Origin", "http://localhost:3000"},
                        {"Access-Control-Request-Method", "GET"},
                        {"Access-Control-Request-Headers", "x-anything"}});
    EXPECT_EQ(r.status, 204);
    EXPECT_EQ(r.headers["Access-Control-Allow-Origin"], "*");
    EXPECT_EQ(r.headers["Access-Control-Allow-Headers"], "x-anything");
    r = http_call(s.port(), "GET", "/health", "", {{"Origin", "http://localhost:3000"}});
    EXPECT_EQ(r.headers["Access-Control-Allow-Origin"], "*");
}

json conversation() {
    return json::array(
        {{{"role", "system"}, {"content", "You operate a phone."}},
         {{"role", "user"}, {"content", "打开设置"}},
         {{"role", "assistant"}, {"content", "<answer>do(action=\"Launch\")</answer>"}},
         {{"role", "user"}, {"content", "then wifi"}}});
}

std::vector<int32_t> rendered_ids(const json& messages, bool add_generation_prompt) {
    auto tmpl = jinja::ChatTemplate::compile(demo_chat_template());
    json context = {{"messages", messages}, {"add_generation_prompt", add_generation_prompt}};
    auto text = tmpl.value().render(OrderedJson(context));
    return make_demo_tokenizer()->encode(text.value());
}

TEST(Tokenize, ChatAndPromptEqualTheTokenizerOnTheTemplatesRendering) {
    Stack s;
    auto r = post_json(s.port(), "/tokenize",
                       {{"messages", conversation()}, {"add_generation_prompt", false}});
    ASSERT_EQ(r.status, 200) << r.body;
    const auto want = rendered_ids(conversation(), false);
    EXPECT_EQ(r.json()["tokens"].get<std::vector<int32_t>>(), want);
    EXPECT_EQ(r.json()["count"], want.size());
    EXPECT_EQ(r.json()["max_model_len"], 512);
    r = post_json(s.port(), "/tokenize", {{"messages", conversation()}});  // vLLM's default: on
    EXPECT_EQ(r.json()["tokens"].get<std::vector<int32_t>>(), rendered_ids(conversation(), true));
    r = post_json(s.port(), "/tokenize", {{"prompt", "你好 world"}, {"return_token_strs", true}});
    ASSERT_EQ(r.status, 200) << r.body;
    const auto ids = make_demo_tokenizer()->encode("你好 world");
    EXPECT_EQ(r.json()["tokens"].get<std::vector<int32_t>>(), ids);
    EXPECT_EQ(r.json()["token_strs"].size(), ids.size());
    r = post_json(s.port(), "/detokenize", {{"tokens", ids}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["prompt"], "你好 world");

    expect_error(post_json(s.port(), "/tokenize", {{"prompt", "x"}, {"messages", conversation()}}),
                 400, "exactly one");
    expect_error(post_json(s.port(), "/detokenize", {{"tokens", {1, -2}}}), 400, "token ids");
    expect_error(post_json(s.port(), "/detokenize", {{"tokens", {1 << 30}}}), 400, "vocabulary");
    expect_error(post_json(s.port(), "/tokenize", {{"prompt", "x"}, {"model", "gpt-4"}}), 404,
                 "gpt-4");
    EXPECT_EQ(http_call(s.port(), "GET", "/tokenize").status, 405);
}

TEST(Tokenize, ImagesExpandAndMmProcessorKwargsLowerTheCap) {
    Stack s;
    const Glm4vImageProcessor processor(demo_model().config().vision);
    const int64_t full = processor.num_image_tokens(870, 390).value();
    const int64_t low = processor.with_pixel_caps(12544, 100000).num_image_tokens(870, 390).value();
    ASSERT_LT(low, full);
    json body = {{"messages", {image_message({data_url(kPng)}, "tap")}},
                 {"add_generation_prompt", true}};
    auto r = post_json(s.port(), "/tokenize", body);
    ASSERT_EQ(r.status, 200) << r.body;
    const int64_t with_full = r.json()["count"];
    const auto tokens = r.json()["tokens"].get<std::vector<int32_t>>();
    EXPECT_EQ(std::count(tokens.begin(), tokens.end(), demo_model().config().image_token_id), full);
    body["mm_processor_kwargs"] = {{"max_pixels", 100000}};
    r = post_json(s.port(), "/tokenize", body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["count"].get<int64_t>(), with_full - full + low);

    // Through chat, usage follows; a cap above the server's is refused with the field named.
    json chat = chat_body("", 1);
    chat["messages"] = {image_message({data_url(kPng)}, "tap")};
    chat["mm_processor_kwargs"] = {{"max_pixels", 100000}};
    r = post_json(s.port(), "/v1/chat/completions", chat);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["usage"]["prompt_tokens"].get<int64_t>(), with_full - full + low);
    chat["mm_processor_kwargs"] = {{"max_pixels", 50000000}};
    r = post_json(s.port(), "/v1/chat/completions", chat);
    expect_error(r, 400, "above the server's limit");
    EXPECT_EQ(r.json()["error"]["param"], "mm_processor_kwargs");
    chat["mm_processor_kwargs"] = {{"fps", 2}};
    r = post_json(s.port(), "/v1/chat/completions", chat);
    expect_error(r, 400, "fps");
    EXPECT_EQ(r.json()["error"]["param"], "mm_processor_kwargs");
}

TEST(ContentFormat, StringFlattensPartsAsVllmDoes) {
    StackOptions o;
    o.serve.content_format = ContentFormat::kString;
    Stack s(o);
    const json parts = {
        {{"role", "user"},
         {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}};
    auto r = post_json(s.port(), "/tokenize", {{"messages", parts}});
    ASSERT_EQ(r.status, 200) << r.body;
    const json flat = {{{"role", "user"}, {"content", "a\nb"}}};
    EXPECT_EQ(r.json()["tokens"].get<std::vector<int32_t>>(), rendered_ids(flat, true));
}

TEST(Bounds, OversizedFieldsGet400NamingTheField) {
    Stack s;
    const auto expect_param = [&](json body, const std::string& param) {
        const auto r = post_json(s.port(), "/v1/chat/completions", body);
        EXPECT_EQ(r.status, 400) << param << ": " << r.body;
        EXPECT_EQ(r.json()["error"]["param"], param) << r.body;
    };
    json body = chat_body("hi", 2);
    body["stop"] = std::vector<std::string>(10000, "x");
    expect_param(body, "stop");
    body = chat_body("hi", 2);
    body["stop"] = {std::string(5000, 'y')};
    expect_param(body, "stop");
    body = chat_body("hi", 2);
    body["stop_token_ids"] = std::vector<int>(1000, 5);
    expect_param(body, "stop_token_ids");
    body = chat_body("hi", 2);
    json bias = json::object();
    for (int i = 0; i < 301; ++i) bias[std::to_string(i)] = 1;
    body["logit_bias"] = bias;
    expect_param(body, "logit_bias");
    body["logit_bias"] = {{"12", 500}};
    expect_param(body, "logit_bias");
    body["logit_bias"] = {{"abc", 1}};
    expect_param(body, "logit_bias");
    body = chat_body("hi", 2);
    body["n"] = 1000;
    expect_param(body, "n");
    body = chat_body("hi", 2);
    body["logprobs"] = true;
    body["top_logprobs"] = 50;
    expect_param(body, "top_logprobs");
    body = chat_body("hi", 2);
    body["logit_bias"] = {{"999999999", 1}};
    expect_error(post_json(s.port(), "/v1/chat/completions", body), 400, "out of vocabulary");
}

TEST(LogitBias, ForcesATokenAndIdsComeBackAsTokenIds) {
    Stack s;
    json body = chat_body("hi", 4);
    body["logit_bias"] = {{"1000", 100}};
    body["logprobs"] = true;
    body["return_tokens_as_token_ids"] = true;
    const auto r = post_json(s.port(), "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    const json answer = r.json();
    const json& content = answer["choices"][0]["logprobs"]["content"];
    ASSERT_EQ(content.size(), 4u) << r.body;
    for (const json& entry : content) EXPECT_EQ(entry["token"], "token_id:1000");
}

}  // namespace
}  // namespace autoglm
