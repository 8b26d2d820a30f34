// compute_rope_positions: one pass over the prompt, consuming one grid per image run.
#include "model/glm4v/rope_index.h"

#include <algorithm>

namespace autoglm {

Result<RopePositions> compute_rope_positions(std::span<const int32_t> ids,
                                             std::span<const ImageGrid> grids,
                                             const Glm4vConfig& config) {
    RopePositions out;
    out.positions.reserve(ids.size());
    const int64_t m = config.vision.spatial_merge_size;
    int64_t cur = 0, max_pos = -1;
    size_t next_image = 0;
    for (size_t i = 0; i < ids.size();) {
        if (ids[i] == config.video_start_token_id) return Error{"video input is not supported yet"};
        if (ids[i] != config.image_token_id) {
            const auto p = static_cast<int32_t>(cur);
            out.positions.push_back({p, p, p});
            max_pos = cur++;
            ++i;
            continue;
        }
        if (next_image >= grids.size())
            return Error{"the prompt has more image runs than images (" +
                         std::to_string(grids.size()) + ")"};
        const ImageGrid& g = grids[next_image++];
        if (g.t != 1 || g.h % m || g.w % m) return Error{"image grid is not a merged still image"};
        const int64_t rows = g.h / m, cols = g.w / m;
        if (i + static_cast<size_t>(rows * cols) > ids.size() ||
            !std::all_of(ids.begin() + static_cast<std::ptrdiff_t>(i),
                         ids.begin() + static_cast<std::ptrdiff_t>(i + rows * cols),
                         [&](int32_t id) { return id == config.image_token_id; }))
            return Error{"image " + std::to_string(next_image - 1) + " needs " +
                         std::to_string(rows * cols) + " consecutive image tokens"};
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c)
                out.positions.push_back({static_cast<int32_t>(cur), static_cast<int32_t>(cur + r),
                                         static_cast<int32_t>(cur + c)});
        max_pos = std::max(max_pos, cur + std::max(rows, cols) - 1);
        cur += std::max(rows, cols);
        i += static_cast<size_t>(rows * cols);
    }
    if (next_image != grids.size())
        return Error{std::to_string(grids.size()) + " images but " + std::to_string(next_image) +
                     " image runs in the prompt"};
    out.rope_delta = max_pos + 1 - static_cast<int64_t>(ids.size());
    return out;
}

}  // namespace autoglm
