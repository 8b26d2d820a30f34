// BlockPool: the intrusive free queue, refcounting, eviction and the content-checked prefix map;
// and hash_block (XXH3 over the parent's hash, the tokens and the extra keys).
#include "engine/block_pool.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "core/hash.h"

namespace autoglm {
namespace {

constexpr uint64_t kSeed = 0x27d4eb2f165667c5ULL;

Error invariant_error(const char* what, BlockId block) {
    std::ostringstream out;
    out << what << " (block " << block << ")";
    return Error{out.str()};
}

}  // namespace

BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens,
                     std::span<const uint64_t> extra_keys) {
    // One XXH3 over [parent, #tokens, tokens..., #keys, keys...]: the lengths keep the token and
    // extra-key streams from aliasing each other.
    thread_local std::vector<uint64_t> words;
    words.clear();
    words.push_back(parent);
    words.push_back(tokens.size());
    for (const int32_t t : tokens) words.push_back(static_cast<uint32_t>(t));
    words.push_back(extra_keys.size());
    words.insert(words.end(), extra_keys.begin(), extra_keys.end());
    return hash_bytes(words.data(), words.size() * sizeof(uint64_t), kSeed);
}

BlockPool::BlockPool(int32_t num_blocks, int32_t block_size)
    : block_size_(block_size), blocks_(static_cast<size_t>(num_blocks)) {
    CHECK(num_blocks > 0) << num_blocks;
    CHECK(block_size > 0) << block_size;
    for (BlockId b = 0; b < num_blocks; ++b) queue_push_back(b);
}

double BlockPool::usage() const {
    return 1.0 - static_cast<double>(num_free_) / static_cast<double>(blocks_.size());
}

std::vector<BlockId> BlockPool::allocate(int32_t n) {
    CHECK(n >= 0 && n <= num_free_) << "allocate " << n << " of " << num_free_ << " free";
    std::vector<BlockId> out;
    out.reserve(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
        const BlockId b = queue_pop_front();
        Block& block = at(b);
        DCHECK(block.ref_count == 0);
        if (block.has_hash) evict(b);
        block.ref_count = 1;
        out.push_back(b);
    }
    return out;
}

void BlockPool::touch(std::span<const BlockId> blocks) {
    for (BlockId b : blocks) {
        Block& block = at(b);
        if (block.ref_count == 0) queue_remove(b);
        ++block.ref_count;
    }
}

void BlockPool::free(std::span<const BlockId> blocks) {
    for (BlockId b : blocks) {
        Block& block = at(b);
        CHECK(block.ref_count > 0) << "double free of block " << b;
        if (--block.ref_count == 0) queue_push_back(b);
    }
}

std::optional<BlockId> BlockPool::lookup(BlockHash hash, const BlockContentView& content) const {
    const auto it = cached_.find(hash);
    if (it == cached_.end()) return std::nullopt;
    const Block& block = at(it->second);
    const bool same = block.parent == content.parent &&
                      std::ranges::equal(block.tokens, content.tokens) &&
                      std::ranges::equal(block.extra_keys, content.extra_keys);
    if (!same) return std::nullopt;  // a hash collision: miss, never reuse foreign K/V
    return it->second;
}

bool BlockPool::cache_block(BlockId b, BlockHash hash, const BlockContentView& content) {
    Block& block = at(b);
    CHECK(block.ref_count > 0) << "caching unreferenced block " << b;
    CHECK(static_cast<int32_t>(content.tokens.size()) == block_size_) << "only full blocks";
    if (block.has_hash) {
        DCHECK(block.hash == hash) << "block " << b << " re-cached under another hash";
        return block.hash == hash;
    }
    if (!cached_.try_emplace(hash, b).second) return false;
    block.has_hash = true;
    block.hash = hash;
    block.parent = content.parent;
    block.tokens.assign(content.tokens.begin(), content.tokens.end());
    block.extra_keys.assign(content.extra_keys.begin(), content.extra_keys.end());
    return true;
}

std::optional<BlockHash> BlockPool::cached_hash(BlockId b) const {
    const Block& block = at(b);
    if (!block.has_hash) return std::nullopt;
    return block.hash;
}

std::vector<BlockId> BlockPool::free_queue() const {
    std::vector<BlockId> out;
    out.reserve(static_cast<size_t>(num_free_));
    for (BlockId b = head_; b != kNoBlock; b = at(b).next) out.push_back(b);
    return out;
}

