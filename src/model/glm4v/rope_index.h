// 3-D M-RoPE positions of a prompt (spec §4): text tokens advance all three components together;
// an image's tokens get (cur, cur + row, cur + col) on its merged grid and then cur advances by
// max(rows, cols). rope_delta = max position + 1 - prompt length; decoded tokens use
// cache index + rope_delta, so a token's KV slot and its rotary position differ after an image.
#pragma once

#include <span>
#include <vector>

#include "core/result.h"
#include "model/forward_batch.h"
#include "model/glm4v/config.h"
#include "model/glm4v/vision_model.h"

namespace autoglm {

struct RopePositions {
    std::vector<Position3> positions;  // one per prompt token
    int64_t rope_delta = 0;
};

// `grids` are the prompt's images in order; each image's run of image_token_id must hold exactly
// t * h * w / merge^2 tokens. Video spans are rejected (not supported yet).
Result<RopePositions> compute_rope_positions(std::span<const int32_t> ids,
                                             std::span<const ImageGrid> grids,
                                             const Glm4vConfig& config);

}  // namespace autoglm
