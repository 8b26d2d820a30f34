// Antialiased bicubic resize of 8-bit RGB, bit-exact with PyTorch's CPU uint8 kernel behind
// torchvision resize(..., BICUBIC, antialias=True) (what the transformers 5 image processors use).
#pragma once

#include <cstdint>
#include <vector>

#include "image/image.h"

namespace autoglm {

// Per-axis resampling plan: for output i, taps src[start[i] .. start[i] + count[i]) with int16
// weights[i * max_taps + k] in fixed point with `precision` fractional bits.
struct ResampleAxis {
    int64_t in_size = 0;
    int64_t out_size = 0;
    int64_t max_taps = 0;
    int precision = 0;
    std::vector<int32_t> start;
    std::vector<int32_t> count;
    std::vector<int16_t> weights;  // [out_size, max_taps]
};

// NOTE: the plan follows ATen's antialiased path exactly (align_corners = false, no explicit
// scale): scale = in / out; support = 2 * max(scale, 1); max_taps = ceil(support) * 2 + 1;
// centre = scale * (i + 0.5); first tap = max(int(centre - support + 0.5), 0); last tap + 1 =
// min(int(centre + support + 0.5), in); weight = Keys cubic (a = -0.5) at
// (j + first - centre + 0.5) / max(scale, 1), normalised to sum 1 in double; then every weight
// becomes int16 round(w * 2^p) (half away from zero) with the largest p <= 22 keeping the largest
// weight of the axis below 2^15.
ResampleAxis make_bicubic_aa_axis(int64_t in_size, int64_t out_size);

// Horizontal pass first, then vertical, each rounding to uint8:
//   out = clamp((2^(p-1) + sum_k in[k] * w[k]) >> p, 0, 255).
// A pass is skipped when its size does not change (torch copies then).
RgbImage resize_bicubic_aa(const RgbImage& src, int64_t out_width, int64_t out_height);
// The same into caller-owned buffers (reused across calls: no allocation once they are large
// enough). `tmp` holds the horizontal pass; `dst` must not alias `src`.
void resize_bicubic_aa_into(const RgbImage& src, int64_t out_width, int64_t out_height,
                            RgbImage& tmp, RgbImage& dst);

}  // namespace autoglm
