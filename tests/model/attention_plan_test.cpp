// plan_attention_step: the prefill kernels' work items, and with the FP8 KV pool the sequences
// left to decode attention, the page conversions into the scratch pool and their groups.
#include <gtest/gtest.h>

#include <vector>

#include "model/glm4v/attention_plan.h"

namespace autoglm {
namespace {

// Four sequences, blocks of 16 slots, tables 7 wide: a 5-token chunk of a 40-token context
// (3 blocks), a decode at 100, a 3-token chunk of 20 (2 blocks), a 30-token prompt (2 blocks).
struct Step {
    std::vector<int32_t> query_start = {0, 5, 6, 9, 39};
    std::vector<int32_t> seq_lens = {40, 100, 20, 30};
    std::vector<int32_t> tables = {7,  2,  9,  0,  0,  0,  0,   // s0
                                   20, 21, 22, 23, 24, 25, 26,  // s1
                                   4,  5,  0,  0,  0,  0,  0,   // s2
                                   11, 12, 0,  0,  0,  0,  0};  // s3
    ForwardBatch batch() const {
        ForwardBatch b;
        b.query_start = query_start, b.seq_lens = seq_lens, b.block_tables = tables;
        b.max_blocks_per_seq = 7;
        return b;
    }
};

TEST(AttentionPlan, WorkItemsGoLastBlockFirstForEverySequence) {
    const Step step;
    // 16 query heads a KV head, 128 rows a work item: 80, 16, 48 and 480 rows.
    const AttentionStepPlan p = plan_attention_step(step.batch(), 4, 7, 16, 16, 128, false, 0);
    const std::vector<AttentionWorkItem> want = {{0, 0},   {1, 0},   {2, 0}, {3, 384},
                                                 {3, 256}, {3, 128}, {3, 0}};
    EXPECT_EQ(p.work, want);
    EXPECT_TRUE(p.groups.empty() && p.pages.empty() && p.scratch_tables.empty());
    EXPECT_FALSE(p.decode_rows);
}

TEST(AttentionPlan, Fp8PoolLeavesDecodesAndPacksPagesIntoGroups) {
    const Step step;
    // A scratch pool of 5 blocks: s0 (3) and s2 (2) fill one group, s3 starts the next.
    const AttentionStepPlan p = plan_attention_step(step.batch(), 5, 7, 16, 16, 128, true, 5);
    EXPECT_TRUE(p.decode_rows);
    const std::vector<AttentionWorkItem> want = {{0, 0},   {2, 0},   {3, 384},
                                                 {3, 256}, {3, 128}, {3, 0}};
    EXPECT_EQ(p.work, want);
    EXPECT_EQ(p.pages, (std::vector<int32_t>{7, 0, 2, 1, 9, 2, 4, 3, 5, 4, 11, 0, 12, 1}));
    ASSERT_EQ(p.groups.size(), 2u);
    EXPECT_EQ(p.groups[0].page0, 0);
    EXPECT_EQ(p.groups[0].pages, 5);
    EXPECT_EQ(p.groups[0].work0, 0);
    EXPECT_EQ(p.groups[0].works, 2);
    EXPECT_EQ(p.groups[1].page0, 5);
    EXPECT_EQ(p.groups[1].pages, 2);
    EXPECT_EQ(p.groups[1].work0, 2);
    EXPECT_EQ(p.groups[1].works, 4);
    std::vector<int32_t> tables(5 * 7, 0);  // the padding row (s4) and the decode's stay zero
    tables[0] = 0, tables[1] = 1, tables[2] = 2;
    tables[14] = 3, tables[15] = 4;
    tables[21] = 0, tables[22] = 1;
    EXPECT_EQ(p.scratch_tables, tables);
    // A pool that holds all of them: one group.
    const AttentionStepPlan one = plan_attention_step(step.batch(), 4, 7, 16, 16, 128, true, 7);
    ASSERT_EQ(one.groups.size(), 1u);
    EXPECT_EQ(one.groups[0].pages, 7);
    EXPECT_EQ(one.groups[0].works, 6);
    EXPECT_EQ(one.pages[2 * 5 + 1], 5);  // s3's first page goes after the others
}

TEST(AttentionPlan, Fp8PoolWithOnlyDecodesConvertsNothing) {
    const std::vector<int32_t> qs = {0, 1, 2}, lens = {9, 33}, tables = {3, 0, 0, 4, 5, 6};
    ForwardBatch b;
    b.query_start = qs, b.seq_lens = lens, b.block_tables = tables, b.max_blocks_per_seq = 3;
    const AttentionStepPlan p = plan_attention_step(b, 2, 3, 16, 8, 128, true, 10);
    EXPECT_TRUE(p.decode_rows);
    EXPECT_TRUE(p.work.empty() && p.pages.empty() && p.groups.empty());
}

}  // namespace
}  // namespace autoglm
