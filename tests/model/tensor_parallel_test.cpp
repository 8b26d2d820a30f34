// Tensor parallelism on the CPU (model/glm4v/tensor_parallel.h): the text decoder split over 2
// and 4 ranks (threads, in-memory collectives) against the same decoder whole, on the text and
// the multimodal goldens: every layer's hidden states and the logits within 1e-5 relative of
// the whole model (the sums of the split projections add in another order) and within the
// goldens' 1e-4 of transformers, and 32 greedy ids through the KV cache equal to transformers'.
// tiny_f32 has 2 KV heads (4 ranks share them in pairs), tiny_bf16_sharded 1 (every rank holds
// a copy).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "loader/safetensors.h"
#include "model/glm4v/model.h"
#include "model/glm4v/rope_index.h"
#include "model/glm4v/tensor_parallel.h"
#include "util/golden.h"

namespace autoglm {
namespace {

constexpr double kToWhole = 1e-5, kToReference = 1e-4;

struct Loaded {
    std::unique_ptr<Glm4vModel> model;
    SafetensorsFile golden;
};

Loaded load(const std::string& fixture, const std::string& golden_file) {
    const std::string dir = std::string(AUTOGLM_TEST_DATA_DIR) + "/" + fixture;
    LoadOptions options;
    options.model = dir + "/model";
    auto model = Glm4vModel::load(options);
    auto golden = SafetensorsFile::open(dir + "/" + golden_file);
    EXPECT_TRUE(model.ok() && golden.ok()) << model.error_message() << golden.error_message();
    return {std::move(model).value(), std::move(golden).value()};
}

// The prefill's taps through `ranks` ranks against the whole model's and the golden's (named
// prefix + tap), then 32 greedy ids against the golden's.
void check_split(const Glm4vModel& model, const SafetensorsFile& golden, const std::string& prefix,
                 TextForwardArgs args, int64_t rope_delta, int ranks, const std::string& label) {
    const Glm4vTextConfig& tc = model.config().text;
    const auto n = static_cast<int64_t>(args.token_ids.size());
    args.all_logits = true;
    testing::Recorder whole, split;
    args.observer = &whole;
    DenseKvCache cache(tc, n);
    model.text().forward(args, cache);
    TensorParallelText tp(tc, model.weights(), ranks, /*num_blocks=*/1, /*block_size=*/n + 32);
    args.observer = &split;
    tp.forward(args, 0);
    ASSERT_EQ(split.order, whole.order) << label;
    ASSERT_EQ(split.order.size(), static_cast<size_t>(tc.num_hidden_layers + 3));
    for (const std::string& name : split.order) {
        EXPECT_LE(testing::relative_error(split.tensors[name], whole.tensors[name]), kToWhole)
            << label << ": '" << name << "' against the whole model";
        EXPECT_LE(testing::relative_error(split.tensors[name],
                                          testing::read_tensor<float>(golden, prefix + name)),
                  kToReference)
            << label << ": '" << name << "' against transformers";
    }
    args.observer = nullptr, args.all_logits = false;
    TensorParallelText fresh(tc, model.weights(), ranks, 1, n + 32);
    const SequenceForward forward = [&](const TextForwardArgs& a, int64_t cached) {
        return fresh.forward(a, cached);
    };
    EXPECT_EQ(generate_greedy(forward, args, rope_delta, 32),
              testing::read_tensor<int32_t>(golden, prefix + "generated_ids"))
        << label;
}

class TensorParallel : public ::testing::TestWithParam<std::string> {};

TEST_P(TensorParallel, TextGoldensEqualTheWholeModel) {
    const Loaded f = load(GetParam(), "golden.safetensors");
    ASSERT_TRUE(f.model);
    const auto ids = testing::read_tensor<int32_t>(f.golden, "input_ids");
    const auto positions = text_positions(0, static_cast<int64_t>(ids.size()));
    for (int ranks : {2, 4})
        check_split(*f.model, f.golden, "", TextForwardArgs{ids, positions}, 0, ranks,
                    GetParam() + " text, " + std::to_string(ranks) + " ranks");
}

TEST_P(TensorParallel, MultimodalGoldensEqualTheWholeModel) {
    const Loaded f = load(GetParam(), "vision_golden.safetensors");
    ASSERT_TRUE(f.model);
    const Glm4vConfig& cfg = f.model->config();
    const auto ids = testing::read_tensor<int32_t>(f.golden, "mm.input_ids");
    std::vector<ImageGrid> grids = testing::read_grids(f.golden);
    grids.resize(2);  // the multimodal prompt's two images
    auto rope = compute_rope_positions(ids, grids, cfg);
    ASSERT_TRUE(rope.ok()) << rope.error_message();
    const auto pixels = testing::read_pixels(f.golden, grids, cfg.vision.patch_input_dim());
    // The vision tower is whole on every rank: its rows go to each shard's residual stream.
    const auto embeds = f.model->vision().forward(pixels, grids);
    TextForwardArgs args{ids, rope.value().positions};
    args.image_embeds = embeds;
    args.image_token_id = static_cast<int32_t>(cfg.image_token_id);
    for (int ranks : {2, 4})
        check_split(*f.model, f.golden, "mm.", args, rope.value().rope_delta, ranks,
                    GetParam() + " multimodal, " + std::to_string(ranks) + " ranks");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TensorParallel,
                         ::testing::Values("tiny_f32", "tiny_bf16_sharded"));

TEST(TensorParallelPlan, RefusesSplitsThatDoNotDivide) {
    Glm4vTextConfig c;
    c.num_attention_heads = 32, c.num_key_value_heads = 2, c.intermediate_size = 13696;
    c.hidden_size = 4096;
    for (int ok : {1, 2, 4, 8}) EXPECT_TRUE(check_tensor_parallel(c, ok).ok()) << ok;
    EXPECT_FALSE(check_tensor_parallel(c, 3).ok());  // 32 heads
    EXPECT_FALSE(check_tensor_parallel(c, 0).ok());
    EXPECT_FALSE(check_tensor_parallel(c, 64).ok());  // 32 heads
    c.intermediate_size = 13700;
    EXPECT_FALSE(check_tensor_parallel(c, 8).ok());  // 13,700 / 8 is not whole
    c.num_key_value_heads = 3, c.num_attention_heads = 12, c.intermediate_size = 96;
    EXPECT_FALSE(check_tensor_parallel(c, 2).ok());  // 3 KV heads over 2 ranks
}

// The in-memory collectives: sums in rank order on every rank, columns gathered in place.
TEST(TensorParallelPlan, CollectivesSumAndGather) {
    constexpr int kRanks = 3;
    CollectiveGroup group(kRanks);
    std::vector<std::vector<float>> data(kRanks), gathered(kRanks);
    std::vector<std::thread> threads;
    for (int r = 0; r < kRanks; ++r)
        threads.emplace_back([&, r] {
            data[r] = {static_cast<float>(r), 10.0f * static_cast<float>(r + 1)};
            group.all_reduce_sum(r, data[r].data(), 2);
            // Rank 0 owns columns 0-1 of a [2, 4] output, ranks 1 and 2 one column each.
            const int64_t col0 = r == 0 ? 0 : r + 1, cols = r == 0 ? 2 : 1;
            std::vector<float> part;
            for (int row = 0; row < 2; ++row)
                for (int64_t c = 0; c < cols; ++c)
                    part.push_back(static_cast<float>(100 * row + col0 + c));
            gathered[r].assign(8, -1.0f);
            group.all_gather_columns(r, part.data(), 2, col0, cols, 4, gathered[r].data());
        });
    for (std::thread& t : threads) t.join();
    for (int r = 0; r < kRanks; ++r) {
        EXPECT_EQ(data[r], (std::vector<float>{3.0f, 60.0f})) << "rank " << r;
        EXPECT_EQ(gathered[r], (std::vector<float>{0, 1, 2, 3, 100, 101, 102, 103}))
            << "rank " << r;
    }
}

}  // namespace
}  // namespace autoglm
