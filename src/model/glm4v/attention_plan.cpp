// plan_attention_step: work items, and the FP8 KV pool's decode rows, page conversions and groups.
#include "model/glm4v/attention_plan.h"

#include "core/check.h"

namespace autoglm {

AttentionStepPlan plan_attention_step(const ForwardBatch& b, int64_t num_seqs, int64_t table_width,
                                      int64_t block_size, int64_t group, int64_t rows_per_block,
                                      bool fp8_kv, int64_t scratch_blocks) {
    AttentionStepPlan plan;
    const auto seqs = static_cast<int64_t>(b.seq_lens.size());
    CHECK(num_seqs >= seqs) << "plan for " << num_seqs << " sequences, batch has " << seqs;
    // Causal blocks late in a sequence see the most keys: they go first, so the short ones fill
    // the tail of the grid.
    auto add_work = [&](int64_t s) {
        const int64_t rows = (b.query_start[s + 1] - b.query_start[s]) * group;
        for (int64_t r0 = (rows - 1) / rows_per_block * rows_per_block; r0 >= 0;
             r0 -= rows_per_block)
            plan.work.push_back({static_cast<int32_t>(s), static_cast<int32_t>(r0)});
    };
    if (!fp8_kv) {
        for (int64_t s = 0; s < seqs; ++s) add_work(s);
        return plan;
    }
    plan.scratch_tables.assign(static_cast<size_t>(num_seqs * table_width), 0);
    AttentionStepPlan::Group g;
    int64_t used = 0;  // scratch blocks of the group so far
    for (int64_t s = 0; s < seqs; ++s) {
        if (b.query_start[s + 1] - b.query_start[s] == 1) {
            plan.decode_rows = true;
            continue;
        }
        const int64_t blocks = (b.seq_lens[s] + block_size - 1) / block_size;
        CHECK(blocks <= scratch_blocks && blocks <= b.max_blocks_per_seq && blocks <= table_width)
            << "sequence of " << b.seq_lens[s] << " tokens exceeds the KV scratch pool";
        if (used + blocks > scratch_blocks) {
            plan.groups.push_back(g);
            g = {static_cast<int64_t>(plan.pages.size()) / 2, 0,
                 static_cast<int64_t>(plan.work.size()), 0};
            used = 0;
        }
        for (int64_t j = 0; j < blocks; ++j) {
            plan.pages.push_back(b.block_tables[static_cast<size_t>(s * b.max_blocks_per_seq + j)]);
            plan.pages.push_back(static_cast<int32_t>(used + j));
            plan.scratch_tables[static_cast<size_t>(s * table_width + j)] =
                static_cast<int32_t>(used + j);
        }
        used += blocks;
        g.pages += blocks;
        const auto before = static_cast<int64_t>(plan.work.size());
        add_work(s);
        g.works += static_cast<int64_t>(plan.work.size()) - before;
    }
    if (g.works > 0) plan.groups.push_back(g);
    return plan;
}

}  // namespace autoglm
