// Request parsing (field types, ranges, image parts, thinking switches) and the reasoning
// splitter over every way a stream can cut the think tags.
#include <gtest/gtest.h>

#include "protocol/openai_protocol.h"
#include "protocol/reasoning.h"

namespace autoglm {
namespace {

OrderedJson parse(const char* text) {
    return OrderedJson::parse(text);
}

TEST(Protocol, ChatFieldsAndDefaults) {
    std::string param;
    auto r = parse_chat_request(parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],
        "max_tokens":5,"max_completion_tokens":7,"temperature":0.5,"top_k":-1,"seed":3,
        "stop":"x","n":2,"logprobs":true,"top_logprobs":3,"enable_thinking":false,
        "chat_template_kwargs":{"enable_thinking":true,"foo":1},"unknown_field":[1,2]})"),
                                &param);
    ASSERT_TRUE(r.ok()) << r.error_message();
    const ChatRequest& c = r.value();
    EXPECT_EQ(c.model, "m");
    EXPECT_EQ(c.params.max_tokens, 7);  // max_completion_tokens wins
    EXPECT_FLOAT_EQ(c.params.temperature, 0.5f);
    EXPECT_EQ(c.params.top_k, -1);
    EXPECT_EQ(c.params.seed, 3);
    EXPECT_EQ(c.params.stop, std::vector<std::string>{"x"});
    EXPECT_EQ(c.params.n, 2);
    EXPECT_EQ(c.params.logprobs, 3);
    EXPECT_EQ(c.template_kwargs["enable_thinking"], false);  // top level over the kwargs
    EXPECT_EQ(c.template_kwargs["foo"], 1);
    EXPECT_FALSE(c.stream);
    auto d = parse_chat_request(parse(R"({"messages":[{"role":"user","content":"hi"}]})"), &param);
    ASSERT_TRUE(d.ok());
    EXPECT_FLOAT_EQ(d.value().params.temperature, 1.0f);
    EXPECT_FALSE(d.value().params.max_tokens.has_value());
    EXPECT_FALSE(d.value().params.logprobs.has_value());
}

TEST(Protocol, ImagePartsBecomeTemplateImages) {
    std::string param;
    auto r = parse_chat_request(parse(R"({"messages":[{"role":"user","content":[
        {"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}},
        {"type":"text","text":"what?"},{"type":"image_url","image_url":"file:///x.png"}]}]})"),
                                &param);
    ASSERT_TRUE(r.ok()) << r.error_message();
    EXPECT_EQ(r.value().image_urls,
              (std::vector<std::string>{"data:image/png;base64,AA==", "file:///x.png"}));
    const auto& parts = r.value().messages[0]["content"];
    EXPECT_EQ(parts[0], OrderedJson({{"type", "image"}}));
    EXPECT_EQ(parts[1]["text"], "what?");
}

TEST(Protocol, BadFieldsNameTheirParam) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature"},
        {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":1.5})", "max_tokens"},
        {R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
        {R"({"messages":[{"role":"user","content":"x"}],"stop":[1]})", "stop"},
        {R"({"messages":[{"role":"user","content":"x"}],"n":17})", "n"},
        {R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":21})", "top_logprobs"},
        {R"({"messages":[{"role":"user","content":"x"}],"seed":1e30})", "seed"},
        {R"({"messages":[]})", "messages"},
        {R"({"messages":[{"content":"x"}]})", "messages"},
        {R"({"messages":[{"role":"user","content":[{"type":"audio"}]}]})", "messages"},
        {R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages"},
    };
    for (const auto& [body, field] : cases) {
        std::string param;
        auto r = parse_chat_request(parse(body), &param);
        EXPECT_FALSE(r.ok()) << body;
        EXPECT_EQ(param, field) << body << ": " << r.error_message();
    }
    std::string param;
    EXPECT_FALSE(parse_chat_request(parse("[1]"), &param).ok());
}

