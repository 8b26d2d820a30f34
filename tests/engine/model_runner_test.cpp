// ModelRunner on the tiny bf16 fixture: a text request and a two-image request share every step
// (the image prompt prefilled in chunks that cut through an image, then decodes side by side) and
// each still produces exactly transformers' 32 greedy ids.
#include "engine/model_runner.h"

#include <gtest/gtest.h>

#include "model/glm4v/rope_index.h"
#include "util/golden.h"

namespace autoglm {
namespace {

constexpr int64_t kBlockSize = 4;
const std::string kFixture = std::string(AUTOGLM_TEST_DATA_DIR) + "/tiny_bf16_sharded";

std::unique_ptr<Glm4vModel> load_model() {
    LoadOptions options;
    options.model = kFixture + "/model";
    return std::move(Glm4vModel::load(options)).value();
}

// Gives a request enough blocks (taken from `next_block`) for `num_tokens` tokens.
void back(Request& r, int64_t num_tokens, int32_t& next_block) {
    while (static_cast<int64_t>(r.block_table.size()) * kBlockSize < num_tokens)
        r.block_table.push_back(next_block++);
}

Request text_request(const SafetensorsFile& golden) {
    return Request::make(1, testing::read_tensor<int32_t>(golden, "input_ids"));
}

Request image_request(const SafetensorsFile& golden, const Glm4vModel& model) {
    Request r = Request::make(2, testing::read_tensor<int32_t>(golden, "mm.input_ids"));
    const auto thw = testing::read_tensor<int32_t>(golden, "image_grid_thw");
    const auto pixels = testing::read_tensor<float>(golden, "pixel_values");
    std::vector<ImageGrid> grids;
    size_t pixel_offset = 0;
    int64_t token = 0;
    for (int k = 0; k < 2; ++k) {  // the prompt uses the first two images
        const ImageGrid g{thw[3 * k], thw[3 * k + 1], thw[3 * k + 2]};
        grids.push_back(g);
        auto px = std::make_shared<Glm4vProcessedImage>();
        px->grid_t = g.t, px->grid_h = g.h, px->grid_w = g.w;
        px->patch_dim = model.config().vision.patch_input_dim();
        px->num_tokens = g.num_patches() / 4;
        const size_t n = static_cast<size_t>(g.num_patches() * px->patch_dim);
        px->pixel_values.assign(pixels.begin() + static_cast<std::ptrdiff_t>(pixel_offset),
                                pixels.begin() + static_cast<std::ptrdiff_t>(pixel_offset + n));
        pixel_offset += n;
        while (r.token_ids[static_cast<size_t>(token)] != model.config().image_token_id) ++token;
        r.images.push_back(
            {px, /*content_hash=*/100u + static_cast<uint64_t>(k), token, px->num_tokens});
        token += px->num_tokens;
    }
    auto rope = compute_rope_positions(r.token_ids, grids, model.config());
    EXPECT_TRUE(rope.ok()) << rope.error_message();
    r.prompt_positions = rope.value().positions;
    r.rope_delta = rope.value().rope_delta;
    return r;
}

TEST(ModelRunner, MixedChunkedStepsGiveTransformersGreedyIds) {
    const auto model = load_model();
    auto text_golden = std::move(SafetensorsFile::open(kFixture + "/golden.safetensors")).value();
    auto mm_golden =
        std::move(SafetensorsFile::open(kFixture + "/vision_golden.safetensors")).value();
    PagedKvCache cache(model->config().text, /*num_blocks=*/64, kBlockSize);
    ModelRunner runner(*model, cache);
    Request a = text_request(text_golden);
    Request b = image_request(mm_golden, *model);
    int32_t next_block = 3;  // arbitrary, non-zero start
    // Step 1: all of a, the first 10 tokens of b (ending inside its first image).
    back(a, a.num_tokens(), next_block);
    back(b, 10, next_block);
    StepOutput out = runner.run({{{&a, a.num_tokens()}, {&b, 10}}});
    ASSERT_EQ(out.sampling_chunks, std::vector<int32_t>{0});
    a.append_output(static_cast<int32_t>(argmax({out.logits.data(), out.logits.size()})));
    // Then b's remaining prompt next to a's decodes, then both decode until 32 tokens each.
    const auto vocab = static_cast<size_t>(model->config().text.vocab_size);
    while (a.num_output_tokens() < 32 || b.num_output_tokens() < 32) {
        StepPlan plan;
        for (Request* r : {&a, &b}) {
            if (r->num_output_tokens() >= 32) continue;
            const int64_t remaining = r->num_tokens() - r->num_computed_tokens;
            const int64_t n =
                r == &b && b.num_output_tokens() == 0 ? std::min<int64_t>(remaining, 9) : remaining;
            back(*r, r->num_computed_tokens + n, next_block);
            plan.chunks.push_back({r, n});
        }
        out = runner.run(plan);
        for (size_t i = 0; i < out.sampling_chunks.size(); ++i) {
            Request* r = plan.chunks[static_cast<size_t>(out.sampling_chunks[i])].request;
            const std::span<const float> row(out.logits.data() + i * vocab, vocab);
            r->append_output(static_cast<int32_t>(argmax(row)));
        }
    }
    const auto out_a = a.output_ids(), out_b = b.output_ids();
    EXPECT_EQ(std::vector<int32_t>(out_a.begin(), out_a.end()),
              testing::read_tensor<int32_t>(text_golden, "generated_ids"));
    EXPECT_EQ(std::vector<int32_t>(out_b.begin(), out_b.end()),
              testing::read_tensor<int32_t>(mm_golden, "mm.generated_ids"));
    EXPECT_EQ(runner.num_cached_images(), 2u);  // each image encoded once, kept while b lives
    runner.release_images(b);
    EXPECT_EQ(runner.num_cached_images(), 0u);
}

}  // namespace
}  // namespace autoglm
