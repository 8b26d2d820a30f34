// The CPU text decoder against transformers on tiny random GLM-4.1V checkpoints (tests/data,
// written by tools/golden/make_text_goldens.py): every layer's hidden states and the logits within
// 1e-4 relative (max|a-b| / max|b|), and 32 greedy tokens through the KV cache identical.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "loader/safetensors.h"
#include "model/glm4v/model.h"
#include "util/golden.h"

namespace autoglm {
namespace {

constexpr double kRelTolerance = 1e-4;
// The FP8 KV cache's logits against transformers' on these random-weight fixtures: measured
// 0.058 (tiny_f32) and 0.043 (tiny_bf16_sharded).
constexpr double kFp8KvTolerance = 0.1;

struct Golden {
    SafetensorsFile file;
    std::vector<int32_t> input_ids;
    std::vector<int32_t> generated_ids;
};

Golden load_golden(const std::string& fixture) {
    auto f = SafetensorsFile::open(std::string(AUTOGLM_TEST_DATA_DIR) + "/" + fixture +
                                   "/golden.safetensors");
    EXPECT_TRUE(f.ok()) << f.error_message();
    Golden g{std::move(f).value(), {}, {}};
    g.input_ids = testing::read_tensor<int32_t>(g.file, "input_ids");
    g.generated_ids = testing::read_tensor<int32_t>(g.file, "generated_ids");
    return g;
}

std::unique_ptr<Glm4vModel> load_fixture_model(const std::string& fixture) {
    LoadOptions options;
    options.model = std::string(AUTOGLM_TEST_DATA_DIR) + "/" + fixture + "/model";
    auto model = Glm4vModel::load(options);
    EXPECT_TRUE(model.ok()) << model.error_message();
    return model.ok() ? std::move(model).value() : nullptr;
}

std::vector<float> read_f32(const TensorView& v) {
    std::vector<float> out(static_cast<size_t>(v.numel()));
    to_f32(v.dtype, v.data, out.data(), out.size());
    return out;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, LayerwiseHiddenStatesAndLogitsMatchTransformers) {
    const Golden g = load_golden(GetParam());
    auto model = load_fixture_model(GetParam());
    ASSERT_TRUE(model);
    const auto& text = model->text();
    DenseKvCache cache(text.config(), static_cast<int64_t>(g.input_ids.size()));
    const auto positions = text_positions(0, static_cast<int64_t>(g.input_ids.size()));
    testing::Recorder rec;
    TextForwardArgs args{g.input_ids, positions, /*all_logits=*/true, &rec};
    text.forward(args, cache);
    // Taps in forward order; the first one off the reference names the bad layer.
    double worst = 0;
    std::string worst_name;
    ASSERT_EQ(rec.order.size(), static_cast<size_t>(text.config().num_hidden_layers + 3));
    for (const std::string& name : rec.order) {
        ASSERT_TRUE(g.file.contains(name)) << "golden lacks " << name;
        const double err = testing::relative_error(rec.tensors[name], read_f32(g.file.view(name)));
        ASSERT_LE(err, kRelTolerance) << "first mismatch at '" << name << "': relative error "
                                      << err << " (fixture " << GetParam() << ")";
        if (err >= worst) worst = err, worst_name = name;
    }
    std::printf("%s: %zu taps within %.0e; worst relative error %.3g at '%s'\n", GetParam().c_str(),
                rec.order.size(), kRelTolerance, worst, worst_name.c_str());
}

// The FP8 KV cache as the CPU emulates it (every cached K and V row rounded to e4m3 under its
// head's power-of-two scale, the token's own included): the whole prompt's logits stay within
// kFp8KvTolerance of transformers' (a bf16-free f32 cache there), and the rounding is really
// applied (the error is far above the exact cache's 1e-4).
TEST_P(GoldenTest, Fp8KvCacheLogitsStayNearTransformers) {
    const Golden g = load_golden(GetParam());
    auto model = load_fixture_model(GetParam());
    ASSERT_TRUE(model);
    const auto& text = model->text();
    DenseKvCache cache(text.config(), static_cast<int64_t>(g.input_ids.size()), KvStorage::kFp8);
    const auto positions = text_positions(0, static_cast<int64_t>(g.input_ids.size()));
    testing::Recorder rec;
    TextForwardArgs args{g.input_ids, positions, /*all_logits=*/true, &rec};
    text.forward(args, cache);
    const double err =
        testing::relative_error(rec.tensors["logits"], read_f32(g.file.view("logits")));
    std::printf("%s: FP8 KV cache, logits relative error %.3g\n", GetParam().c_str(), err);
    EXPECT_LE(err, kFp8KvTolerance);
    EXPECT_GT(err, 10 * kRelTolerance);
}

TEST_P(GoldenTest, GreedyThroughKvCacheMatchesTransformers) {
    const Golden g = load_golden(GetParam());
    auto model = load_fixture_model(GetParam());
    ASSERT_TRUE(model);
    ASSERT_EQ(g.generated_ids.size(), 32u);
    const auto ids = generate_greedy(model->text(), g.input_ids, 32);
    EXPECT_EQ(ids, g.generated_ids);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest, ::testing::Values("tiny_f32", "tiny_bf16_sharded"));

}  // namespace
}  // namespace autoglm
