// MropeTable: inverse frequencies base^(-2i/rotary_dim) in f32 and per-pair section lookup.
#include "model/glm4v/mrope.h"

#include <cmath>

namespace autoglm {

MropeTable::MropeTable(const Glm4vTextConfig& config) {
    const int64_t rotary_dim = config.rotary_dim();
    const int64_t pairs = rotary_dim / 2;
    const float base = static_cast<float>(config.rope_theta);
    for (int64_t i = 0; i < pairs; ++i) {
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(rotary_dim);
        inv_freq_.push_back(1.0f / std::pow(base, exponent));
        const int64_t t_end = config.mrope_section[0];
        const int64_t h_end = t_end + config.mrope_section[1];
        section_.push_back(i < t_end ? 0 : (i < h_end ? 1 : 2));
    }
}

void MropeTable::compute(std::span<const Position3> positions, float* cos, float* sin) const {
    const int64_t pairs = num_pairs();
    for (size_t r = 0; r < positions.size(); ++r) {
        const Position3& p = positions[r];
        const float pos[3] = {static_cast<float>(p.t), static_cast<float>(p.h),
                              static_cast<float>(p.w)};
        for (int64_t i = 0; i < pairs; ++i) {
            const float angle = pos[section_[i]] * inv_freq_[i];
            cos[static_cast<int64_t>(r) * pairs + i] = std::cos(angle);
            sin[static_cast<int64_t>(r) * pairs + i] = std::sin(angle);
        }
    }
}

std::vector<Position3> text_positions(int64_t start, int64_t count) {
    std::vector<Position3> out(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
        const auto p = static_cast<int32_t>(start + i);
        out[static_cast<size_t>(i)] = Position3{p, p, p};
    }
    return out;
}

}  // namespace autoglm
