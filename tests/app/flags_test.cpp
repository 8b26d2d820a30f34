// Flags: values, switches, defaults, and every kind of bad input; the FP8 vision default.
#include "app/flags.h"

#include <gtest/gtest.h>

#include "app/common.h"
#include "model/glm4v/config.h"

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

TEST(Flags, TakesVllmSpellings) {
    Flags f = make();
    f.add("mm-processor-kwargs", "", "json");
    f.add_ignored("mm-encoder-tp-mode", "one GPU");
    f.add_ignored("trust-remote-code", "never", true);
    f.set_positional("model");
    ASSERT_TRUE(
        f.parse({"/ckpt", "--max_tokens", "5", "--mm_processor_kwargs", "{\"max_pixels\":5000000}",
                 "--mm-encoder-tp-mode=data", "--trust_remote_code"})
            .ok());
    EXPECT_EQ(f.get("model"), "/ckpt");
    EXPECT_EQ(f.get_int("max-tokens", 1, 10).value(), 5);
    EXPECT_EQ(f.get("mm-processor-kwargs"), "{\"max_pixels\":5000000}");
    ASSERT_EQ(f.notes().size(), 2u);
    EXPECT_EQ(f.notes()[0], "--mm-encoder-tp-mode data is accepted and ignored: one GPU");
    EXPECT_EQ(f.notes()[1], "--trust-remote-code is accepted and ignored: never");
    EXPECT_NE(f.help().find("accepted for vLLM compatibility"), std::string::npos);
    // Still refused: an unknown flag in either spelling, a second positional argument.
    Flags g = make();
    g.set_positional("model");
    const Status s = g.parse({"--no_such_flag", "1"});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error_message().find("unknown flag --no-such-flag"), std::string::npos);
    EXPECT_FALSE(make().parse({"/ckpt"}).ok());  // no positional declared
    Flags h = make();
    h.set_positional("model");
    EXPECT_FALSE(h.parse({"/a", "/b"}).ok());
    Flags twice = make();
    twice.set_positional("model");
    EXPECT_FALSE(twice.parse({"--model", "/a", "/b"}).ok());
    Flags later = make();  // anywhere among the flags, as argparse takes it
    later.set_positional("model");
    ASSERT_TRUE(later.parse({"--quiet", "/ckpt", "--max-tokens", "2"}).ok());
    EXPECT_EQ(later.get("model"), "/ckpt");
}

// --fp8-vision follows --quantization fp8 where the tower fits and the checkpoint is not an FP8
// one, unless given either way.
TEST(Flags, Fp8VisionFollowsTheQuantizationUnlessGiven) {
    auto parsed = [](std::vector<std::string> args) {
        Flags f("x", "test");
        add_model_flags(f);
        EXPECT_TRUE(f.parse(args).ok());
        return f;
    };
    const Glm4vConfig released;  // AutoGLM-Phone-9B's shapes
    Glm4vConfig odd = released, fp8_checkpoint = released;
    odd.vision.hidden_size = 1544;
    fp8_checkpoint.quantization = "fp8";
    const Flags fp8 = parsed({"--quantization", "fp8"});
    EXPECT_TRUE(fp8_vision_from_flags(fp8, true, released));
    EXPECT_FALSE(fp8_vision_from_flags(fp8, true, odd));
    EXPECT_FALSE(fp8_vision_from_flags(fp8, true, fp8_checkpoint));
    EXPECT_FALSE(fp8_vision_from_flags(parsed({}), false, released));
    EXPECT_FALSE(fp8_vision_from_flags(parsed({"--quantization", "fp8", "--fp8-vision=false"}),
                                       true, released));
    EXPECT_TRUE(fp8_vision_from_flags(parsed({"--fp8-vision"}), false, released));
    EXPECT_TRUE(fp8_vision_from_flags(parsed({"--quantization", "fp8", "--fp8_vision=true"}), true,
                                      fp8_checkpoint));
}

// --fp8-lm-head is on unless turned off or the checkpoint is an FP8 one (it applies with
// --quantization fp8 only: the servers refuse it alone, cli_fp8_lm_head_needs_fp8_weights).
TEST(Flags, Fp8LmHeadIsOnUnlessTurnedOff) {
    const Glm4vConfig released;
    Glm4vConfig fp8_checkpoint = released;
    fp8_checkpoint.quantization = "fp8";
    auto head = [](std::vector<std::string> args, const Glm4vConfig& config) {
        Flags f("x", "test");
        add_model_flags(f);
        EXPECT_TRUE(f.parse(args).ok());
        return fp8_lm_head_from_flags(f, config);
    };
    EXPECT_TRUE(head({"--quantization", "fp8"}, released));
    EXPECT_TRUE(head({"--quantization", "fp8", "--fp8-lm-head"}, released));
    EXPECT_FALSE(head({"--quantization", "fp8", "--fp8-lm-head=false"}, released));
    EXPECT_FALSE(head({"--fp8_lm_head=false"}, released));
    EXPECT_FALSE(head({"--quantization", "fp8"}, fp8_checkpoint));  // held as read
    EXPECT_TRUE(head({"--quantization", "fp8", "--fp8-lm-head"}, fp8_checkpoint));
}

TEST(Fp8VisionFits, TheReleasedTowerFitsOddWidthsDoNot) {
    Glm4vVisionConfig v;  // AutoGLM-Phone-9B's: 1,536 wide, MLP 4,096
    EXPECT_TRUE(fp8_vision_fits(v));
    v.hidden_size = 1544;
    EXPECT_FALSE(fp8_vision_fits(v));
    v.hidden_size = 1536, v.out_hidden_size = 4104;
    EXPECT_FALSE(fp8_vision_fits(v));
    v.out_hidden_size = kFp8VisionMaxMlpWidth + 16;
    EXPECT_FALSE(fp8_vision_fits(v));
}

}  // namespace
}  // namespace autoglm
