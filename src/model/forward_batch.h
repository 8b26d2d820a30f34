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

// Receives named intermediate activations: "embeddings", "layer.<i>", "final_norm", "logits".
class LayerObserver {
  public:
    virtual ~LayerObserver() = default;
    virtual void on_tensor(const char* name, const float* data, int64_t rows, int64_t cols) = 0;
};

}  // namespace autoglm
