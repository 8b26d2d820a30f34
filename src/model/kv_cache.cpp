// PagedKvCache storage.
#include "model/kv_cache.h"

#include <cstdlib>

#include "core/check.h"
#include "kernels/ops.h"

namespace autoglm {

PagedKvCache::PagedKvCache(const Glm4vTextConfig& config, int64_t num_blocks, int64_t block_size,
                           KvStorage storage)
    : PagedKvCache(config, num_blocks, block_size, config.num_key_value_heads, storage) {}

PagedKvCache::PagedKvCache(const Glm4vTextConfig& config, int64_t num_blocks, int64_t block_size,
                           int64_t kv_heads, KvStorage storage)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      row_floats_(kv_heads * config.head_dim()),
      head_dim_(config.head_dim()),
      storage_(storage) {
    const auto floats = static_cast<size_t>(num_slots() * row_floats_);
    // NOTE: calloc, not std::vector: large zeroed blocks come from mmap and are only backed by
    // memory once written, so a big pool costs nothing until requests fill it.
    for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
        for (auto* side : {&k_, &v_}) {
            auto* p = static_cast<float*>(std::calloc(floats, sizeof(float)));
            CHECK(p != nullptr) << "KV cache: out of memory for " << floats * sizeof(float)
                                << " bytes";
            side->emplace_back(p);
        }
    }
}

void PagedKvCache::write(float* side, const int64_t* slots, const float* rows,
                         int64_t num_rows) const {
    if (storage_ == KvStorage::kFp8)
        cpu::write_slots_fp8(side, slots, rows, num_rows, row_floats_ / head_dim_, head_dim_);
    else
        cpu::write_slots(side, slots, rows, num_rows, row_floats_);
}

int64_t PagedKvCache::bytes_per_block(const Glm4vTextConfig& config, int64_t block_size) {
    return 2 * config.num_hidden_layers * block_size * config.num_key_value_heads *
           config.head_dim() * static_cast<int64_t>(sizeof(float));
}

}  // namespace autoglm
