// Request: one sequence's state in the engine — its tokens (prompt with images expanded, then the
// output), their rotary positions, images, how many tokens already have K/V, and its KV blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/forward_batch.h"
#include "model/glm4v/image_processor.h"

namespace autoglm {

struct ImageInput {
    std::shared_ptr<const Glm4vProcessedImage> pixels;  // preprocessed once, shared by n > 1 copies
    uint64_t content_hash = 0;  // of the decoded pixels: the prefix cache and vision cache key
    int64_t token_offset = 0;   // index of the image's first <|image|> token in the prompt
    int64_t num_tokens = 0;
};

enum class RequestStatus { kWaiting, kRunning, kFinished };

struct Request {
    int64_t id = 0;
    std::vector<int32_t> prompt_ids;          // images expanded
    std::vector<Position3> prompt_positions;  // M-RoPE positions of the prompt
    int64_t rope_delta = 0;                   // position of token i >= prompt: i + rope_delta
    std::vector<ImageInput> images;           // in prompt order
    std::vector<int32_t> output_ids;
    int64_t num_computed_tokens = 0;   // tokens whose K/V are in the cache
    std::vector<int32_t> block_table;  // physical KV blocks, in order
    RequestStatus status = RequestStatus::kWaiting;

    int64_t num_prompt_tokens() const { return static_cast<int64_t>(prompt_ids.size()); }
    int64_t num_tokens() const {
        return num_prompt_tokens() + static_cast<int64_t>(output_ids.size());
    }
    int32_t token_at(int64_t i) const {
        return i < num_prompt_tokens() ? prompt_ids[static_cast<size_t>(i)]
                                       : output_ids[static_cast<size_t>(i - num_prompt_tokens())];
    }
    Position3 position_at(int64_t i) const {
        if (i < num_prompt_tokens()) return prompt_positions[static_cast<size_t>(i)];
        const auto p = static_cast<int32_t>(i + rope_delta);
        return {p, p, p};
    }
};

}  // namespace autoglm
