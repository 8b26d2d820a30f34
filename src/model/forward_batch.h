// What one forward step feeds the model: token ids with their 3-D rotary positions. (The engine's
// batched, paged form of this arrives with the scheduler; this is the single-sequence form.)
#pragma once

#include <cstdint>
#include <span>

namespace autoglm {

// M-RoPE position of one token: (temporal, height, width). Text tokens have t == h == w.
struct Position3 {
    int32_t t = 0;
    int32_t h = 0;
    int32_t w = 0;
};

class LayerObserver;

struct TextForwardArgs {
    std::span<const int32_t> token_ids;
    std::span<const Position3> positions;  // one per token
    bool all_logits = false;               // false: logits of the last token only
    LayerObserver* observer = nullptr;     // optional per-layer taps (tests, debugging)
    // Rows that replace, in order, the embeddings of tokens equal to image_token_id
    // ([count, hidden]; the count must match).
    std::span<const float> image_embeds;
    int32_t image_token_id = -1;
};

// One engine step over many sequences, flattened (the model runner builds it from the
// scheduler's plan): each sequence contributes its new tokens; K/V go to paged slots.
struct ForwardBatch {
    std::span<const int32_t> token_ids;     // [num_tokens], sequence after sequence
    std::span<const Position3> positions;   // [num_tokens]
    std::span<const int64_t> slot_mapping;  // [num_tokens] KV slot of each new token
    std::span<const int32_t> query_start;   // [num_seqs + 1] offsets into token_ids
    std::span<const int32_t> seq_lens;      // [num_seqs] context length after this step
    std::span<const int32_t> block_tables;  // [num_seqs, max_blocks_per_seq]
    int64_t max_blocks_per_seq = 0;
    std::span<const int32_t> logits_indices;  // tokens whose logits are returned, in order
    std::span<const float> image_embeds;      // rows for the image tokens of this batch, in order
    int32_t image_token_id = -1;
    LayerObserver* observer = nullptr;
};

// Receives named intermediate activations: "embeddings", "layer.<i>", "final_norm", "logits".
class LayerObserver {
  public:
    virtual ~LayerObserver() = default;
    virtual void on_tensor(const char* name, const float* data, int64_t rows, int64_t cols) = 0;
};

}  // namespace autoglm
