// The benchmark's pieces without a server: percentiles, the Prometheus reader, URL and SLO
// parsing, the synthetic screenshot (size of its PNG, different per seed), the agent session's
// history handling, and the system prompt's length in real GLM-4 tokens (when ../shared has the
// vocabulary).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "loadgen/report.h"
#include "loadgen/stats.h"
#include "loadgen/workloads.h"
#include "tokenizer/tokenizer.h"

namespace autoglm::loadgen {
namespace {

TEST(Stats, PercentilesInterpolateLikeNumpy) {
    const Distribution d = summarize({4, 1, 3, 2, 10});
    EXPECT_EQ(d.count, 5);
    EXPECT_DOUBLE_EQ(d.mean, 4);
    EXPECT_DOUBLE_EQ(d.p50, 3);
    EXPECT_DOUBLE_EQ(d.p90, 7.6);  // numpy.percentile([1,2,3,4,10], 90)
    EXPECT_DOUBLE_EQ(d.max, 10);
    EXPECT_EQ(summarize({}).count, 0);
}

TEST(Stats, PrometheusTextIsReadBySampleAndLabel) {
    const PromSamples m = PromSamples::parse(
        "# HELP x y\n# TYPE vllm:request_success_total counter\n"
        "vllm:request_success_total{model_name=\"m\",finished_reason=\"stop\"} 3\n"
        "vllm:request_success_total{model_name=\"m\",finished_reason=\"length\"} 4\n"
        "process_resident_memory_bytes 1.5e+09\n");
    EXPECT_DOUBLE_EQ(m.sum("vllm:request_success_total"), 7);
    EXPECT_DOUBLE_EQ(m.with_label("vllm:request_success_total", "finished_reason=\"length\""), 4);
    EXPECT_DOUBLE_EQ(m.sum("process_resident_memory_bytes"), 1.5e9);
    EXPECT_FALSE(m.has("vllm:nothing"));
}

TEST(Parsing, BaseUrlsAndSlos) {
    auto e = parse_base_url("http://10.1.2.3:8001/v1");
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e.value().host, "10.1.2.3");
    EXPECT_EQ(e.value().port, 8001);
    EXPECT_EQ(e.value().base_path, "");
    EXPECT_EQ(parse_base_url("http://gw/api/v1/").value().base_path, "/api");
    EXPECT_EQ(parse_base_url("http://gw").value().port, 80);
    EXPECT_FALSE(parse_base_url("https://gw").ok());
    EXPECT_FALSE(parse_base_url("http://gw:99999").ok());
    auto slo = parse_slo("ttft=500,tpot=50");
    ASSERT_TRUE(slo.ok());
    EXPECT_EQ(*slo.value().ttft_ms, 500);
    EXPECT_EQ(*slo.value().tpot_ms, 50);
    EXPECT_FALSE(slo.value().e2e_ms);
    EXPECT_FALSE(parse_slo("ttft=-1").ok());
    EXPECT_FALSE(parse_slo("latency=5").ok());
}

TEST(Screenshot, APhoneScreenIsAboutOneMegabyteAndNewEveryStep) {
    const RgbImage a = synthetic_screenshot(1080, 2400, 1), b = synthetic_screenshot(1080, 2400, 2);
    auto png = encode_png(a, 6);
    ASSERT_TRUE(png.ok());
    EXPECT_GT(png.value().size(), 600'000u);
    EXPECT_LT(png.value().size(), 2'000'000u);
    EXPECT_NE(a.pixels, b.pixels);
    auto decoded =
        decode_image(reinterpret_cast<const uint8_t*>(png.value().data()), png.value().size());
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(decoded.value().pixels, a.pixels);
}

TEST(AgentWorkload, ScreenshotsLeaveTheHistoryRepliesStay) {
    WorkloadOptions o;
    o.image_width = 112, o.image_height = 224, o.steps = 2, o.max_tokens = 7;
    auto w = make_workload(o, 0);
    ASSERT_TRUE(w.ok());
    auto s = w.value()->new_session(0);
    auto first = s->next();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->path, "/v1/chat/completions");
    RequestResult r;
    r.status = 200;
    r.text = "<think>look</think><answer>do(action=\"Back\")</answer>";
    s->on_reply(r);
    auto second = s->next();
    ASSERT_TRUE(second);
    const auto body = nlohmann::json::parse(second->body);
    const auto& m = body["messages"];
    ASSERT_EQ(m.size(), 4u);  // system, user (text only now), assistant, user with the new image
    EXPECT_EQ(m[1]["content"].size(), 1u);
    EXPECT_EQ(m[2]["content"], "<think>look</think><answer>do(action=\"Back\")</answer>");
    EXPECT_EQ(m[3]["content"][0]["type"], "image_url");
    EXPECT_EQ(body["max_tokens"], 7);
    EXPECT_EQ(body["top_p"], 0.85);
    EXPECT_EQ(body["frequency_penalty"], 0.2);
    EXPECT_TRUE(body["stream"].get<bool>());
    EXPECT_FALSE(s->next());  // two steps per session
}

TEST(AgentWorkload, SystemPromptIsAbout1500RealGlmTokens) {
    const std::string vocab = std::string(AUTOGLM_SHARED_DIR) + "/models/glm4v-tokenizer";
    if (!std::filesystem::exists(vocab + "/tokenizer.model"))
        GTEST_SKIP() << "the GLM-4 vocabulary is not in ../shared";
    auto tok = Tokenizer::load(vocab);
    if (!tok.ok()) GTEST_SKIP() << "cannot load the vocabulary: " << tok.error_message();
    const size_t n = tok.value()->encode(agent_system_prompt()).size();
    EXPECT_GT(n, 1100u);
    EXPECT_LT(n, 2000u);
}

}  // namespace
}  // namespace autoglm::loadgen