TEST(Protocol, AgentActionField) {
    std::string param;
    const auto chat = [&](const std::string& extra) {
        param.clear();
        return parse_chat_request(
            OrderedJson::parse(R"({"messages":[{"role":"user","content":"hi"}])" + extra + "}"),
            &param);
    };
    auto unset = chat("");
    ASSERT_TRUE(unset.ok());
    EXPECT_FALSE(unset.value().agent_action.has_value());  // the server's --agent-action decides
    auto off = chat(R"(,"agent_action":false)");
    ASSERT_TRUE(off.ok());
    EXPECT_EQ(off.value().agent_action, false);
    auto on = chat(R"(,"agent_action":true)");
    ASSERT_TRUE(on.ok());
    EXPECT_EQ(on.value().agent_action, true);
    EXPECT_FALSE(on.value().agent_screen.has_value());
    auto sized = chat(R"(,"agent_action":{"screen_width":1080,"screen_height":2400})");
    ASSERT_TRUE(sized.ok());
    EXPECT_EQ(sized.value().agent_action, true);
    ASSERT_TRUE(sized.value().agent_screen.has_value());
    EXPECT_EQ(sized.value().agent_screen->width, 1080);
    EXPECT_EQ(sized.value().agent_screen->height, 2400);
    for (const char* bad : {R"(,"agent_action":"yes")", R"(,"agent_action":{"screen_width":1080})",
                            R"(,"agent_action":{"screen_width":0,"screen_height":5})",
                            R"(,"agent_action":{"screen_width":1.5,"screen_height":5})"}) {
        auto r = chat(bad);
        EXPECT_FALSE(r.ok()) << bad;
        EXPECT_EQ(param, "agent_action") << bad;
    }
    auto req =
        parse_agent_action_request(OrderedJson::parse(R"({"text":"x","screen_width":7})"), &param);
    EXPECT_FALSE(req.ok());
    EXPECT_EQ(param, "screen_width");
    const OrderedJson parsed = agent_action_json("do(action=\"Back\")", std::nullopt);
    EXPECT_EQ(parsed, OrderedJson::parse(R"({"agent_action":{"type":"Back"}})"));
    EXPECT_EQ(agent_action_json("nothing", std::nullopt).begin().key(), "agent_action_error");
}

TEST(Protocol, CompletionPrompts) {
    std::string param;
    auto a = parse_completion_request(parse(R"({"prompt":"hi","logprobs":2,"echo":true})"), &param);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a.value().prompt, "hi");
    EXPECT_EQ(a.value().params.logprobs, 2);
    auto b = parse_completion_request(parse(R"({"prompt":[1,2,3]})"), &param);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b.value().prompt_ids, (std::vector<int32_t>{1, 2, 3}));
    auto c = parse_completion_request(parse(R"({"prompt":["only one"]})"), &param);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c.value().prompt, "only one");
    for (const char* bad :
         {R"({})", R"({"prompt":""})", R"({"prompt":["a","b"]})", R"({"prompt":[1,-1]})",
          R"({"prompt":{}})", R"({"prompt":"x","logprobs":99})"})
        EXPECT_FALSE(parse_completion_request(parse(bad), &param).ok()) << bad;
}

TEST(Protocol, ErrorBodyIsOpenAiShaped) {
    EXPECT_EQ(
        error_body({400, "bad \"x\"", "temperature"}),
        R"({"error":{"message":"bad \"x\"","type":"BadRequestError","param":"temperature","code":400}})");
    EXPECT_EQ(error_body({429, "busy"}),
              R"({"error":{"message":"busy","type":"RateLimitError","param":null,"code":429}})");
}

// Feeds `text` cut at every pair of positions and checks the split never depends on the cuts.
void expect_split(const std::string& text, const std::string& reasoning,
                  const std::string& content) {
    for (size_t i = 0; i <= text.size(); ++i) {
        for (size_t j = i; j <= text.size(); ++j) {
            ReasoningSplitter s;
            std::string r, c;
            for (const std::string& piece :
                 {text.substr(0, i), text.substr(i, j - i), text.substr(j)}) {
                const ReasoningDelta d = s.push(piece);
                r += d.reasoning, c += d.content;
            }
            const ReasoningDelta tail = s.finish();
            r += tail.reasoning, c += tail.content;
            ASSERT_EQ(r, reasoning) << text << " cut at " << i << "," << j;
            ASSERT_EQ(c, content) << text << " cut at " << i << "," << j;
        }
    }
}

TEST(Reasoning, SplitsAtThinkTagsWhereverTheStreamIsCut) {
    expect_split("<think>plan the tap</think><answer>do(action=\"Tap\")</answer>", "plan the tap",
                 "<answer>do(action=\"Tap\")</answer>");
    expect_split("\n<think>a<b</think>\nrest", "a<b", "\nrest");
    expect_split("no tags here", "", "no tags here");
    expect_split("<thin", "", "<thin");                   // a prefix that never became the tag
    expect_split("<think>unfinished", "unfinished", "");  // cut off before </think>
    expect_split("x<think>y</think>", "", "x<think>y</think>");  // not at the start: content
}

}  // namespace
}  // namespace autoglm
