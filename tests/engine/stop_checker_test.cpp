// StopChecker: stop strings across token boundaries and their hold-back, stop token ids, eos and
// ignore_eos, min_tokens, max_tokens, and independence from how the text is split into tokens.
#include <gtest/gtest.h>

#include <random>

#include "engine/stop_checker.h"

namespace autoglm {
namespace {

constexpr int32_t kEos = 2;
constexpr int32_t kText = 100;  // any ordinary token

SamplingParams with_stop(std::vector<std::string> stop) {
    SamplingParams p;
    p.stop = std::move(stop);
    return p;
}

// Feeds text pieces as ordinary tokens; returns what was emitted piece by piece.
std::vector<std::string> feed(StopChecker& checker, const std::vector<std::string>& pieces) {
    std::vector<std::string> emitted;
    for (const std::string& piece : pieces) emitted.push_back(checker.append(kText, piece).text);
    return emitted;
}

TEST(StopStrings, SplitAcrossTokensIsHeldBackThenCut) {
    StopChecker checker(with_stop({"END"}), {kEos});
    EXPECT_EQ(feed(checker, {"abc E", "N"}), (std::vector<std::string>{"abc ", ""}));
    const StopUpdate last = checker.append(kText, "D and more");
    EXPECT_EQ(last.text, "");
    EXPECT_EQ(last.finish_reason, FinishReason::kStop);
    EXPECT_EQ(last.stop_reason, StopReason(std::string("END")));
    EXPECT_EQ(checker.emitted_text(), "abc ");
    EXPECT_TRUE(checker.finished());
}

TEST(StopStrings, FalseAlarmReleasesHeldText) {
    StopChecker checker(with_stop({"END", "xyz"}), {kEos});
    EXPECT_EQ(feed(checker, {"aE", "N", "d", "x"}), (std::vector<std::string>{"a", "", "ENd", ""}));
    EXPECT_EQ(checker.emitted_text(), "aENd");
    EXPECT_FALSE(checker.finished());
}

TEST(StopStrings, OverlappingCandidatesTakeTheFirstToComplete) {
    StopChecker a(with_stop({"abcd", "bcx"}), {kEos});
    EXPECT_EQ(feed(a, {"zab", "c"}), (std::vector<std::string>{"z", ""}));
    EXPECT_EQ(a.append(kText, "xd").stop_reason, StopReason(std::string("bcx")));
    EXPECT_EQ(a.emitted_text(), "za");
    // Both complete in one token: "xb" ends first, whatever the list order.
    for (const auto& stop : {std::vector<std::string>{"bc", "xb"}, {"xb", "bc"}}) {
        StopChecker b(with_stop(stop), {kEos});
        EXPECT_EQ(b.append(kText, "1xbc").stop_reason, StopReason(std::string("xb")));
        EXPECT_EQ(b.emitted_text(), "1");
    }
    // Same end: the longer string (it starts earlier).
    StopChecker c(with_stop({"c", "bc"}), {kEos});
    EXPECT_EQ(c.append(kText, "abcd").stop_reason, StopReason(std::string("bc")));
    EXPECT_EQ(c.emitted_text(), "a");
}

TEST(StopStrings, StopAtTheVeryStart) {
    StopChecker checker(with_stop({"Hi"}), {kEos});
    const StopUpdate u = checker.append(kText, "Hi there");
    EXPECT_EQ(u.text, "");
    EXPECT_EQ(u.finish_reason, FinishReason::kStop);
    EXPECT_EQ(checker.emitted_text(), "");
}

TEST(StopStrings, IncludeStopStrEmitsItAndHoldsNothing) {
    SamplingParams p = with_stop({"END"});
    p.include_stop_str_in_output = true;
    StopChecker checker(p, {kEos});
    EXPECT_EQ(feed(checker, {"abc E"}), (std::vector<std::string>{"abc E"}));
    const StopUpdate u = checker.append(kText, "ND tail");
    EXPECT_EQ(u.text, "ND");
    EXPECT_EQ(checker.emitted_text(), "abc END");
}

TEST(StopTokens, StopTokenIdEndsWithoutItsText) {
    SamplingParams p = with_stop({"END"});
    p.stop_token_ids = {7};
    StopChecker checker(p, {kEos});
    EXPECT_EQ(checker.append(kText, "x E").text, "x ");
    const StopUpdate u = checker.append(7, "<stop>");
    EXPECT_EQ(u.text, "E");  // held-back text is released at the end
    EXPECT_EQ(u.finish_reason, FinishReason::kStop);
    EXPECT_EQ(u.stop_reason, StopReason(int32_t{7}));
    EXPECT_EQ(checker.emitted_text(), "x E");
}

TEST(StopTokens, EosStopsUnlessIgnoredStopIdsAlwaysStop) {
    StopChecker plain(SamplingParams{}, {kEos, 5});
    EXPECT_FALSE(plain.append(kText, "a").finish_reason);
    const StopUpdate u = plain.append(5, "<eos>");
    EXPECT_EQ(u.finish_reason, FinishReason::kStop);
    EXPECT_EQ(u.stop_reason, StopReason());  // vLLM reports no stop_reason for eos
    EXPECT_EQ(plain.emitted_text(), "a");

    SamplingParams p;
    p.ignore_eos = true;
    p.stop_token_ids = {9};
    StopChecker ignoring(p, {kEos});
    EXPECT_EQ(ignoring.append(kEos, "<eos>").text, "<eos>");
    EXPECT_FALSE(ignoring.finished());
    EXPECT_EQ(ignoring.append(9, "").finish_reason, FinishReason::kStop);

    p.include_stop_str_in_output = true;  // then the stop token's text is kept (vLLM v1)
    StopChecker including(p, {kEos});
    EXPECT_EQ(including.append(9, "<nine>").text, "<nine>");
}

TEST(Lengths, MinTokensDefersEveryStop) {
    SamplingParams p = with_stop({"!"});
    p.min_tokens = 3;
    StopChecker checker(p, {kEos});
    // The first min_tokens tokens never stop (the sampler also masks eos for them); checks
    // resume with token min_tokens + 1.
    EXPECT_FALSE(checker.append(kText, "a!").finish_reason);
    EXPECT_FALSE(checker.append(kEos, "").finish_reason);  // eos is ordinary (empty) text
    EXPECT_FALSE(checker.append(kText, "b!").finish_reason);
    const StopUpdate u = checker.append(kText, "c!d");
    EXPECT_EQ(u.finish_reason, FinishReason::kStop);
    EXPECT_EQ(checker.emitted_text(), "a!b!c");
}

TEST(Lengths, MaxTokensGivesLengthAndFlushes) {
    SamplingParams p = with_stop({"END"});
    p.max_tokens = 2;
    StopChecker checker(p, {kEos});
    EXPECT_EQ(checker.append(kText, "a").text, "a");
    const StopUpdate u = checker.append(kText, "EN");
    EXPECT_EQ(u.text, "EN");
    EXPECT_EQ(u.finish_reason, FinishReason::kLength);
    EXPECT_EQ(checker.num_generated(), 2);

    StopChecker eos_last(p, {kEos});  // a stop on the last allowed token is still "stop"
    (void)eos_last.append(kText, "a");
    EXPECT_EQ(eos_last.append(kEos, "").finish_reason, FinishReason::kStop);
    StopChecker string_last(p, {kEos});
    (void)string_last.append(kText, "a");
    EXPECT_EQ(string_last.append(kText, "END").finish_reason, FinishReason::kStop);

    StopChecker capped(SamplingParams{}, {kEos}, 1);  // the engine's context cap
    EXPECT_EQ(capped.append(kText, "z").finish_reason, FinishReason::kLength);
}

TEST(Lengths, AbortReleasesHeldText) {
    StopChecker checker(with_stop({"END"}), {kEos});
    EXPECT_EQ(checker.append(kText, "xEN").text, "x");
    const StopUpdate u = checker.abort();
    EXPECT_EQ(u.text, "EN");
    EXPECT_EQ(u.finish_reason, FinishReason::kAbort);
}

TEST(FinishReasons, OpenAiNames) {
    EXPECT_EQ(finish_reason_name(FinishReason::kStop), "stop");
    EXPECT_EQ(finish_reason_name(FinishReason::kLength), "length");
    EXPECT_EQ(finish_reason_name(FinishReason::kAbort), "abort");
}

// The emitted stream must not depend on how the text is cut into tokens.
TEST(StopStrings, ResultIndependentOfTokenBoundaries) {
    const std::string text = "the abab aba cabd xx end 你好 abcabd tail";
    for (const bool include : {false, true}) {
        SamplingParams p = with_stop({"abd", "bab a", "你好", "x end"});
        p.include_stop_str_in_output = include;
        StopChecker reference(p, {kEos});
        for (const char c : text) {
            if (reference.finished()) break;
            (void)reference.append(kText, std::string(1, c));
        }
        std::mt19937 rng(5);
        for (int trial = 0; trial < 200; ++trial) {
            StopChecker checker(p, {kEos});
            std::string streamed;
            for (size_t pos = 0; pos < text.size() && !checker.finished();) {
                const size_t len = std::min(text.size() - pos, size_t{1} + rng() % 6);
                streamed += checker.append(kText, text.substr(pos, len)).text;
                pos += len;
            }
            EXPECT_EQ(streamed, reference.emitted_text());
            EXPECT_EQ(checker.emitted_text(), reference.emitted_text());
        }
        EXPECT_EQ(reference.emitted_text(), include ? "the abab a" : "the a");
    }
}

}  // namespace
}  // namespace autoglm
