// Glm4vModel::load: fixtures, presets with dummy weights, dummy over a folder's config, and the
// fail-fast memory check for full-size dummy weights.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/dtype.h"
#include "core/file.h"
#include "loader/safetensors.h"
#include "model/glm4v/model.h"
#include "model/glm4v/mrope.h"
#include "model/glm4v/text_model.h"
#include "util/temp_dir.h"

namespace autoglm {
namespace {

const std::string kData = AUTOGLM_TEST_DATA_DIR;

TEST(Load, DemoPresetIsDeterministicPerSeed) {
    LoadOptions options;
    options.model = "demo";
    auto a = Glm4vModel::load(options);
    auto b = Glm4vModel::load(options);
    options.seed = 1;
    auto c = Glm4vModel::load(options);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.error_message();
    EXPECT_EQ(a.value()->config().text.vocab_size, 151552);
    const std::vector<int32_t> prompt = {151331, 151333, 151336, 198, 100, 200};
    const auto ids_a = generate_greedy(a.value()->text(), prompt, 6);
    EXPECT_EQ(ids_a.size(), 6u);
    EXPECT_EQ(ids_a, generate_greedy(b.value()->text(), prompt, 6));
    EXPECT_NE(ids_a, generate_greedy(c.value()->text(), prompt, 6));
}

// The tiny fixture as an FP8 checkpoint in vLLM's layout (the text decoder's linear weights in
// e4m3, attention's with a scale per output row, the MLP's with one per tensor, amax / 448, as
// `quantization_config` declares) and as the bf16 checkpoint of the values those stand for: the
// two load to the same weights, so their logits agree bit for bit.
TEST(Load, Fp8CheckpointEqualsItsDequantizedWeights) {
    using nlohmann::json;
    const std::string src = kData + "/tiny_f32/model";
    auto file = SafetensorsFile::open(src + "/model.safetensors");
    ASSERT_TRUE(file.ok()) << file.error_message();
    struct Out {
        json header = json::object();
        std::string data;
        void add(const std::string& name, const char* dtype, const Shape& shape, const void* bytes,
                 size_t n) {
            header[name] = {{"dtype", dtype},
                            {"shape", shape},
                            {"data_offsets", {data.size(), data.size() + n}}};
            data.append(static_cast<const char*>(bytes), n);
        }
    } fp8, ref;
    int quantized = 0;
    for (const auto& [name, entry] : file.value().entries()) {
        const TensorView v = file.value().view(name);
        std::vector<float> x(static_cast<size_t>(v.numel()));
        to_f32(v.dtype, v.data, x.data(), x.size());
        const bool linear = name.find("language_model.layers.") != std::string::npos &&
                            name.size() > 12 && name.ends_with("_proj.weight");
        if (!linear) {
            fp8.add(name, "F32", v.shape, x.data(), x.size() * 4);
            ref.add(name, "F32", v.shape, x.data(), x.size() * 4);
            continue;
        }
        ++quantized;
        const int64_t rows = v.shape[0], cols = v.numel() / rows;
        const bool per_tensor = name.find(".mlp.") != std::string::npos;
        std::vector<float> scale(per_tensor ? 1 : static_cast<size_t>(rows), 0.0f);
        for (int64_t i = 0; i < v.numel(); ++i) {
            float& s = scale[per_tensor ? 0 : static_cast<size_t>(i / cols)];
            s = std::max(s, std::fabs(x[static_cast<size_t>(i)]) / 448.0f);
        }
        std::vector<uint8_t> codes(x.size());
        std::vector<uint16_t> deq(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            const float s = scale[per_tensor ? 0 : i / static_cast<size_t>(cols)];
            codes[i] = f32_to_e4m3_sat(s > 0 ? x[i] / s : 0.0f);
            deq[i] = f32_to_bf16(e4m3_to_f32(codes[i]) * s);
        }
        if (!per_tensor) {
            // What --quantization fp8 does on the GPU with these bf16 rows (its quantizer equals
            // f32_to_e4m3_sat with amax / 448, tests/kernels/cuda_gemm_test.cpp): the same codes.
            int64_t differ = 0;
            for (int64_t r = 0; r < rows; ++r) {
                float amax = 0;
                for (int64_t c = 0; c < cols; ++c)
                    amax = std::max(amax, std::fabs(bf16_to_f32(deq[r * cols + c])));
                const float inv = amax > 0 ? 448.0f / amax : 1.0f;
                for (int64_t c = 0; c < cols; ++c)
                    differ += f32_to_e4m3_sat(bf16_to_f32(deq[r * cols + c]) * inv) !=
                              codes[r * cols + c];
            }
            EXPECT_EQ(differ, 0) << name << ": codes after requantizing its bf16 rows";
        }
        fp8.add(name, "F8_E4M3", v.shape, codes.data(), codes.size());
        const std::string base = name.substr(0, name.size() - 6);  // "weight"
        fp8.add(base + "weight_scale", "F32", per_tensor ? Shape{} : Shape{rows, 1}, scale.data(),
                scale.size() * 4);
        ref.add(name, "BF16", v.shape, deq.data(), deq.size() * 2);
    }
    EXPECT_EQ(quantized, 2 * 6);  // two layers: q, k, v, o, gate_up, down
    auto config = json::parse(read_file(src + "/config.json").value());
    testing::TempDir fp8_dir, ref_dir;
    testing::write_file(ref_dir.file("config.json"), config.dump());
    config["quantization_config"] = {{"quant_method", "fp8"}, {"activation_scheme", "dynamic"}};
    testing::write_file(fp8_dir.file("config.json"), config.dump());
    testing::write_file(fp8_dir.file("model.safetensors"),
                        testing::safetensors_bytes(fp8.header.dump(), fp8.data));
    testing::write_file(ref_dir.file("model.safetensors"),
                        testing::safetensors_bytes(ref.header.dump(), ref.data));

    LoadOptions options;
    options.model = fp8_dir.path();
    auto a = Glm4vModel::load(options);
    options.model = ref_dir.path();
    auto b = Glm4vModel::load(options);
    ASSERT_TRUE(a.ok() && b.ok()) << a.error_message() << b.error_message();
    EXPECT_EQ(a.value()->config().quantization, "fp8");
    EXPECT_TRUE(a.value()->report().unused.empty()) << a.value()->report().unused.front();
    const std::vector<int32_t> prompt = {1, 17, 300, 42, 999, 5, 64};
    auto logits = [&](const Glm4vModel& m) {
        DenseKvCache cache(m.text().config(), static_cast<int64_t>(prompt.size()));
        const auto positions = text_positions(0, static_cast<int64_t>(prompt.size()));
        TextForwardArgs args{prompt, positions, /*all_logits=*/true, nullptr};
        return m.text().forward(args, cache);
    };
    const auto la = logits(*a.value()), lb = logits(*b.value());
    ASSERT_EQ(la.size(), lb.size());
    EXPECT_EQ(la, lb);
    EXPECT_EQ(generate_greedy(a.value()->text(), prompt, 8),
              generate_greedy(b.value()->text(), prompt, 8));
}

TEST(Load, DummyWeightsOverACheckpointConfig) {
    LoadOptions options;
    options.model = kData + "/tiny_bf16_sharded/model";
    options.format = LoadFormat::kDummy;
    auto m = Glm4vModel::load(options);
    ASSERT_TRUE(m.ok()) << m.error_message();
    EXPECT_EQ(m.value()->config().text.num_hidden_layers, 3);
    EXPECT_NE(m.value()->source_description().find("dummy"), std::string::npos);
}

// Lines of /proc/self/maps that map a file under `dir`.
int count_mappings_under(const std::string& dir) {
    std::ifstream maps("/proc/self/maps");
    int n = 0;
    for (std::string line; std::getline(maps, line);) n += line.find(dir) != std::string::npos;
    return n;
}

TEST(Load, ReleasingHostWeightsUnmapsTheCheckpointAndKeepsTheDescription) {
    LoadOptions options;
    options.model = kData + "/tiny_bf16_sharded/model";
    auto m = Glm4vModel::load(options);
    ASSERT_TRUE(m.ok()) << m.error_message();
    Glm4vModel& model = *m.value();
    EXPECT_GE(count_mappings_under(options.model), 2) << "the shards are mapped";
    const int64_t tensors = model.report().num_tensors;
    model.release_host_weights();
    EXPECT_FALSE(model.has_host_weights());
    EXPECT_EQ(count_mappings_under(options.model), 0);
    EXPECT_EQ(model.config().text.num_hidden_layers, 3);
    EXPECT_EQ(model.report().num_tensors, tensors);
    EXPECT_DEATH((void)model.text(), "released");
}

TEST(Load, FullSizeDummyFailsFastWithoutEnoughMemory) {
    LoadOptions options;
    options.model = "autoglm-phone-9b";
    options.host_memory_limit = uint64_t{4} << 30;
    auto m = Glm4vModel::load(options);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error_message().find("need 19."), std::string::npos) << m.error_message();
    EXPECT_NE(m.error_message().find("only 4 GiB is available"), std::string::npos)
        << m.error_message();
}

TEST(Load, ErrorsNameTheProblem) {
    LoadOptions options;
    options.model = "/nonexistent/checkpoint";
    auto m = Glm4vModel::load(options);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error_message().find("config.json: cannot open"), std::string::npos)
        << m.error_message();
    options.model = "demo";
    options.format = LoadFormat::kSafetensors;
    EXPECT_FALSE(Glm4vModel::load(options).ok());
    EXPECT_FALSE(parse_load_format("pt").ok());
}

}  // namespace
}  // namespace autoglm
