// PagedKvCache storage.
#include "model/kv_cache.h"

namespace autoglm {

PagedKvCache::PagedKvCache(const Glm4vTextConfig& config, int64_t num_blocks, int64_t block_size)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      row_floats_(config.num_key_value_heads * config.head_dim()) {
    const auto layers = static_cast<size_t>(config.num_hidden_layers);
    const auto floats = static_cast<size_t>(num_slots() * row_floats_);
    k_.assign(layers, std::vector<float>(floats));
    v_.assign(layers, std::vector<float>(floats));
}

int64_t PagedKvCache::bytes_per_block(const Glm4vTextConfig& config, int64_t block_size) {
    return 2 * config.num_hidden_layers * block_size * config.num_key_value_heads *
           config.head_dim() * static_cast<int64_t>(sizeof(float));
}

}  // namespace autoglm
