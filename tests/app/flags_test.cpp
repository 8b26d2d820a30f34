// Flags: values, switches, defaults, and every kind of bad input.
#include "app/flags.h"

#include <gtest/gtest.h>

namespace autoglm {
namespace {

Flags make() {
    Flags f("test", "summary");
    f.add("model", "demo", "model");
    f.add("max-tokens", "16", "count");
    f.add("quiet", "", "switch", true);
    return f;
}

TEST(Flags, ParsesValuesSwitchesAndDefaults) {
    Flags f = make();
    ASSERT_TRUE(f.parse({"--model", "x", "--max-tokens=3", "--quiet"}).ok());
    EXPECT_EQ(f.get("model"), "x");
    EXPECT_EQ(f.get_int("max-tokens", 1, 10).value(), 3);
    EXPECT_TRUE(f.enabled("quiet"));
    Flags g = make();
    ASSERT_TRUE(g.parse({}).ok());
    EXPECT_EQ(g.get("model"), "demo");
    EXPECT_FALSE(g.enabled("quiet"));
    EXPECT_NE(g.help().find("--max-tokens VALUE"), std::string::npos);
}

TEST(Flags, RejectsBadInput) {
    EXPECT_FALSE(make().parse({"--nope"}).ok());
    EXPECT_FALSE(make().parse({"stray"}).ok());
    EXPECT_FALSE(make().parse({"--model"}).ok());
    EXPECT_FALSE(make().parse({"--quiet=maybe"}).ok());
    Flags f = make();
    ASSERT_TRUE(f.parse({"--max-tokens", "12x"}).ok());
    EXPECT_FALSE(f.get_int("max-tokens", 1, 100).ok());
    ASSERT_TRUE(f.parse({"--max-tokens", "1000"}).ok());
    EXPECT_FALSE(f.get_int("max-tokens", 1, 100).ok());
}

}  // namespace
}  // namespace autoglm

namespace autoglm {
namespace {

TEST(Flags, AliasSetsItsTarget) {
    Flags flags("x", "test");
    flags.add("model", "demo", "model");
    flags.add_alias("model-config", "model", "alias");
    ASSERT_TRUE(flags.parse({"--model-config", "autoglm-phone-9b"}).ok());
    EXPECT_EQ(flags.get("model"), "autoglm-phone-9b");
    EXPECT_TRUE(flags.has("model"));
    EXPECT_NE(flags.help().find("--model-config"), std::string::npos);
}

}  // namespace
}  // namespace autoglm
