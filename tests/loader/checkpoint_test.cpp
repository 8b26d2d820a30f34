// Checkpoint folders: real transformers output (single file and sharded with an index), and a
// catalogue of broken folders/indexes that must fail with an error naming the problem.
#include "loader/checkpoint.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "util/temp_dir.h"

namespace autoglm {
namespace {

using testing::safetensors_bytes;
using testing::TempDir;
using testing::write_file;

const std::string kData = AUTOGLM_TEST_DATA_DIR;

TEST(Checkpoint, OpensSingleFileFromTransformers) {
    auto ckpt = Checkpoint::open(kData + "/tiny_f32/model");
    ASSERT_TRUE(ckpt.ok()) << ckpt.error_message();
    EXPECT_EQ(ckpt.value()->num_files(), 1u);
    auto w = ckpt.value()->get({"model.language_model.embed_tokens.weight", {1024, 64}});
    ASSERT_TRUE(w.ok()) << w.error_message();
    EXPECT_EQ(w.value().dtype, DType::kF32);
}

TEST(Checkpoint, OpensShardedIndexFromTransformers) {
    auto ckpt = Checkpoint::open(kData + "/tiny_bf16_sharded/model");
    ASSERT_TRUE(ckpt.ok()) << ckpt.error_message();
    EXPECT_GT(ckpt.value()->num_files(), 1u);
    auto w = ckpt.value()->get({"lm_head.weight", {1536, 128}});
    ASSERT_TRUE(w.ok()) << w.error_message();
    EXPECT_EQ(w.value().dtype, DType::kBF16);
}

TEST(Checkpoint, ShapeMismatchNamesTensorAndShapes) {
    auto ckpt = Checkpoint::open(kData + "/tiny_f32/model");
    ASSERT_TRUE(ckpt.ok());
    auto w = ckpt.value()->get({"lm_head.weight", {1024, 65}});
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.error_message().find("'lm_head.weight' has shape [1024, 64], expected [1024, 65]"),
              std::string::npos)
        << w.error_message();
    auto missing = ckpt.value()->get({"nope.weight", {1}});
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error_message().find("missing tensor 'nope.weight'"), std::string::npos);
}

TEST(Checkpoint, UnalignedTensorIsCopiedAligned) {
    TempDir dir;
    // "pad" occupies 1 byte so "w" (F32) starts at an odd offset.
    const std::string header = R"({"pad":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                               R"("w":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
    std::string data(9, '\0');
    const float vals[2] = {1.25f, -7.0f};
    std::memcpy(&data[1], vals, 8);
    // Pad the header so that the data section itself starts 8-aligned.
    std::string padded = header + std::string((8 - (8 + header.size()) % 8) % 8, ' ');
    write_file(dir.file("model.safetensors"), safetensors_bytes(padded, data));
    auto ckpt = Checkpoint::open(dir.path());
    ASSERT_TRUE(ckpt.ok()) << ckpt.error_message();
    auto w = ckpt.value()->get({"w", {2}});
    ASSERT_TRUE(w.ok()) << w.error_message();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.value().data) % 4, 0u);
    EXPECT_EQ(static_cast<const float*>(w.value().data)[1], -7.0f);
    auto pad = ckpt.value()->get({"pad", {1}});
    ASSERT_FALSE(pad.ok());
    EXPECT_NE(pad.error_message().find("weights must be F32, F16, BF16 or F8_E4M3 with a scale"),
              std::string::npos);
}

