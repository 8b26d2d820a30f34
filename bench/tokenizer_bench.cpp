// Tokenizer throughput: encoding ~100 KB of mixed Chinese/English text (the golden corpus repeated)
// with the GLM-4 vocabulary when ../shared has it, else the trained tokenizer.json fixture.
//   build/release/bench/tokenizer_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "tokenizer/tokenizer.h"

namespace {

using autoglm::Tokenizer;

std::string slurp(const std::string& path) {
    auto text = autoglm::read_file(path);
    return text.ok() ? text.value() : std::string();
}

std::unique_ptr<Tokenizer> load_tokenizer(std::string& label) {
    const std::string shared = std::string(AUTOGLM_SHARED_DIR) + "/models/glm4v-tokenizer";
    if (std::filesystem::exists(shared + "/tokenizer.model")) {
        auto added = Tokenizer::added_tokens_from_config(
            slurp(shared + "/reference-glm-4-9b-chat/tokenizer_config.json"));
        auto tok = Tokenizer::from_tiktoken(
            slurp(shared + "/tokenizer.model"),
            added.ok() ? added.value() : std::vector<autoglm::AddedToken>{});
        if (tok.ok()) {
            label = "glm4-tiktoken";
            return std::move(tok).value();
        }
    }
    label = "trained-tokenizer.json";
    return std::move(Tokenizer::load(std::string(AUTOGLM_TEST_DATA_DIR) + "/tokenizer/trained"))
        .value();
}

std::string mixed_text(size_t target_bytes) {
    const auto g = nlohmann::json::parse(
        slurp(std::string(AUTOGLM_TEST_DATA_DIR) + "/tokenizer/goldens.json"));
    std::string text;
    while (text.size() < target_bytes)
        for (const auto& s : g["corpus"]) text += s.get<std::string>() + "\n";
    text.resize(target_bytes);
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xc0) == 0x80)
        text.pop_back();
    return text;
}

void BM_Encode100KB(benchmark::State& state) {
    std::string label;
    const auto tok = load_tokenizer(label);
    const std::string text = mixed_text(100 * 1024);
    size_t num_ids = 0;
    for (auto _ : state) {
        auto ids = tok->encode(text);
        num_ids = ids.size();
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.counters["tokens"] = static_cast<double>(num_ids);
    state.SetLabel(label);
}
BENCHMARK(BM_Encode100KB)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
