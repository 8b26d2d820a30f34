// What the server does with an agent request before its media: the JSON body (a ~1.4 MB data
// URL of a 1080x2400 PNG screenshot plus the system prompt) parsed and read into a ChatRequest.
//   build/release/bench/request_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "core/base64.h"
#include "image/image.h"
#include "loadgen/workloads.h"
#include "protocol/openai_protocol.h"

namespace {

const std::string& agent_body() {
    static const std::string body = [] {
        const autoglm::RgbImage screen = autoglm::loadgen::synthetic_screenshot(1080, 2400, 7);
        auto png = autoglm::encode_png(screen);
        if (!png.ok()) std::abort();
        const std::string url = "data:image/png;base64," + autoglm::base64_encode(png.value());
        nlohmann::json messages = nlohmann::json::array();
        messages.push_back(
            {{"role", "system"}, {"content", autoglm::loadgen::agent_system_prompt()}});
        messages.push_back({{"role", "user"},
                            {"content", nlohmann::json::array(
                                            {{{"type", "image_url"}, {"image_url", {{"url", url}}}},
                                             {{"type", "text"}, {"text", "打开设置"}}})}});
        const nlohmann::json body = {{"model", "autoglm-phone-9b"},
                                     {"messages", messages},
                                     {"temperature", 0.0},
                                     {"max_tokens", 64},
                                     {"stream", true}};
        return body.dump();
    }();
    return body;
}

void BM_ParseAgentBody(benchmark::State& state) {
    const std::string& body = agent_body();
    for (auto _ : state) {
        auto json = autoglm::parse_json_body(body);
        if (!json.ok()) std::abort();
        benchmark::DoNotOptimize(json.value());
    }
    state.counters["body_kB"] = static_cast<double>(body.size()) / 1000.0;
}
BENCHMARK(BM_ParseAgentBody)->Unit(benchmark::kMillisecond);

// The same body through nlohmann's parser alone (what parse_json_body did before it cut the
// long strings out).
void BM_ParseAgentBodyWholeLexer(benchmark::State& state) {
    const std::string& body = agent_body();
    for (auto _ : state) {
        auto json = nlohmann::ordered_json::parse(body, nullptr, false);
        if (json.is_discarded()) std::abort();
        benchmark::DoNotOptimize(json);
    }
}
BENCHMARK(BM_ParseAgentBodyWholeLexer)->Unit(benchmark::kMillisecond);

void BM_ParseAndReadAgentRequest(benchmark::State& state) {
    const std::string& body = agent_body();
    for (auto _ : state) {
        auto json = autoglm::parse_json_body(body);
        if (!json.ok()) std::abort();
        auto req = autoglm::parse_chat_request(json.value(), nullptr);
        if (!req.ok()) std::abort();
        benchmark::DoNotOptimize(req.value());
    }
}
BENCHMARK(BM_ParseAndReadAgentRequest)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