void BlockPool::record_prefix_query(int64_t num_query_tokens, int64_t num_hit_tokens) {
    DCHECK(num_hit_tokens >= 0 && num_hit_tokens <= num_query_tokens);
    stats_.num_query_tokens += static_cast<uint64_t>(num_query_tokens);
    stats_.num_hit_tokens += static_cast<uint64_t>(num_hit_tokens);
}

BlockPool::Block& BlockPool::at(BlockId b) {
    DCHECK(b >= 0 && b < num_blocks()) << "block id " << b;
    return blocks_[static_cast<size_t>(b)];
}

const BlockPool::Block& BlockPool::at(BlockId b) const {
    DCHECK(b >= 0 && b < num_blocks()) << "block id " << b;
    return blocks_[static_cast<size_t>(b)];
}

void BlockPool::queue_push_back(BlockId b) {
    Block& block = at(b);
    DCHECK(!block.in_free_queue);
    block.prev = tail_;
    block.next = kNoBlock;
    if (tail_ != kNoBlock) {
        at(tail_).next = b;
    } else {
        head_ = b;
    }
    tail_ = b;
    block.in_free_queue = true;
    ++num_free_;
}

void BlockPool::queue_remove(BlockId b) {
    Block& block = at(b);
    DCHECK(block.in_free_queue);
    if (block.prev != kNoBlock) {
        at(block.prev).next = block.next;
    } else {
        head_ = block.next;
    }
    if (block.next != kNoBlock) {
        at(block.next).prev = block.prev;
    } else {
        tail_ = block.prev;
    }
    block.prev = block.next = kNoBlock;
    block.in_free_queue = false;
    --num_free_;
}

BlockId BlockPool::queue_pop_front() {
    const BlockId b = head_;
    CHECK(b != kNoBlock) << "free queue empty";
    queue_remove(b);
    return b;
}

void BlockPool::evict(BlockId b) {
    Block& block = at(b);
    const auto it = cached_.find(block.hash);
    DCHECK(it != cached_.end() && it->second == b);
    if (it != cached_.end() && it->second == b) cached_.erase(it);
    block.has_hash = false;
    block.tokens.clear();
    block.extra_keys.clear();
    ++stats_.num_evictions;
}

Status BlockPool::check_invariants() const {
    if (Status s = check_queue(); !s.ok()) return s;
    return check_blocks();
}

Status BlockPool::check_queue() const {
    int32_t count = 0;
    BlockId prev = kNoBlock;
    for (BlockId b = head_; b != kNoBlock; b = at(b).next) {
        if (b < 0 || b >= num_blocks()) return invariant_error("queue link out of range", b);
        if (++count > num_blocks()) return invariant_error("free queue has a cycle", b);
        const Block& block = at(b);
        if (!block.in_free_queue) return invariant_error("queued block not marked free", b);
        if (block.prev != prev) return invariant_error("broken prev link", b);
        if (block.ref_count != 0) return invariant_error("queued block is referenced", b);
        prev = b;
    }
    if (prev != tail_) return invariant_error("tail does not end the queue", tail_);
    if (count != num_free_) return invariant_error("num_free differs from queue length", count);
    return {};
}

Status BlockPool::check_blocks() const {
    int32_t num_hashed = 0;
    for (BlockId b = 0; b < num_blocks(); ++b) {
        const Block& block = at(b);
        if (block.ref_count < 0) return invariant_error("negative refcount", b);
        if ((block.ref_count == 0) != block.in_free_queue)
            return invariant_error("block neither free-queued nor referenced", b);
        if (!block.has_hash) continue;
        ++num_hashed;
        const auto it = cached_.find(block.hash);
        if (it == cached_.end() || it->second != b)
            return invariant_error("hashed block missing from the prefix map", b);
        if (static_cast<int32_t>(block.tokens.size()) != block_size_)
            return invariant_error("cached block without a full token copy", b);
    }
    for (const auto& [hash, b] : cached_) {
        if (b < 0 || b >= num_blocks()) return invariant_error("map entry out of range", b);
        if (!at(b).has_hash || at(b).hash != hash)
            return invariant_error("map entry points at a block with another hash", b);
    }
    if (num_hashed != num_cached_blocks())
        return invariant_error("map size differs from hashed blocks", num_hashed);
    return {};
}

}  // namespace autoglm
