// PagedKvCache storage.
#include "model/kv_cache.h"

#include <cstdlib>

#include "core/check.h"

namespace autoglm {

PagedKvCache::PagedKvCache(const Glm4vTextConfig& config, int64_t num_blocks, int64_t block_size)
    : PagedKvCache(config, num_blocks, block_size, config.num_key_value_heads) {}

PagedKvCache::PagedKvCache(const Glm4vTextConfig& config, int64_t num_blocks, int64_t block_size,
                           int64_t kv_heads)
    : num_blocks_(num_blocks), block_size_(block_size), row_floats_(kv_heads * config.head_dim()) {
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

int64_t PagedKvCache::bytes_per_block(const Glm4vTextConfig& config, int64_t block_size) {
    return 2 * config.num_hidden_layers * block_size * config.num_key_value_heads *
           config.head_dim() * static_cast<int64_t>(sizeof(float));
}

}  // namespace autoglm
