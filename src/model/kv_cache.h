// PagedKvCache: the K and V of every layer in fixed-size blocks of token slots (f32 on the CPU
// backend). Slot s = block * block_size + offset holds one token's [kv_heads, head_dim] row.
// With KvStorage::kFp8 the rows are stored as the GPU's FP8 pool holds them (kernels/kv_fp8.h:
// e4m3 times a power-of-two scale per head), still in f32: the CPU emulates the rounding, not
// the memory saving.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "model/glm4v/config.h"

namespace autoglm {

enum class KvStorage { kExact, kFp8 };

class PagedKvCache {
  public:
    PagedKvCache(const Glm4vTextConfig& config, int64_t num_blocks, int64_t block_size,
                 KvStorage storage = KvStorage::kExact);
    // A tensor-parallel shard's cache: `kv_heads` of the config's heads a slot.
    PagedKvCache(const Glm4vTextConfig& config, int64_t num_blocks, int64_t block_size,
                 int64_t kv_heads, KvStorage storage = KvStorage::kExact);

    float* k(int64_t layer) { return k_[static_cast<size_t>(layer)].get(); }
    float* v(int64_t layer) { return v_[static_cast<size_t>(layer)].get(); }
    int64_t num_blocks() const { return num_blocks_; }
    int64_t block_size() const { return block_size_; }
    int64_t num_slots() const { return num_blocks_ * block_size_; }
    int64_t row_floats() const { return row_floats_; }  // kv_heads * head_dim
    KvStorage storage() const { return storage_; }
    // Stores `num_rows` rows ([num_rows, row_floats]) of K or V at `slots` of a layer's side.
    void write(float* side, const int64_t* slots, const float* rows, int64_t num_rows) const;
    // Bytes one block takes over all layers (K and V), for pool sizing.
    static int64_t bytes_per_block(const Glm4vTextConfig& config, int64_t block_size);

  private:
    int64_t num_blocks_;
    int64_t block_size_;
    int64_t row_floats_;
    int64_t head_dim_;
    KvStorage storage_;
    struct Free {
        void operator()(float* p) const { std::free(p); }
    };
    std::vector<std::unique_ptr<float[], Free>> k_, v_;  // [layers][num_slots * row_floats]
};

}  // namespace autoglm
