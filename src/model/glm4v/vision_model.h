// The GLM-4.1V vision tower on the CPU reference backend (spec §5.5-5.9): patch embedding as a
// GEMM, post-conv RMSNorm, bicubically resampled learned position embeddings, blocks with 2-D
// rotary and full attention per image, post-norm, 2x2 downsample, merger. f32 arithmetic.
#pragma once

#include <array>
#include <span>
#include <vector>

#include "model/forward_batch.h"
#include "model/glm4v/config.h"
#include "model/glm4v/weights.h"

namespace autoglm {

// Grid of one image in patches: (t, h, w); t = 1 for still images.
struct ImageGrid {
    int64_t t = 1;
    int64_t h = 0;
    int64_t w = 0;
    int64_t num_patches() const { return t * h * w; }
};

// Patch coordinates (row, col) of each row of an image's pixel values, in merge-window order
// (m x m windows in raster order, then the patches of a window in raster order).
std::vector<std::array<int64_t, 2>> vision_patch_coordinates(const ImageGrid& grid,
                                                             int64_t merge_size);

class Glm4vVisionModel {
  public:
    Glm4vVisionModel(const Glm4vVisionConfig& config, const VisionWeights& weights);

    // pixel_values [sum(num_patches), patch_input_dim] in merge-window order (spec §5.4), images
    // concatenated -> embeddings [sum(num_patches) / merge^2, out_hidden_size], image by image.
    std::vector<float> forward(std::span<const float> pixel_values,
                               std::span<const ImageGrid> grids,
                               LayerObserver* observer = nullptr) const;

    std::vector<std::array<int64_t, 2>> patch_coordinates(const ImageGrid& grid) const {
        return vision_patch_coordinates(grid, config_.spatial_merge_size);
    }

    // The GPU's FP8 vision blocks (CudaModelOptions::fp8_vision) emulated in f32, for tests: the
    // inputs of the blocks' qkv, proj, gate/up and down layers rounded per row by
    // cpu::fp8_round_rows. With block weights rounded alike per output row (the caller's
    // weights), this is the FP8 tower without the GPU's bf16 roundings.
    void set_fp8_block_inputs(bool on) { fp8_block_inputs_ = on; }

  private:
    void add_position_embeddings(float* x, std::span<const ImageGrid> grids) const;
    void block(int64_t index, float* x, int64_t n, std::span<const ImageGrid> grids,
               const float* cos, const float* sin) const;
    std::vector<float> merge(const float* x, int64_t n) const;

    Glm4vVisionConfig config_;
    const VisionWeights& weights_;
    std::vector<float> inv_freq_;  // [head_dim / 4] rotary frequencies per axis
    bool fp8_block_inputs_ = false;
};

}  // namespace autoglm
