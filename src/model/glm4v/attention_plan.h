// The host side of a GPU step's attention: the prefill kernels' work items and, with the FP8 KV
// pool, which sequences go to decode attention and how the others' pages are converted into the
// bf16 scratch pool (cuda_model.cpp). Plain C++, so it is tested without a GPU.
#pragma once

#include <cstdint>
#include <vector>

#include "model/forward_batch.h"

namespace autoglm {

// One work item of the prefill attention kernels (the layout of cuda::AttentionWork): a block
// of rows_per_block rows of sequence `seq` from row `row0`, rows enumerating (token, head in
// the KV head's group).
struct AttentionWorkItem {
    int32_t seq;
    int32_t row0;
    bool operator==(const AttentionWorkItem&) const = default;
};
static_assert(sizeof(AttentionWorkItem) == 8);

struct AttentionStepPlan {
    std::vector<AttentionWorkItem> work;  // per sequence its last block first (it sees most keys)
    // FP8 KV pool only: the block tables into the scratch pool ([num_seqs, table_width]; zeros
    // for sequences decode attention takes), the pages to convert as (pool block, scratch block)
    // pairs, and the groups of sequences that fit the scratch pool together (their pages and
    // their work items, in order). decode_rows: some sequence has exactly one new token.
    struct Group {
        int64_t page0 = 0, pages = 0, work0 = 0, works = 0;
    };
    std::vector<int32_t> scratch_tables;
    std::vector<int32_t> pages;
    std::vector<Group> groups;
    bool decode_rows = false;
};

// The plan of a step that is not a pure decode. `group`: query heads per KV head; without
// fp8_kv every sequence gets work items; with it, one-token sequences are left to decode
// attention and the others are packed in order into groups of at most scratch_blocks blocks
// (a sequence needing more is a caller error: the scratch pool holds max_model_len).
// num_seqs >= the batch's sequences (padding rows of the tables stay zero).
AttentionStepPlan plan_attention_step(const ForwardBatch& batch, int64_t num_seqs,
                                      int64_t table_width, int64_t block_size, int64_t group,
                                      int64_t rows_per_block, bool fp8_kv, int64_t scratch_blocks);

}  // namespace autoglm