// A one-file checkpoint from named tensors: (name, dtype, shape, bytes), laid out in order.
struct RawTensor {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::string bytes;
};
void write_checkpoint(const TempDir& dir, const std::vector<RawTensor>& tensors) {
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const RawTensor& t : tensors) {
        header[t.name] = {{"dtype", t.dtype},
                          {"shape", t.shape},
                          {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
        data += t.bytes;
    }
    write_file(dir.file("model.safetensors"), safetensors_bytes(header.dump(), data));
}
std::string floats(const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// FP8 weights as vLLM's checkpoints store them: e4m3 codes and an F32 scale per output row or
// per tensor, read back as bf16(e4m3 * scale); the scales leave the list of unused names.
TEST(Checkpoint, Fp8WeightsComeBackDequantized) {
    TempDir dir;
    // Codes: 1.0 (0x38), -2.0 (0xc0), 448 (0x7e), the smallest subnormal 2^-9 (0x01), 0.
    const std::string codes("\x38\xc0\x7e\x01\x00\x38", 6);
    write_checkpoint(dir, {{"a.weight", "F8_E4M3", {2, 3}, codes},
                           {"a.weight_scale", "F32", {2, 1}, floats({0.5f, 3.0f})},
                           {"a.input_scale", "F32", {}, floats({0.25f})},
                           {"b.weight", "F8_E4M3", {3, 2}, codes},
                           {"b.weight_scale", "F32", {}, floats({0.125f})},
                           {"c.weight", "F32", {1}, floats({7.0f})}});
    auto ckpt = Checkpoint::open(dir.path());
    ASSERT_TRUE(ckpt.ok()) << ckpt.error_message();
    auto values = [](const TensorView& v) {
        std::vector<float> out(static_cast<size_t>(v.numel()));
        to_f32(v.dtype, v.data, out.data(), out.size());
        return out;
    };
    auto a = ckpt.value()->get({"a.weight", {2, 3}});
    ASSERT_TRUE(a.ok()) << a.error_message();
    EXPECT_EQ(a.value().dtype, DType::kBF16);
    EXPECT_EQ(values(a.value()), (std::vector<float>{0.5f, -1.0f, 224.0f, 3.0f / 512, 0.0f, 3.0f}));
    auto b = ckpt.value()->get({"b.weight", {3, 2}});
    ASSERT_TRUE(b.ok()) << b.error_message();
    EXPECT_EQ(values(b.value()),
              (std::vector<float>{0.125f, -0.25f, 56.0f, 0.125f / 512, 0.0f, 0.125f}));
    EXPECT_EQ(ckpt.value()->names(),
              (std::vector<std::string>{"a.weight", "b.weight", "c.weight"}));
}

TEST(Checkpoint, Fp8WeightsWithoutUsableScalesFail) {
    const std::string codes(4, '\x38');
    const std::vector<std::pair<std::vector<RawTensor>, const char*>> cases = {
        {{{"w.weight", "F8_E4M3", {2, 2}, codes}}, "FP8 tensor 'w.weight' has no scale tensor"},
        {{{"w.weight", "F8_E4M3", {2, 2}, codes},
          {"w.weight_scale", "F32", {4}, floats({1, 1, 1, 1})}},
         "expected F32 [] or [1] (per tensor) or [2] or [2, 1] (per output row)"},
        {{{"w.weight", "F8_E4M3", {2, 2}, codes},
          {"w.weight_scale", "F16", {2}, std::string(4, '\0')}},
         "scale tensor 'w.weight_scale' is F16 [2]"},
        {{{"w.weight", "F8_E4M3", {2, 2}, codes}, {"w.weight_scale", "F32", {}, floats({-1.0f})}},
         "scales must be finite and >= 0"},
        {{{"w.weight", "F8_E4M3", {2, 2}, "\x38\x7f\x38\x38"},
          {"w.weight_scale", "F32", {}, floats({1.0f})}},
         "FP8 tensor 'w.weight' holds NaN codes"},
        {{{"w.bias", "F8_E4M3", {4}, codes}}, "only weights ('...weight' beside"},
    };
    for (const auto& [tensors, expected] : cases) {
        TempDir dir;
        write_checkpoint(dir, tensors);
        auto ckpt = Checkpoint::open(dir.path());
        ASSERT_TRUE(ckpt.ok()) << ckpt.error_message();
        const RawTensor& t = tensors.front();
        auto w = ckpt.value()->get({t.name, t.shape});
        ASSERT_FALSE(w.ok()) << expected;
        EXPECT_NE(w.error_message().find(expected), std::string::npos) << w.error_message();
    }
}

struct BadFolder {
    const char* label;
    std::string index;  // empty: no index file
    std::vector<std::pair<std::string, std::string>> files;
    const char* expected;
};

TEST(Checkpoint, BrokenFoldersGiveClearErrors) {
    const std::string shard = safetensors_bytes(
        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'));
    const std::vector<BadFolder> cases = {
        {"no weights", "", {}, "no model.safetensors or model.safetensors.index.json"},
        {"index not json", "{", {}, "not valid JSON"},
        {"index without weight_map", R"({"metadata":{}})", {}, "missing object 'weight_map'"},
        {"empty weight_map", R"({"weight_map":{}})", {}, "'weight_map' is empty"},
        {"path traversal", R"({"weight_map":{"a":"../x.safetensors"}})", {}, "invalid file name"},
        {"non-string file", R"({"weight_map":{"a":3}})", {}, "invalid file name"},
        {"missing shard", R"({"weight_map":{"a":"s1.safetensors"}})", {}, "cannot open"},
        {"tensor not in shard",
         R"({"weight_map":{"b":"s1.safetensors"}})",
         {{"s1.safetensors", shard}},
         "tensor 'b' is listed in s1.safetensors"},
        {"corrupt shard",
         R"({"weight_map":{"a":"s1.safetensors"}})",
         {{"s1.safetensors", "garbage"}},
         "s1.safetensors: truncated"},
    };
    for (const BadFolder& c : cases) {
        TempDir dir;
        if (!c.index.empty()) write_file(dir.file("model.safetensors.index.json"), c.index);
        for (const auto& [name, bytes] : c.files) write_file(dir.file(name), bytes);
        auto ckpt = Checkpoint::open(dir.path());
        ASSERT_FALSE(ckpt.ok()) << c.label;
        EXPECT_NE(ckpt.error_message().find(c.expected), std::string::npos)
            << c.label << ": got '" << ckpt.error_message() << "'";
    }
    auto not_dir = Checkpoint::open("/nonexistent/folder");
    ASSERT_FALSE(not_dir.ok());
    EXPECT_NE(not_dir.error_message().find("not a directory"), std::string::npos);
}

}  // namespace
}  // namespace autoglm
