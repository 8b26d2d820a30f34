// parse_agent_action over every action form, quoting and escaping, Chinese text, truncated replies
// and garbage.
#include "protocol/agent_action.h"

#include <gtest/gtest.h>

#include <string>

namespace autoglm {
namespace {

using Json = nlohmann::ordered_json;

Json parsed(std::string_view reply, std::optional<ScreenSize> screen = std::nullopt) {
    auto r = parse_agent_action(reply, screen);
    EXPECT_TRUE(r.ok()) << reply << ": " << r.error_message();
    return r.ok() ? r.value() : Json();
}

std::string error_of(std::string_view reply) {
    auto r = parse_agent_action(reply);
    EXPECT_FALSE(r.ok()) << reply << " parsed as " << (r.ok() ? r.value().dump() : "");
    return r.error_message();
}

TEST(AgentAction, TapInsideThinkAndAnswer) {
    const Json a = parsed(
        "<think>The settings icon is at the top right.</think>\n"
        "<answer>do(action=\"Tap\", element=[875, 62])</answer>");
    EXPECT_EQ(a, Json::parse(R"({"type":"Tap","element":[875,62]})"));
    EXPECT_EQ(a.begin().key(), "type");
}

TEST(AgentAction, PixelsFromTheScreenSize) {
    const Json tap = parsed("do(action=\"Tap\", element=[500, 300])", ScreenSize{1080, 2400});
    EXPECT_EQ(tap["element_px"], Json::parse("[540, 720]"));
    // trunc(999 / 1000 * 1080) = 1078, as the phone agent's client computes it.
    const Json swipe =
        parsed("do(action=\"Swipe\", start=[999, 800], end=[0, 200])", ScreenSize{1080, 2400});
    EXPECT_EQ(swipe, Json::parse(R"({"type":"Swipe","start":[999,800],"start_px":[1078,1920],
                                    "end":[0,200],"end_px":[0,480]})"));
    EXPECT_FALSE(parsed("do(action=\"Tap\", element=[500, 300])").contains("element_px"));
}

TEST(AgentAction, EveryPointAction) {
    for (const char* type : {"Tap", "Double Tap", "Long Press"}) {
        const Json a = parsed("do(action=\"" + std::string(type) + "\", element=[10, 20])");
        EXPECT_EQ(a["type"], type);
        EXPECT_EQ(a["element"], Json::parse("[10, 20]"));
    }
    const Json s = parsed("do(action=\"Swipe\", start=[500, 800], end=[500, 200])");
    EXPECT_EQ(s["start"], Json::parse("[500, 800]"));
    EXPECT_EQ(s["end"], Json::parse("[500, 200]"));
}

TEST(AgentAction, ActionsWithoutPoints) {
    EXPECT_EQ(parsed("do(action=\"Back\")"), Json::parse(R"({"type":"Back"})"));
    EXPECT_EQ(parsed("do(action=\"Home\")"), Json::parse(R"({"type":"Home"})"));
    EXPECT_EQ(parsed("do(action=\"Launch\", app=\"微信\")"),
              Json::parse(R"({"type":"Launch","app":"微信"})"));
    EXPECT_EQ(parsed("do(action=\"Wait\", duration=\"2 seconds\")"),
              Json::parse(R"({"type":"Wait","duration":"2 seconds","seconds":2.0})"));
    EXPECT_EQ(parsed("do(action=\"Wait\", duration=1.5)")["seconds"], 1.5);
    EXPECT_EQ(parsed("do(action=\"Take_over\", message=\"请输入验证码\")"),
              Json::parse(R"({"type":"Take_over","message":"请输入验证码"})"));
    EXPECT_EQ(parsed("do(action=\"Note\", message=\"价格 ¥35\")")["message"], "价格 ¥35");
    EXPECT_EQ(parsed("do(action=\"Call_API\", instruction=\"总结\")")["instruction"], "总结");
    EXPECT_EQ(parsed("do(action=\"Interact\")"), Json::parse(R"({"type":"Interact"})"));
}

TEST(AgentAction, OtherArgumentsAreKept) {
    const Json a = parsed("do(action=\"Tap\", element=[1, 2], message=\"重要操作\")");
    EXPECT_EQ(a, Json::parse(R"({"type":"Tap","element":[1,2],"message":"重要操作"})"));
}

TEST(AgentAction, TypeWithChineseText) {
    EXPECT_EQ(parsed("<answer>do(action=\"Type\", text=\"北京到上海的高铁票\")</answer>"),
              Json::parse(R"({"type":"Type","text":"北京到上海的高铁票"})"));
    EXPECT_EQ(parsed("do(action=\"Type_Name\", text=\"张三\")"),
              Json::parse(R"({"type":"Type_Name","text":"张三"})"));
}

TEST(AgentAction, PythonQuotingAndEscapes) {
    EXPECT_EQ(parsed(R"(do(action='Type', text='it\'s "fine"'))")["text"], "it's \"fine\"");
    EXPECT_EQ(parsed(R"(do(action="Type", text="a\"b\\c\nd\te"))")["text"], "a\"b\\c\nd\te");
    EXPECT_EQ(parsed(R"(do(action="Type", text="\u4e2d\u6587 \x41 \U0001F600"))")["text"],
              "中文 A 😀");
    EXPECT_EQ(parsed(R"(do(action="Type", text="C:\path"))")["text"], "C:\\path");  // kept
    EXPECT_EQ(parsed("do(action=\"Tap\" ,\n element = [ 3 , 4 ] , )")["element"],
              Json::parse("[3, 4]"));
    EXPECT_EQ(parsed("do(action=\"Tap\", element=(5, 6))")["element"], Json::parse("[5, 6]"));
}

TEST(AgentAction, UnescapedQuotesAreTakenRaw) {
    EXPECT_EQ(parsed("do(action=\"Type\", text=\"he said \"hi\" to me\")</answer>"),
              Json::parse(R"({"type":"Type","text":"he said \"hi\" to me"})"));
    EXPECT_EQ(parsed("do(action=\"Type_Name\", text=\"O\"Brien\")")["text"], "O\"Brien");
    EXPECT_EQ(parsed("<answer>finish(message=\"已打开\"设置\"页面\")</answer>"),
              Json::parse(R"({"type":"finish","message":"已打开\"设置\"页面"})"));
}

TEST(AgentAction, Finish) {
    EXPECT_EQ(parsed("<think>done</think><answer>finish(message=\"任务完成\")</answer>"),
              Json::parse(R"({"type":"finish","message":"任务完成"})"));
    EXPECT_EQ(error_of("finish(message=42)"), "finish: 'message' must be a string");
}

TEST(AgentAction, WhereTheCallIsLookedFor) {
    // The answer wins over a call mentioned while thinking.
    EXPECT_EQ(parsed("<think>maybe do(action=\"Back\")?</think><answer>do(action=\"Home\")"
                     "</answer>")["type"],
              "Home");
    EXPECT_EQ(parsed("<think>not do(action=\"Back\")</think>do(action=\"Home\")")["type"], "Home");
    // No tags: the first call in the text; text before and after it is ignored.
    EXPECT_EQ(parsed("I will go home. do(action=\"Home\") then wait")["type"], "Home");
    EXPECT_EQ(parsed("finish(message=\"ok\") do(action=\"Home\")")["type"], "finish");
    EXPECT_EQ(parsed("do(action=\"Home\") finish(message=\"ok\")")["type"], "Home");
}

TEST(AgentAction, TruncatedRepliesSaySo) {
    const std::string full = "<answer>do(action=\"Swipe\", start=[100, 200], end=[300, 400])";
    const size_t call = full.find("do(action=");
    for (size_t n = 0; n < full.size(); ++n) {
        const auto r = parse_agent_action(full.substr(0, n));
        ASSERT_FALSE(r.ok()) << full.substr(0, n);
        const std::string expected = n < call + 10 ? "no action" : "the action is cut off";
        EXPECT_EQ(r.error_message().rfind(expected, 0), 0u)
            << full.substr(0, n) << ": " << r.error_message();
    }
    EXPECT_TRUE(parse_agent_action(full).ok());
    EXPECT_EQ(error_of("do(action=\"Type\", text=\"unfinished").rfind("the action is cut off", 0),
              0u);
    EXPECT_EQ(error_of("finish(message=\"half").rfind("the action is cut off", 0), 0u);
}

TEST(AgentAction, GarbageIsAnErrorNotACrash) {
    EXPECT_EQ(error_of(""), "no action: the reply has no do(action=...) or finish(message=...)");
    EXPECT_EQ(error_of("<think>hmm</think><answer>I am not sure</answer>").rfind("no action", 0),
              0u);
    EXPECT_NE(error_of("do(action=Tap)").find("expected a value"), std::string::npos);
    EXPECT_NE(error_of("do(action=\"Tap\" element=[1,2])").find("expected ',' or ')'"),
              std::string::npos);
    EXPECT_NE(error_of("do(action=\"Tap\", element=[1,2]]").find("expected ',' or ')'"),
              std::string::npos);
    EXPECT_NE(error_of("do(action=\"Launch\", app=\"\\u12\")").find("bad \\u escape"),
              std::string::npos);
    EXPECT_NE(error_of("do(action=\"Tap\", element=[[[[[1]]]]])").find("nested too deep"),
              std::string::npos);
    EXPECT_NE(error_of("do(action=\"Tap\", element=[1e999, 2])").find("expected a number"),
              std::string::npos);
    std::string binary = "do(action=\"";
    binary += '\0';
    binary += "\xff\", x=1)";
    EXPECT_NE(error_of(binary).find("unknown action"), std::string::npos);
}

TEST(AgentAction, ActionsAndArgumentsAreChecked) {
    EXPECT_EQ(error_of("do(action=\"Fly\", element=[1, 2])"), "unknown action \"Fly\"");
    EXPECT_EQ(error_of("do(action=3)"), "'action' must be a string");
    EXPECT_EQ(error_of("do(action=\"Tap\")"), "Tap: 'element' is missing");
    EXPECT_EQ(error_of("do(action=\"Swipe\", start=[1, 2])"), "Swipe: 'end' is missing");
    EXPECT_EQ(error_of("do(action=\"Tap\", element=[1200, 30])"),
              "Tap: 'element' must be [x, y] with x and y in 0-999, got [1200,30]");
    EXPECT_EQ(error_of("do(action=\"Tap\", element=[-1, 30])"),
              "Tap: 'element' must be [x, y] with x and y in 0-999, got [-1,30]");
    EXPECT_EQ(error_of("do(action=\"Long Press\", element=[1, 2, 3])"),
              "Long Press: 'element' must be [x, y] with x and y in 0-999, got [1,2,3]");
    EXPECT_EQ(error_of("do(action=\"Tap\", element=\"center\")"),
              "Tap: 'element' must be [x, y] with x and y in 0-999, got \"center\"");
    EXPECT_EQ(error_of("do(action=\"Type\")"), "Type: 'text' must be a string");
    EXPECT_EQ(error_of("do(action=\"Launch\", app=7)"), "Launch: 'app' must be a string");
}

}  // namespace
}  // namespace autoglm
