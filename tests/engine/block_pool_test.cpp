// BlockPool: refcounts, free-queue (eviction) order, revival of cached free blocks, the
// content-checked prefix map, and hash_block's sensitivity and stability.
#include "engine/block_pool.h"

#include <gtest/gtest.h>

#include <vector>

namespace autoglm {
namespace {

using Ids = std::vector<BlockId>;

BlockContentView content(const std::vector<int32_t>& tokens, BlockHash parent = kRootBlockHash,
                         const std::vector<uint64_t>& extras = {}) {
    return BlockContentView{parent, tokens, extras};
}

TEST(HashBlock, DeterministicAndSensitiveToEveryInput) {
    const std::vector<int32_t> t = {1, 2, 3, 4};
    const std::vector<int32_t> t2 = {1, 2, 3, 5};
    const std::vector<uint64_t> img = {77};
    const std::vector<uint64_t> img2 = {78};
    const BlockHash h = hash_block(kRootBlockHash, t, {});
    EXPECT_EQ(h, hash_block(kRootBlockHash, t, {}));
    EXPECT_NE(h, hash_block(kRootBlockHash, t2, {}));
    EXPECT_NE(h, hash_block(kRootBlockHash + 1, t, {}));
    EXPECT_NE(h, hash_block(kRootBlockHash, t, img));
    EXPECT_NE(hash_block(kRootBlockHash, t, img), hash_block(kRootBlockHash, t, img2));
    // Lengths are mixed in: moving a word from tokens to extra keys changes the hash.
    const std::vector<int32_t> t3 = {1, 2, 3};
    const std::vector<uint64_t> four = {4};
    EXPECT_NE(h, hash_block(kRootBlockHash, t3, four));
    // Pinned value: the hash must not depend on platform, compiler or run.
    EXPECT_EQ(h, 0x9c5b09c902a1a0c7ULL);
}

TEST(BlockPool, AllocateTouchFreeRefcounts) {
    BlockPool pool(4, 16);
    EXPECT_EQ(pool.num_free_blocks(), 4);
    EXPECT_DOUBLE_EQ(pool.usage(), 0.0);
    EXPECT_EQ(pool.allocate(2), (Ids{0, 1}));
    EXPECT_EQ(pool.ref_count(0), 1);
    EXPECT_EQ(pool.ref_count(1), 1);
    EXPECT_EQ(pool.num_free_blocks(), 2);
    EXPECT_DOUBLE_EQ(pool.usage(), 0.5);
    EXPECT_FALSE(pool.is_free(0));

    pool.touch(Ids{0});
    EXPECT_EQ(pool.ref_count(0), 2);
    pool.free(Ids{0});
    EXPECT_EQ(pool.ref_count(0), 1);
    EXPECT_FALSE(pool.is_free(0));
    pool.free(Ids{1, 0});  // last block first
    EXPECT_EQ(pool.ref_count(0), 0);
    EXPECT_EQ(pool.num_free_blocks(), 4);
    EXPECT_EQ(pool.free_queue(), (Ids{2, 3, 1, 0}));
    EXPECT_TRUE(pool.check_invariants().ok()) << pool.check_invariants().error_message();
}

TEST(BlockPool, EvictsLeastRecentlyFreedAndDropsItsHash) {
    BlockPool pool(3, 2);
    EXPECT_EQ(pool.allocate(3), (Ids{0, 1, 2}));
    const std::vector<std::vector<int32_t>> tokens = {{1, 2}, {3, 4}, {5, 6}};
    for (BlockId b = 0; b < 3; ++b) {
        ASSERT_TRUE(pool.cache_block(b, 100 + b, content(tokens[b])));
    }
    EXPECT_EQ(pool.num_cached_blocks(), 3);
    pool.free(Ids{2, 1, 0});
    EXPECT_EQ(pool.free_queue(), (Ids{2, 1, 0}));
    // Cached free blocks stay findable until reallocated.
    EXPECT_EQ(pool.lookup(102, content(tokens[2])), std::optional<BlockId>(2));

    EXPECT_EQ(pool.allocate(1), (Ids{2}));
    EXPECT_EQ(pool.stats().num_evictions, 1u);
    EXPECT_EQ(pool.cached_hash(2), std::nullopt);
    EXPECT_EQ(pool.lookup(102, content(tokens[2])), std::nullopt);
    EXPECT_EQ(pool.lookup(101, content(tokens[1])), std::optional<BlockId>(1));
    EXPECT_EQ(pool.num_cached_blocks(), 2);
    EXPECT_TRUE(pool.check_invariants().ok()) << pool.check_invariants().error_message();
}

TEST(BlockPool, TouchRevivesCachedFreeBlockFromTheMiddleOfTheQueue) {
    BlockPool pool(5, 2);
    EXPECT_EQ(pool.allocate(5), (Ids{0, 1, 2, 3, 4}));
    const std::vector<int32_t> t = {9, 9};
    ASSERT_TRUE(pool.cache_block(2, 555, content(t)));
    pool.free(Ids{4, 3, 2, 1, 0});
    EXPECT_EQ(pool.free_queue(), (Ids{4, 3, 2, 1, 0}));
    const auto hit = pool.lookup(555, content(t));
    ASSERT_EQ(hit, std::optional<BlockId>(2));
    pool.touch(Ids{*hit});
    EXPECT_FALSE(pool.is_free(2));
    EXPECT_EQ(pool.ref_count(2), 1);
    EXPECT_EQ(pool.free_queue(), (Ids{4, 3, 1, 0}));
    EXPECT_EQ(pool.num_free_blocks(), 4);
    EXPECT_EQ(pool.cached_hash(2), std::optional<BlockHash>(555));
    EXPECT_EQ(pool.allocate(4), (Ids{4, 3, 1, 0}));
    EXPECT_EQ(pool.stats().num_evictions, 0u);  // the revived block was never a candidate
    EXPECT_TRUE(pool.check_invariants().ok()) << pool.check_invariants().error_message();
}

TEST(BlockPool, HashCollisionMissesAndNeverOverwrites) {
    BlockPool pool(4, 2);
    EXPECT_EQ(pool.allocate(2), (Ids{0, 1}));
    const std::vector<int32_t> t1 = {1, 2};
    const std::vector<int32_t> t2 = {3, 4};
    const std::vector<uint64_t> img = {7};
    ASSERT_TRUE(pool.cache_block(0, 42, content(t1)));
    EXPECT_EQ(pool.lookup(42, content(t1)), std::optional<BlockId>(0));
    EXPECT_EQ(pool.lookup(42, content(t2)), std::nullopt);                       // other tokens
    EXPECT_EQ(pool.lookup(42, content(t1, kRootBlockHash + 1)), std::nullopt);   // other parent
    EXPECT_EQ(pool.lookup(42, content(t1, kRootBlockHash, img)), std::nullopt);  // other image
    EXPECT_FALSE(pool.cache_block(1, 42, content(t2)));  // the first owner keeps the hash
    EXPECT_EQ(pool.cached_hash(1), std::nullopt);
    EXPECT_EQ(pool.lookup(42, content(t1)), std::optional<BlockId>(0));
    EXPECT_TRUE(pool.cache_block(0, 42, content(t1)));  // idempotent
    EXPECT_EQ(pool.num_cached_blocks(), 1);
    EXPECT_TRUE(pool.check_invariants().ok()) << pool.check_invariants().error_message();
}

TEST(BlockPool, PrefixStatsCountTokens) {
    BlockPool pool(2, 4);
    pool.record_prefix_query(10, 8);
    pool.record_prefix_query(5, 0);
    EXPECT_EQ(pool.stats().num_query_tokens, 15u);
    EXPECT_EQ(pool.stats().num_hit_tokens, 8u);
}

}  // namespace
}  // namespace autoglm
