// KvCacheManager: prefix lookup, block-table growth, registration of filled blocks, fork and free
// over one BlockPool, with per-request memoized chained hashes.
#include "engine/kv_cache_manager.h"

#include <algorithm>

namespace autoglm {
namespace {

int64_t ssize_of(const auto& range) {
    return static_cast<int64_t>(std::ranges::size(range));
}

int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

}  // namespace

int64_t kv_slot(std::span<const BlockId> block_table, int64_t position, int32_t block_size) {
    DCHECK(position >= 0 && position / block_size < ssize_of(block_table))
        << "position " << position << " beyond " << block_table.size() << " blocks";
    const auto index = static_cast<size_t>(position / block_size);
    return static_cast<int64_t>(block_table[index]) * block_size + position % block_size;
}

KvCacheManager::KvCacheManager(int32_t num_blocks, int32_t block_size, BlockHasher hasher)
    : pool_(num_blocks, block_size), hasher_(hasher) {
    CHECK(hasher_ != nullptr);
}

ComputedBlocks KvCacheManager::get_computed_blocks(const KvSequence& seq, bool record) {
    ComputedBlocks out;
    const int64_t num_tokens = ssize_of(seq.token_ids);
    if (num_tokens == 0) return out;
    RequestBlocks& state = requests_[seq.id];
    DCHECK(state.blocks.empty()) << "prefix lookup for request " << seq.id << " holding blocks";
    // NOTE: the last token is never taken from the cache: its forward pass yields the logits.
    const int64_t max_blocks = (num_tokens - 1) / block_size();
    extend_hashes(seq, state, max_blocks);
    for (int64_t i = 0; i < max_blocks; ++i) {
        const std::vector<uint64_t> extras = extra_keys(seq, i);
        const auto hash = state.hashes[static_cast<size_t>(i)];
        const auto hit = pool_.lookup(hash, content_of(seq, state, i, extras));
        if (!hit) break;
        out.blocks.push_back(*hit);
    }
    out.num_computed_tokens = ssize_of(out.blocks) * block_size();
    if (record) pool_.record_prefix_query(num_tokens, out.num_computed_tokens);
    return out;
}

bool KvCacheManager::allocate_slots(const KvSequence& seq, int64_t num_new_tokens,
                                    const ComputedBlocks& computed) {
    CHECK(num_new_tokens >= 0) << num_new_tokens;
    const int64_t num_hit = ssize_of(computed.blocks);
    CHECK(computed.num_computed_tokens == num_hit * block_size());
    const auto it = requests_.find(seq.id);
    const int64_t num_held = it == requests_.end() ? 0 : ssize_of(it->second.blocks);
    CHECK(num_hit == 0 || (num_held == 0 && seq.num_computed_tokens == 0))
        << "prefix hit for request " << seq.id << " that already has K/V";
    const int64_t num_total =
        seq.num_computed_tokens + computed.num_computed_tokens + num_new_tokens;
    const int64_t num_new_blocks =
        std::max<int64_t>(0, ceil_div(num_total, block_size()) - num_held - num_hit);
    // Hit blocks at refcount 0 sit in the free queue: taking them shrinks what is left to allocate.
    const int64_t num_revived =
        std::ranges::count_if(computed.blocks, [&](BlockId b) { return pool_.ref_count(b) == 0; });
    if (num_new_blocks + num_revived > pool_.num_free_blocks()) return false;

    RequestBlocks& state = requests_[seq.id];
    if (num_hit > 0) {
        CHECK(ssize_of(state.hashes) >= num_hit) << "hit blocks not from get_computed_blocks";
        for (int64_t i = 0; i < num_hit; ++i) {
            const auto b = computed.blocks[static_cast<size_t>(i)];
            CHECK(pool_.cached_hash(b) == state.hashes[static_cast<size_t>(i)])
                << "hit block " << b << " was evicted before allocate_slots";
        }
        pool_.touch(computed.blocks);
        state.blocks = computed.blocks;
        state.num_cached_blocks = num_hit;
    }
    const std::vector<BlockId> fresh = pool_.allocate(static_cast<int32_t>(num_new_blocks));
    state.blocks.insert(state.blocks.end(), fresh.begin(), fresh.end());
    return true;
}

void KvCacheManager::cache_full_blocks(const KvSequence& seq, int64_t num_tokens) {
    const auto it = requests_.find(seq.id);
    CHECK(it != requests_.end()) << "cache_full_blocks for unknown request " << seq.id;
    CHECK(num_tokens >= 0 && num_tokens <= ssize_of(seq.token_ids)) << num_tokens;
    RequestBlocks& state = it->second;
    const int64_t num_full = std::min(num_tokens / block_size(), ssize_of(state.blocks));
    if (num_full <= state.num_cached_blocks) return;
    extend_hashes(seq, state, num_full);
    for (int64_t i = state.num_cached_blocks; i < num_full; ++i) {
        const std::vector<uint64_t> extras = extra_keys(seq, i);
        // A false return (another block already owns the hash) leaves this block uncached.
        (void)pool_.cache_block(state.blocks[static_cast<size_t>(i)],
                                state.hashes[static_cast<size_t>(i)],
                                content_of(seq, state, i, extras));
    }
    state.num_cached_blocks = num_full;
}

int64_t KvCacheManager::fork(int64_t src_id, int64_t dst_id, int64_t num_tokens) {
    CHECK(src_id != dst_id) << src_id;
    const auto src_it = requests_.find(src_id);
    CHECK(src_it != requests_.end()) << "fork of unknown request " << src_id;
    const RequestBlocks& src = src_it->second;  // node references survive the insertion below
    RequestBlocks& dst = requests_[dst_id];
    CHECK(dst.blocks.empty()) << "fork into request " << dst_id << " holding blocks";
    const int64_t n = std::min(num_tokens / block_size(), ssize_of(src.blocks));
    dst.blocks.assign(src.blocks.begin(), src.blocks.begin() + n);
    pool_.touch(dst.blocks);
    dst.hashes.assign(src.hashes.begin(), src.hashes.begin() + std::min(n, ssize_of(src.hashes)));
    dst.num_cached_blocks = std::min(src.num_cached_blocks, n);
    return n * block_size();
}

void KvCacheManager::free(int64_t request_id) {
    const auto it = requests_.find(request_id);
    if (it == requests_.end()) return;
    const std::vector<BlockId> last_first(it->second.blocks.rbegin(), it->second.blocks.rend());
    pool_.free(last_first);
    requests_.erase(it);
}

std::span<const BlockId> KvCacheManager::block_table(int64_t request_id) const {
    const auto it = requests_.find(request_id);
    if (it == requests_.end()) return {};
    return it->second.blocks;
}

Status KvCacheManager::check_invariants() const {
    if (Status s = pool_.check_invariants(); !s.ok()) return s;
    std::vector<int32_t> refs(static_cast<size_t>(pool_.num_blocks()), 0);
    for (const auto& [id, state] : requests_) {
        if (state.num_cached_blocks > ssize_of(state.blocks) ||
            state.num_cached_blocks > ssize_of(state.hashes))
            return Error{"num_cached_blocks beyond the block table or the hashes"};
        for (BlockId b : state.blocks) ++refs[static_cast<size_t>(b)];
        for (int64_t i = 0; i < state.num_cached_blocks; ++i) {
            const auto hash = pool_.cached_hash(state.blocks[static_cast<size_t>(i)]);
            if (hash && *hash != state.hashes[static_cast<size_t>(i)])
                return Error{"a cached block's hash differs from its request's chained hash"};
        }
    }
    for (BlockId b = 0; b < pool_.num_blocks(); ++b) {
        if (refs[static_cast<size_t>(b)] != pool_.ref_count(b))
            return Error{"a refcount differs from the number of block-table entries"};
    }
    return {};
}

std::vector<uint64_t> KvCacheManager::extra_keys(const KvSequence& seq, int64_t block_index) const {
    const int64_t begin = block_index * block_size();
    const int64_t end = begin + block_size();
    std::vector<uint64_t> keys;
    for (const KvImageSpan& image : seq.images) {
        if (image.token_offset < end && image.token_offset + image.num_tokens > begin)
            keys.push_back(image.content_hash);
    }
    return keys;
}

std::span<const int32_t> KvCacheManager::block_tokens(const KvSequence& seq,
                                                      int64_t block_index) const {
    const auto begin = static_cast<size_t>(block_index * block_size());
    DCHECK(begin + static_cast<size_t>(block_size()) <= seq.token_ids.size());
    return seq.token_ids.subspan(begin, static_cast<size_t>(block_size()));
}

void KvCacheManager::extend_hashes(const KvSequence& seq, RequestBlocks& state,
                                   int64_t num_full_blocks) {
    for (int64_t i = ssize_of(state.hashes); i < num_full_blocks; ++i) {
        const BlockHash parent = i == 0 ? kRootBlockHash : state.hashes[static_cast<size_t>(i - 1)];
        const std::vector<uint64_t> extras = extra_keys(seq, i);
        state.hashes.push_back(hasher_(parent, block_tokens(seq, i), extras));
    }
}

BlockContentView KvCacheManager::content_of(const KvSequence& seq, const RequestBlocks& state,
                                            int64_t block_index,
                                            const std::vector<uint64_t>& extras) const {
    const BlockHash parent =
        block_index == 0 ? kRootBlockHash : state.hashes[static_cast<size_t>(block_index - 1)];
    return BlockContentView{parent, block_tokens(seq, block_index), extras};
}

}  // namespace autoglm
