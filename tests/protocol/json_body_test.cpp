// parse_json_fast gives exactly what nlohmann's parser gives, for valid bodies (long plain
// strings cut out and put back, keys, escapes and non-ASCII left to the parser) and for broken
// ones (truncations and byte mutations fail or succeed alike, with equal values).
#include "protocol/json_body.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace autoglm {
namespace {

using OJson = nlohmann::ordered_json;

void expect_same(const std::string& text, size_t min_long, const std::string& label) {
    const OJson want = OJson::parse(text, nullptr, false);
    const OJson got = parse_json_fast(text, min_long);
    ASSERT_EQ(got.is_discarded(), want.is_discarded()) << label;
    if (!want.is_discarded()) {
        ASSERT_EQ(got, want) << label;
        ASSERT_EQ(got.dump(), want.dump()) << label;  // key order and number types too
    }
}

std::string long_plain(size_t n, uint32_t seed) {
    static const char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=:;,.[]{} ";
    std::mt19937 gen(seed);
    std::string s(n, 'A');
    for (char& c : s) c = kAlphabet[gen() % (sizeof(kAlphabet) - 1)];
    return s;
}

std::vector<std::string> bodies() {
    const std::string url = "data:image/png;base64," + long_plain(40000, 1);
    OJson agent = {
        {"model", "autoglm-phone-9b"},
        {"messages",
         OJson::array(
             {{{"role", "system"}, {"content", "规则: " + long_plain(3000, 2)}},
              {{"role", "user"},
               {"content", OJson::array({{{"type", "image_url"}, {"image_url", {{"url", url}}}},
                                         {{"type", "text"}, {"text", "打开设置"}}})}}})},
        {"max_tokens", 64},
        {"temperature", 0.0},
        {"seed", -3},
        {"stream", true}};
    std::vector<std::string> out{agent.dump(), agent.dump(2)};
    // Long keys, escapes and non-ASCII stay with the parser; several long values in one array;
    // a duplicated key (the last value wins, at the first one's place). (Built with append:
    // GCC 12 warns falsely on long operator+ chains.)
    std::string t = "{\"";
    t.append(long_plain(20000, 3)).append("\": \"").append(long_plain(30000, 4));
    t.append("\", \"a\": [\"").append(long_plain(20000, 5)).append("\",\"");
    t.append(long_plain(20001, 6)).append("\"], \"e\": \"").append(long_plain(20000, 7));
    t.append("\\n\\u00e9\", \"u\": \"").append(std::string(9000, 'x'));
    t.append("é\", \"a\": {\"k\": \"").append(long_plain(20000, 8)).append("\"}}");
    out.push_back(t);
    t = "\"";
    out.push_back(t.append(long_plain(50000, 9)).append("\""));  // a bare string
    t = "[[\"";
    t.append(long_plain(17000, 10)).append("\"], {\"x\": [1, 2.5e3, null, \"");
    out.push_back(t.append(long_plain(17000, 11)).append("\"]}]"));
    return out;
}

TEST(JsonBody, ValidBodiesParseToTheSameValue) {
    int i = 0;
    for (const std::string& text : bodies()) {
        for (const size_t min_long : {size_t{4}, size_t{16 * 1024}})
            expect_same(text, min_long,
                        "body " + std::to_string(i) + " min " + std::to_string(min_long));
        ++i;
    }
}

TEST(JsonBody, BrokenBodiesFailOrParseAlike) {
    std::mt19937 gen(42);
    int i = 0;
    for (const std::string& text : bodies()) {
        for (size_t cut = 0; cut < text.size(); cut += 1 + text.size() / 61)
            expect_same(text.substr(0, cut), 4, "prefix " + std::to_string(cut));
        const char kBytes[] = {'"', '\\', '{', '}', '[', ']', ':', ',', 'x', '\n', '\x01', '\xc3'};
        for (int m = 0; m < 400; ++m) {
            std::string bad = text;
            const int edits = 1 + static_cast<int>(gen() % 3);
            for (int e = 0; e < edits; ++e)
                bad[gen() % bad.size()] = kBytes[gen() % sizeof(kBytes)];
            expect_same(bad, 4, "body " + std::to_string(i) + " mutation " + std::to_string(m));
        }
        ++i;
    }
}

// A long string 300,000 arrays deep (600 kB of brackets): put back without recursion (a
// recursive walk overflows the stack here).
TEST(JsonBody, DeepNestingDoesNotRecurse) {
    const size_t depth = 300000;
    const std::string inner = long_plain(20000, 12);
    std::string text(depth, '[');
    text.append("\"").append(inner).append("\"").append(depth, ']');
    OJson got = parse_json_fast(text);
    ASSERT_FALSE(got.is_discarded());
    const OJson* v = &got;
    for (size_t i = 0; i < depth; ++i) {
        ASSERT_TRUE(v->is_array() && v->size() == 1u) << "level " << i;
        v = &(*v)[0];
    }
    ASSERT_TRUE(v->is_string());
    EXPECT_EQ(v->get<std::string>(), inner);
}

}  // namespace
}  // namespace autoglm
