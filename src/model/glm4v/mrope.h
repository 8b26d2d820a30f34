// Text M-RoPE tables (spec §3.5): frequency pair i of the rotary dims takes its angle from the
// t, h or w position by mrope_section; rotation is applied to adjacent pairs (2i, 2i+1).
#pragma once

#include <span>
#include <vector>

#include "model/forward_batch.h"
#include "model/glm4v/config.h"

namespace autoglm {

class MropeTable {
  public:
    explicit MropeTable(const Glm4vTextConfig& config);

    int64_t num_pairs() const { return static_cast<int64_t>(inv_freq_.size()); }
    // The one table of the model (the GPU copies it into its kernel parameters).
    std::span<const float> inv_freq() const { return inv_freq_; }
    std::span<const int> section() const { return section_; }
    // cos, sin: [positions.size(), num_pairs()]
    void compute(std::span<const Position3> positions, float* cos, float* sin) const;

  private:
    std::vector<float> inv_freq_;  // [num_pairs], f32 as the reference computes it
    std::vector<int> section_;     // [num_pairs]: 0 = t, 1 = h, 2 = w
};

// Positions of a text-only sequence: (start + i) in all three components.
std::vector<Position3> text_positions(int64_t start, int64_t count);

}  // namespace autoglm
