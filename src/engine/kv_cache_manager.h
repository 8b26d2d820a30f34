// KvCacheManager: per-request block tables over a BlockPool, with prefix-cache lookup
// (get_computed_blocks), growth (allocate_slots), registration of filled blocks and release.
// Knows nothing of the engine's Request: callers describe a sequence with KvSequence.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "engine/block_pool.h"

namespace autoglm {

// The image whose placeholder tokens are [token_offset, token_offset + num_tokens).
struct KvImageSpan {
    uint64_t content_hash = 0;
    int64_t token_offset = 0;
    int64_t num_tokens = 0;
};

// What the manager reads from a request. Views only: the caller keeps the storage alive for the
// call. Token ids are append-only for a given id (prompt with images expanded, then outputs).
struct KvSequence {
    int64_t id = 0;
    std::span<const int32_t> token_ids;   // all tokens so far
    int64_t num_computed_tokens = 0;      // tokens whose K/V are already written
    std::span<const KvImageSpan> images;  // in prompt order
};

// A prefix-cache hit: cached blocks in order and the tokens they cover (blocks * block_size).
struct ComputedBlocks {
    std::vector<BlockId> blocks;
    int64_t num_computed_tokens = 0;
};

using BlockHasher = BlockHash (*)(BlockHash parent, std::span<const int32_t> tokens,
                                  std::span<const uint64_t> extra_keys);

// Flat KV slot of `position`: block_table[position / block_size] * block_size + offset.
int64_t kv_slot(std::span<const BlockId> block_table, int64_t position, int32_t block_size);

class KvCacheManager {
  public:
    // `hasher` is injectable so tests can force collisions; production uses hash_block.
    KvCacheManager(int32_t num_blocks, int32_t block_size, BlockHasher hasher = &hash_block);

    // Longest run of cached full blocks matching the sequence's prefix, capped so that at least
    // one token is left to compute (its logits are needed). Changes no refcount; counts the
    // query and hit tokens (unless `record` is false: a look-ahead). Meant for a sequence that
    // holds no blocks yet (new or preempted).
    ComputedBlocks get_computed_blocks(const KvSequence& seq, bool record = true);

    // Grows the block table to cover num_computed_tokens + computed.num_computed_tokens +
    // num_new_tokens tokens, first taking a reference on the hit blocks. Returns false, changing
    // nothing, when the pool cannot supply the blocks. Hit blocks must come from
    // get_computed_blocks on this sequence just before, with no pool change in between.
    [[nodiscard]] bool allocate_slots(const KvSequence& seq, int64_t num_new_tokens,
                                      const ComputedBlocks& computed = {});

    // Registers the blocks that the first `num_tokens` tokens fill completely (and that are not
    // registered yet) in the prefix map, chaining hashes from the previous block.
    void cache_full_blocks(const KvSequence& seq, int64_t num_tokens);

    // Gives `dst` (which holds no blocks) a reference on each of src's blocks filled by the
    // first `num_tokens` tokens, e.g. n > 1 samples sharing a prompt. Returns the tokens covered
    // (a multiple of block_size); dst computes from there.
    int64_t fork(int64_t src_id, int64_t dst_id, int64_t num_tokens);

    // Releases every block of the request, last block first (so its tail is evicted first).
    // Unknown ids are a no-op.
    void free(int64_t request_id);

    std::span<const BlockId> block_table(int64_t request_id) const;
    int64_t slot(std::span<const BlockId> block_table, int64_t position) const {
        return kv_slot(block_table, position, pool_.block_size());
    }
    int32_t block_size() const { return pool_.block_size(); }
    const BlockPool& pool() const { return pool_; }

    // Pool invariants plus: each block's refcount equals its number of table entries, and
    // registered block hashes equal the request's chained hashes.
    Status check_invariants() const;

  private:
    struct RequestBlocks {
        std::vector<BlockId> blocks;
        std::vector<BlockHash> hashes;  // chained hashes of the first full blocks, memoized
        int64_t num_cached_blocks = 0;  // leading blocks already registered or taken from a hit
    };

    std::vector<uint64_t> extra_keys(const KvSequence& seq, int64_t block_index) const;
    std::span<const int32_t> block_tokens(const KvSequence& seq, int64_t block_index) const;
    void extend_hashes(const KvSequence& seq, RequestBlocks& state, int64_t num_full_blocks);
    BlockContentView content_of(const KvSequence& seq, const RequestBlocks& state,
                                int64_t block_index, const std::vector<uint64_t>& extras) const;

    BlockPool pool_;
    BlockHasher hasher_;
    std::unordered_map<int64_t, RequestBlocks> requests_;
};

}  // namespace autoglm
