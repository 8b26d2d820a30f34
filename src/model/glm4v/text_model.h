// The GLM-4.1V text decoder on the CPU reference backend (spec §3): embedding, 40 sandwich-normed
// layers (GQA attention with partial M-RoPE, SwiGLU MLP), final norm, lm_head. f32 arithmetic.
#pragma once

#include <vector>

#include "model/forward_batch.h"
#include "model/glm4v/config.h"
#include "model/glm4v/mrope.h"
#include "model/glm4v/weights.h"

namespace autoglm {

// A contiguous per-layer KV cache for one sequence (f32). Rows are cache indices; post-rope K.
class DenseKvCache {
  public:
    DenseKvCache(const Glm4vTextConfig& config, int64_t capacity);

    int64_t length() const { return length_; }
    int64_t capacity() const { return capacity_; }
    float* k(int64_t layer) { return k_[static_cast<size_t>(layer)].data(); }
    float* v(int64_t layer) { return v_[static_cast<size_t>(layer)].data(); }
    int64_t row_floats() const { return row_floats_; }  // kv_heads * head_dim
    void advance(int64_t count) { length_ += count; }
    void clear() { length_ = 0; }

  private:
    int64_t capacity_;
    int64_t row_floats_;
    int64_t length_ = 0;
    std::vector<std::vector<float>> k_, v_;  // [layers][capacity * row_floats]
};

class Glm4vTextModel {
  public:
    Glm4vTextModel(const Glm4vTextConfig& config, const Glm4vWeights& weights);

    // Runs the tokens after the cache's current length, appends their K/V and returns logits:
    // [num_tokens, vocab] with all_logits, else [1, vocab] for the last token.
    std::vector<float> forward(const TextForwardArgs& args, DenseKvCache& cache) const;

    const Glm4vTextConfig& config() const { return config_; }

  private:
    void attention_block(int64_t layer, const float* x, int64_t n, const float* cos,
                         const float* sin, DenseKvCache& cache, float* out) const;
    void mlp_block(int64_t layer, const float* x, int64_t n, float* out) const;
    void scatter_image_embeds(const TextForwardArgs& args, float* x) const;

    Glm4vTextConfig config_;
    const Glm4vWeights& weights_;
    MropeTable rope_;
};

}  // namespace autoglm
