// Sizing of the paged KV pool from a memory budget (--kv-cache-memory, or a fraction of the
// memory that is free), and the check that one request of max_model_len tokens fits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"

namespace autoglm {

inline constexpr int32_t kDefaultBlockSize = 16;  // tokens per KV block (vLLM's default)
// The CPU backend's default cap on the KV pool when --kv-cache-memory is not given (vLLM's CPU
// backend defaults to the same 4 GiB).
inline constexpr uint64_t kDefaultCpuKvBytes = uint64_t{4} << 30;

// "4GiB", "512MiB", "2G", "1e9", "1048576" -> bytes. Decimal suffixes (K, M, G, T = 1000^n),
// binary (Ki, Mi, Gi, Ti = 1024^n); an optional trailing "B".
Result<uint64_t> parse_memory_size(const std::string& text);
std::string format_bytes(uint64_t bytes);  // "1.50 GiB"

struct KvSizingRequest {
    int64_t bytes_per_block = 0;  // all layers, K and V
    int32_t block_size = kDefaultBlockSize;
    std::optional<uint64_t> kv_cache_memory;    // explicit budget in bytes
    uint64_t available_bytes = 0;               // what the backend can give the pool at most
    double memory_utilization = 0.5;            // share of available_bytes when not explicit
    uint64_t default_cap = kDefaultCpuKvBytes;  // upper bound of the implicit budget; 0 = none
    // The implicit budget never exceeds this many tokens (e.g. max_num_seqs full-length
    // sequences: more would stay unused); 0 = no bound.
    int64_t max_useful_tokens = 0;
    std::optional<int64_t> max_model_len;  // --max-model-len; unset = fit the model's limit
    int64_t model_max_len = 0;             // the config's max_position_embeddings
};

struct KvCachePlan {
    int64_t num_blocks = 0;
    int32_t block_size = 0;
    uint64_t bytes = 0;  // num_blocks * bytes_per_block
    int64_t max_model_len = 0;
    std::string budget_source;  // how the budget was chosen, for the start-up report
    std::string dtype;          // how the values are held ("bf16", "fp8 e4m3", ...); may be empty
    int64_t num_tokens() const { return num_blocks * block_size; }
    // "KV cache: 1234 blocks x 16 tokens = 19,744 tokens (1.50 GiB, --kv-cache-memory); ..."
    std::string describe() const;
};

// Errors when the budget cannot hold one block, or (with an explicit max_model_len) one request
// of max_model_len tokens; without one, max_model_len drops to what fits.
Result<KvCachePlan> plan_kv_cache(const KvSizingRequest& request);

}  // namespace autoglm
