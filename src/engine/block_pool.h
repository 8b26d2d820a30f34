// BlockPool: fixed-size KV blocks with reference counts, a free queue in eviction order and a
// prefix map (chained block hash -> block) whose hits are confirmed by comparing stored content.
// CPU bookkeeping only: block ids index the device KV cache, which this class never touches.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/result.h"

namespace autoglm {

using BlockId = int32_t;
using BlockHash = uint64_t;

// Parent hash of a request's first block.
inline constexpr BlockHash kRootBlockHash = 0x6a09e667f3bcc908ULL;

// Chained content hash of one full block: parent hash, its tokens, and extra keys (the content
// hashes of the images whose placeholder tokens fall in the block, in prompt order).
// Deterministic across runs and platforms (fixed-width integer mixing only).
BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens,
                     std::span<const uint64_t> extra_keys);

// What a cached block holds besides its hash: compared on every hash hit so that a collision
// misses instead of returning another prefix's K/V.
struct BlockContentView {
    BlockHash parent = kRootBlockHash;
    std::span<const int32_t> tokens;
    std::span<const uint64_t> extra_keys;
};

struct BlockPoolStats {
    uint64_t num_query_tokens = 0;  // prompt tokens looked up in the prefix cache
    uint64_t num_hit_tokens = 0;    // of those, tokens found cached
    uint64_t num_evictions = 0;     // cached blocks whose hash was dropped on reallocation
};

class BlockPool {
  public:
    BlockPool(int32_t num_blocks, int32_t block_size);

    int32_t num_blocks() const { return static_cast<int32_t>(blocks_.size()); }
    int32_t block_size() const { return block_size_; }
    // Free blocks include cached ones with refcount 0 (they are evictable).
    int32_t num_free_blocks() const { return num_free_; }
    // Fraction of blocks referenced by some request, 0..1 (vllm:kv_cache_usage_perc).
    double usage() const;
    int32_t num_cached_blocks() const { return static_cast<int32_t>(cached_.size()); }

    // Takes `n` blocks from the head of the free queue (refcount 1 each); a block that still
    // held a cached hash leaves the prefix map (eviction). CHECKs n <= num_free_blocks().
    std::vector<BlockId> allocate(int32_t n);
    // Adds one reference per listed block; a block at refcount 0 leaves the free queue (a prefix
    // hit revives it). O(1) per block.
    void touch(std::span<const BlockId> blocks);
    // Drops one reference per listed block, in the order given; blocks reaching refcount 0 are
    // appended to the free queue tail. Callers pass a request's blocks last-first.
    void free(std::span<const BlockId> blocks);

    // The cached block with this hash and exactly this content, if any. Read-only.
    std::optional<BlockId> lookup(BlockHash hash, const BlockContentView& content) const;
    // Registers a full, referenced block under `hash`. Returns false (block stays uncached) when
    // another block already owns the hash (a duplicate, or a collision). Idempotent for a block
    // already registered under the same hash.
    bool cache_block(BlockId block, BlockHash hash, const BlockContentView& content);

    int32_t ref_count(BlockId block) const { return at(block).ref_count; }
    bool is_free(BlockId block) const { return at(block).in_free_queue; }
    std::optional<BlockHash> cached_hash(BlockId block) const;
    // Free queue from head (next to evict) to tail. O(num_free_blocks); for tests and debugging.
    std::vector<BlockId> free_queue() const;

    void record_prefix_query(int64_t num_query_tokens, int64_t num_hit_tokens);
    const BlockPoolStats& stats() const { return stats_; }

    // Walks every structure: queue links, refcounts, map <-> block hashes. O(num_blocks).
    Status check_invariants() const;

  private:
    static constexpr BlockId kNoBlock = -1;

    struct Block {
        int32_t ref_count = 0;
        BlockId prev = kNoBlock;  // free queue links, valid while in_free_queue
        BlockId next = kNoBlock;
        bool in_free_queue = false;
        bool has_hash = false;
        BlockHash hash = 0;
        BlockHash parent = 0;  // stored content, valid while has_hash
        std::vector<int32_t> tokens;
        std::vector<uint64_t> extra_keys;
    };

    Block& at(BlockId block);
    const Block& at(BlockId block) const;
    void queue_push_back(BlockId block);
    void queue_remove(BlockId block);
    BlockId queue_pop_front();
    void evict(BlockId block);
    Status check_queue() const;
    Status check_blocks() const;

    int32_t block_size_;
    std::vector<Block> blocks_;
    BlockId head_ = kNoBlock;
    BlockId tail_ = kNoBlock;
    int32_t num_free_ = 0;
    std::unordered_map<BlockHash, BlockId> cached_;
    BlockPoolStats stats_;
};

}  // namespace autoglm
