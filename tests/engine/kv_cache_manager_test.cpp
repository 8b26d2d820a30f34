// KvCacheManager: block tables and slots, prefix hits (text and images), the one-token-left rule,
// collisions, failed allocations, eviction order, fork, and a seeded stress run of invariants.
#include "engine/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <vector>

namespace autoglm {
namespace {

using Ids = std::vector<BlockId>;

struct Seq {
    int64_t id = 0;
    std::vector<int32_t> tokens;
    int64_t num_computed = 0;
    std::vector<KvImageSpan> images;
    KvSequence view() const { return KvSequence{id, tokens, num_computed, images}; }
};

std::vector<int32_t> iota_tokens(int32_t n, int32_t first = 1000) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    std::iota(t.begin(), t.end(), first);
    return t;
}

// Allocates the whole sequence (after any hit), marks it computed and caches its full blocks.
ComputedBlocks admit(KvCacheManager& kv, Seq& seq) {
    const ComputedBlocks hit = kv.get_computed_blocks(seq.view());
    const auto n = static_cast<int64_t>(seq.tokens.size());
    EXPECT_TRUE(kv.allocate_slots(seq.view(), n - hit.num_computed_tokens, hit));
    seq.num_computed = n;
    kv.cache_full_blocks(seq.view(), n);
    return hit;
}

void expect_ok(const KvCacheManager& kv) {
    const Status s = kv.check_invariants();
    EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST(KvCacheManager, AllocatesBlocksAndMapsSlots) {
    KvCacheManager kv(8, 4);
    Seq a{1, iota_tokens(10)};
    ASSERT_TRUE(kv.allocate_slots(a.view(), 10));
    const auto table = kv.block_table(1);
    EXPECT_EQ(Ids(table.begin(), table.end()), (Ids{0, 1, 2}));
    EXPECT_EQ(kv.slot(table, 0), 0);
    EXPECT_EQ(kv.slot(table, 5), 1 * 4 + 1);
    EXPECT_EQ(kv.slot(table, 9), 2 * 4 + 1);
    const Ids custom = {5, 2};
    EXPECT_EQ(kv_slot(custom, 6, 4), 2 * 4 + 2);
    // Decode: one more token fits in block 2; the 13th token needs a fourth block.
    a.num_computed = 10;
    a.tokens.push_back(7);
    ASSERT_TRUE(kv.allocate_slots(a.view(), 1));
    EXPECT_EQ(kv.block_table(1).size(), 3u);
    a.num_computed = 12;
    a.tokens.push_back(8);
    ASSERT_TRUE(kv.allocate_slots(a.view(), 1));
    EXPECT_EQ(kv.block_table(1).size(), 4u);
    EXPECT_EQ(kv.pool().num_free_blocks(), 4);
    kv.free(1);
    EXPECT_EQ(kv.pool().num_free_blocks(), 8);
    EXPECT_TRUE(kv.block_table(1).empty());
    expect_ok(kv);
}

TEST(KvCacheManager, SharedThreeBlockPrefixHitsExactlyThoseBlocks) {
    KvCacheManager kv(16, 4);
    Seq a{1, iota_tokens(14)};
    EXPECT_EQ(admit(kv, a).num_computed_tokens, 0);
    const Ids a_table(kv.block_table(1).begin(), kv.block_table(1).end());
    Seq b{2, iota_tokens(12)};
    for (int32_t t : {1, 2, 3, 4, 5}) b.tokens.push_back(t);  // diverges inside block 3
    const ComputedBlocks hit = kv.get_computed_blocks(b.view());
    EXPECT_EQ(hit.blocks, (Ids{a_table[0], a_table[1], a_table[2]}));
    EXPECT_EQ(hit.num_computed_tokens, 3 * 4);
    ASSERT_TRUE(kv.allocate_slots(b.view(), 17 - 12, hit));
    const auto b_table = kv.block_table(2);
    ASSERT_EQ(b_table.size(), 5u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(b_table[i], a_table[i]);
        EXPECT_EQ(kv.pool().ref_count(a_table[i]), 2);
    }
    EXPECT_EQ(kv.pool().ref_count(a_table[3]), 1);
    EXPECT_EQ(kv.pool().stats().num_query_tokens, 14u + 17u);
    EXPECT_EQ(kv.pool().stats().num_hit_tokens, 12u);
    expect_ok(kv);
    kv.free(1);
    kv.free(2);
    EXPECT_EQ(kv.pool().num_free_blocks(), 16);
    expect_ok(kv);
}

TEST(KvCacheManager, HitNeverCoversTheWholePrompt) {
    KvCacheManager kv(16, 4);
    Seq a{1, iota_tokens(12)};
    admit(kv, a);
    EXPECT_EQ(kv.pool().num_cached_blocks(), 3);
    Seq same{2, iota_tokens(12)};
    EXPECT_EQ(kv.get_computed_blocks(same.view()).num_computed_tokens, 8);  // last block left
    Seq longer{3, iota_tokens(13)};
    EXPECT_EQ(kv.get_computed_blocks(longer.view()).num_computed_tokens, 12);
    Seq tiny{4, iota_tokens(1)};
    EXPECT_EQ(kv.get_computed_blocks(tiny.view()).num_computed_tokens, 0);
    expect_ok(kv);
}

BlockHash colliding_hasher(BlockHash, std::span<const int32_t>, std::span<const uint64_t>) {
    return 42;  // every block collides
}

TEST(KvCacheManager, ForcedHashCollisionIsRejectedByTokenComparison) {
    KvCacheManager kv(16, 4, &colliding_hasher);
    Seq a{1, iota_tokens(9)};
    admit(kv, a);
    EXPECT_EQ(kv.pool().num_cached_blocks(), 1);  // block 1 collides with block 0: not cached
    Seq other{2, iota_tokens(9, 5000)};
    EXPECT_EQ(kv.get_computed_blocks(other.view()).num_computed_tokens, 0);
    Seq same_first{3, iota_tokens(9)};
    const ComputedBlocks hit = kv.get_computed_blocks(same_first.view());
    // Block 1's hash finds block 0, whose parent and tokens differ: a miss, not a wrong hit.
    EXPECT_EQ(hit.blocks, (Ids{kv.block_table(1)[0]}));
    expect_ok(kv);
}

TEST(KvCacheManager, ImageContentHashesSeparatePlaceholderBlocks) {
    constexpr int32_t kImageToken = 151343;
    std::vector<int32_t> tokens = iota_tokens(4);
    tokens.insert(tokens.end(), 8, kImageToken);  // image tokens [4, 12)
    for (int32_t t : {1, 2, 3}) tokens.push_back(t);
    KvCacheManager kv(32, 4);
    Seq a{1, tokens, 0, {{111, 4, 8}}};
    admit(kv, a);
    Seq other_image{2, tokens, 0, {{222, 4, 8}}};
    EXPECT_EQ(kv.get_computed_blocks(other_image.view()).num_computed_tokens, 4);
    Seq same_image{3, tokens, 0, {{111, 4, 8}}};
    EXPECT_EQ(kv.get_computed_blocks(same_image.view()).num_computed_tokens, 12);
    Seq no_image{4, tokens};
    EXPECT_EQ(kv.get_computed_blocks(no_image.view()).num_computed_tokens, 4);
    expect_ok(kv);
}

TEST(KvCacheManager, FailedAllocationChangesNothing) {
    KvCacheManager kv(6, 4);
    Seq a{1, iota_tokens(9)};
    admit(kv, a);  // blocks 0, 1 cached, 2 partial
    kv.free(1);
    const Ids queue_before = kv.pool().free_queue();
    EXPECT_EQ(queue_before, (Ids{3, 4, 5, 2, 1, 0}));
    Seq b{2, iota_tokens(28)};  // 7 blocks: 2 hit + 5 new > 6 free
    const ComputedBlocks hit = kv.get_computed_blocks(b.view());
    ASSERT_EQ(hit.blocks, (Ids{0, 1}));
    EXPECT_FALSE(kv.allocate_slots(b.view(), 28 - 8, hit));
    EXPECT_TRUE(kv.block_table(2).empty());
    EXPECT_EQ(kv.pool().free_queue(), queue_before);
    EXPECT_EQ(kv.pool().ref_count(0), 0);
    EXPECT_EQ(kv.pool().num_cached_blocks(), 2);
    EXPECT_EQ(kv.pool().stats().num_evictions, 0u);
    expect_ok(kv);
    // Revived hit blocks count against the free blocks: 2 hit + 4 new = 6 fits exactly.
    Seq c{3, iota_tokens(24)};
    const ComputedBlocks hit_c = kv.get_computed_blocks(c.view());
    ASSERT_TRUE(kv.allocate_slots(c.view(), 24 - 8, hit_c));
    EXPECT_EQ(kv.pool().num_free_blocks(), 0);
    expect_ok(kv);
}

TEST(KvCacheManager, RevivedHitBlocksLeaveTheFreeQueue) {
    KvCacheManager kv(6, 4);
    Seq a{1, iota_tokens(9)};
    admit(kv, a);
    kv.free(1);
    Seq b{2, iota_tokens(12)};
    const ComputedBlocks hit = kv.get_computed_blocks(b.view());
    ASSERT_EQ(hit.blocks, (Ids{0, 1}));
    ASSERT_TRUE(kv.allocate_slots(b.view(), 4, hit));
    const auto table = kv.block_table(2);
    EXPECT_EQ(Ids(table.begin(), table.end()), (Ids{0, 1, 3}));
    EXPECT_EQ(kv.pool().free_queue(), (Ids{4, 5, 2}));
    EXPECT_FALSE(kv.pool().is_free(0));
    EXPECT_EQ(kv.pool().ref_count(1), 1);
    expect_ok(kv);
}

TEST(KvCacheManager, EvictsLruRequestsTailBlockFirst) {
    KvCacheManager kv(6, 2);
    Seq a{1, iota_tokens(6)};
    admit(kv, a);  // blocks 0, 1, 2, all cached
    Seq b{2, iota_tokens(4, 7000)};
    admit(kv, b);  // blocks 3, 4
    kv.free(1);
    kv.free(2);
    EXPECT_EQ(kv.pool().free_queue(), (Ids{5, 2, 1, 0, 4, 3}));
    Seq c{3, iota_tokens(3, 9000)};
    ASSERT_TRUE(kv.allocate_slots(c.view(), 3));
    const auto table = kv.block_table(3);
    EXPECT_EQ(Ids(table.begin(), table.end()), (Ids{5, 2}));  // a's last block goes first
    EXPECT_EQ(kv.pool().stats().num_evictions, 1u);
    Seq a_again{4, iota_tokens(7)};
    EXPECT_EQ(kv.get_computed_blocks(a_again.view()).blocks, (Ids{0, 1}));
    expect_ok(kv);
}

TEST(KvCacheManager, ForkSharesFullPromptBlocks) {
    KvCacheManager kv(8, 4);
    Seq a{1, iota_tokens(10)};
    admit(kv, a);
    EXPECT_EQ(kv.fork(1, 2, 10), 8);
    const auto table = kv.block_table(2);
    EXPECT_EQ(Ids(table.begin(), table.end()), (Ids{0, 1}));
    EXPECT_EQ(kv.pool().ref_count(0), 2);
    EXPECT_EQ(kv.pool().ref_count(2), 1);
    expect_ok(kv);
    Seq child{2, iota_tokens(10), 8};  // computes its own copy of the partial block
    ASSERT_TRUE(kv.allocate_slots(child.view(), 2));
    EXPECT_EQ(kv.block_table(2).size(), 3u);
    EXPECT_NE(kv.block_table(2)[2], kv.block_table(1)[2]);
    kv.free(1);
    EXPECT_EQ(kv.pool().ref_count(0), 1);
    kv.free(2);
    EXPECT_EQ(kv.pool().num_free_blocks(), 8);
    expect_ok(kv);
}

// A seeded random workload: admit (with prefix hits), decode, preempt on failure, finish. After
// every step the manager's invariants hold, and every hit slot holds K/V written (through the slot
// mapping, into a shadow cache) for exactly the same prefix, so no stale entry is ever reused.
class Stress {
  public:
    Stress(BlockHasher hasher, uint32_t seed) : kv_(kNumBlocks, kBlockSize, hasher), rng_(seed) {
        shadow_.assign(kNumBlocks * kBlockSize, 0);
        for (auto& base : bases_) {
            for (int i = 0; i < 24; ++i) base.push_back(static_cast<int32_t>(rng_() % 50));
        }
    }

    void run(int num_steps) {
        for (int step = 0; step < num_steps; ++step) {
            const uint32_t action = rng_() % 10;
            if (action < 4 || running_.empty()) {
                admit_one();
            } else if (action < 8) {
                decode_one();
            } else {
                finish(rng_() % running_.size());
            }
            const Status s = kv_.check_invariants();
            ASSERT_TRUE(s.ok()) << "step " << step << ": " << s.error_message();
        }
        while (!running_.empty()) finish(0);
        EXPECT_EQ(kv_.pool().num_free_blocks(), kNumBlocks);
        EXPECT_TRUE(kv_.check_invariants().ok());
        EXPECT_GT(kv_.pool().stats().num_hit_tokens, 0u);
        EXPECT_GT(kv_.pool().stats().num_evictions, 0u);
    }

  private:
    static constexpr int32_t kNumBlocks = 32;
    static constexpr int32_t kBlockSize = 4;
    static constexpr uint64_t kFingerprintSeed = 1469598103934665603ULL;

    // FNV-1a over the whole prefix: a slot's K/V depends on every earlier token, not just its
    // own.
    static uint64_t extend(uint64_t fingerprint, int32_t token) {
        return (fingerprint ^ static_cast<uint32_t>(token)) * 1099511628211ULL;
    }

    void admit_one() {
        Seq seq{next_id_++};
        const auto& base = bases_[rng_() % bases_.size()];
        seq.tokens.assign(base.begin(), base.begin() + rng_() % base.size());
        const uint32_t suffix = 1 + rng_() % 6;
        for (uint32_t i = 0; i < suffix; ++i) seq.tokens.push_back(rng_() % 50);
        const ComputedBlocks hit = kv_.get_computed_blocks(seq.view());
        const auto n = static_cast<int64_t>(seq.tokens.size());
        ASSERT_LT(hit.num_computed_tokens, n);
        uint64_t fingerprint = kFingerprintSeed;
        for (int64_t p = 0; p < hit.num_computed_tokens; ++p) {
            fingerprint = extend(fingerprint, seq.tokens[p]);
            ASSERT_EQ(shadow_[kv_slot(hit.blocks, p, kBlockSize)], fingerprint) << p;
        }
        const int32_t free_before = kv_.pool().num_free_blocks();
        if (!kv_.allocate_slots(seq.view(), n - hit.num_computed_tokens, hit)) {
            EXPECT_EQ(kv_.pool().num_free_blocks(), free_before);
            EXPECT_TRUE(kv_.block_table(seq.id).empty());
            kv_.free(seq.id);  // drops the lookup's memo
            return;
        }
        seq.num_computed = hit.num_computed_tokens;
        compute(seq, n - seq.num_computed);
        running_.push_back(std::move(seq));
    }

    void decode_one() {
        const size_t i = rng_() % running_.size();
        Seq& seq = running_[i];
        seq.tokens.push_back(rng_() % 50);
        if (!kv_.allocate_slots(seq.view(), 1)) {
            finish(i);  // preempted: recomputed later as a new request would be
            return;
        }
        compute(seq, 1);
    }

    // Writes the tokens' "K/V" through the slot mapping, then registers the full blocks.
    void compute(Seq& seq, int64_t num_tokens) {
        const auto table = kv_.block_table(seq.id);
        uint64_t fingerprint = kFingerprintSeed;
        for (int64_t p = 0; p < seq.num_computed + num_tokens; ++p) {
            fingerprint = extend(fingerprint, seq.tokens[p]);
            if (p >= seq.num_computed) shadow_[kv_slot(table, p, kBlockSize)] = fingerprint;
        }
        seq.num_computed += num_tokens;
        kv_.cache_full_blocks(seq.view(), seq.num_computed);
    }

    void finish(size_t i) {
        kv_.free(running_[i].id);
        running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
    }

    KvCacheManager kv_;
    std::mt19937 rng_;
    std::vector<uint64_t> shadow_;  // fingerprint of the prefix whose K/V each slot holds
    std::vector<std::vector<int32_t>> bases_{3};
    std::vector<Seq> running_;
    int64_t next_id_ = 1;
};

TEST(KvCacheManagerStress, RandomCyclesKeepInvariants) {
    Stress(&hash_block, 1234).run(3000);
}

BlockHash weak_hasher(BlockHash parent, std::span<const int32_t> tokens,
                      std::span<const uint64_t> extra_keys) {
    return hash_block(parent, tokens, extra_keys) % 8;  // frequent collisions
}

TEST(KvCacheManagerStress, CollidingHashesStillNeverReuseWrongBlocks) {
    Stress(&weak_hasher, 99).run(3000);
}

}  // namespace
}  // namespace autoglm
