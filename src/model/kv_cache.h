// PagedKvCache: the K and V of every layer in fixed-size blocks of token slots (f32 on the CPU
// backend). Slot s = block * block_size + offset holds one token's [kv_heads, head_dim] row.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "model/glm4v/config.h"

namespace autoglm {

class PagedKvCache {
  public:
    PagedKvCache(const Glm4vTextConfig& config, int64_t num_blocks, int64_t block_size);
    // A tensor-parallel shard's cache: `kv_heads` of the config's heads a slot.
    PagedKvCache(const Glm4vTextConfig& config, int64_t num_blocks, int64_t block_size,
                 int64_t kv_heads);

    float* k(int64_t layer) { return k_[static_cast<size_t>(layer)].get(); }
    float* v(int64_t layer) { return v_[static_cast<size_t>(layer)].get(); }
    int64_t num_blocks() const { return num_blocks_; }
    int64_t block_size() const { return block_size_; }
    int64_t num_slots() const { return num_blocks_ * block_size_; }
    int64_t row_floats() const { return row_floats_; }  // kv_heads * head_dim
    // Bytes one block takes over all layers (K and V), for pool sizing.
    static int64_t bytes_per_block(const Glm4vTextConfig& config, int64_t block_size);

  private:
    int64_t num_blocks_;
    int64_t block_size_;
    int64_t row_floats_;
    struct Free {
        void operator()(float* p) const { std::free(p); }
    };
    std::vector<std::unique_ptr<float[], Free>> k_, v_;  // [layers][num_slots * row_floats]
};

}  // namespace autoglm
