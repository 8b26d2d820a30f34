// Request: one sequence's state in the engine — its tokens (prompt with images expanded, then the
// output), their rotary positions, images, how many tokens already have K/V, and its KV blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "model/forward_batch.h"
#include "model/glm4v/image_processor.h"
#include "model/glm4v/mrope.h"

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
    std::vector<int32_t> token_ids;  // prompt (images expanded), then the outputs
    int64_t num_prompt_tokens = 0;
    std::vector<Position3> prompt_positions;  // M-RoPE positions of the prompt
    int64_t rope_delta = 0;                   // position of token i >= prompt: i + rope_delta
    std::vector<ImageInput> images;           // in prompt order
    std::vector<KvImageSpan> image_spans;     // the same images as the KV cache keys them
    int64_t num_computed_tokens = 0;          // tokens whose K/V are in the cache
    std::vector<int32_t> block_table;         // physical KV blocks, in order
    RequestStatus status = RequestStatus::kWaiting;
    int64_t arrival_order = 0;  // admission order (newest is preempted first)

    // A prompt-only request; positions default to text positions when empty.
    static Request make(int64_t id, std::vector<int32_t> prompt,
                        std::vector<Position3> positions = {}, int64_t rope_delta = 0);

    int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
    int64_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }
    std::span<const int32_t> output_ids() const {
        return std::span<const int32_t>(token_ids).subspan(static_cast<size_t>(num_prompt_tokens));
    }
    int32_t token_at(int64_t i) const { return token_ids[static_cast<size_t>(i)]; }
    Position3 position_at(int64_t i) const {
        if (i < num_prompt_tokens) return prompt_positions[static_cast<size_t>(i)];
        const auto p = static_cast<int32_t>(i + rope_delta);
        return {p, p, p};
    }
    void append_output(int32_t token) { token_ids.push_back(token); }
    KvSequence kv_view() const {
        return KvSequence{id, token_ids, num_computed_tokens, image_spans};
    }
};

inline Request Request::make(int64_t id, std::vector<int32_t> prompt,
                             std::vector<Position3> positions, int64_t rope_delta) {
    Request r;
    r.id = id;
    r.num_prompt_tokens = static_cast<int64_t>(prompt.size());
    r.prompt_positions =
        positions.empty() ? text_positions(0, r.num_prompt_tokens) : std::move(positions);
    r.token_ids = std::move(prompt);
    r.rope_delta = rope_delta;
    return r;
}

}  // namespace autoglm
