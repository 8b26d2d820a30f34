// flatten_plan: a StepPlan as the flat arrays of one ForwardBatch, with the step's image spans.
#include "engine/step.h"

#include <algorithm>

#include "core/check.h"

namespace autoglm {

FlatStep flatten_plan(const StepPlan& plan, int64_t bs) {
    FlatStep f;
    for (const ScheduledChunk& c : plan.chunks)
        f.max_blocks =
            std::max<int64_t>(f.max_blocks, static_cast<int64_t>(c.request->block_table.size()));
    for (size_t ci = 0; ci < plan.chunks.size(); ++ci) {
        const Request& r = *plan.chunks[ci].request;
        const int64_t begin = r.num_computed_tokens;
        const int64_t end = begin + plan.chunks[ci].num_new_tokens;
        CHECK(end <= r.num_tokens() && end <= static_cast<int64_t>(r.block_table.size()) * bs)
            << "request " << r.id << ": chunk [" << begin << ", " << end << ") is not backed";
        for (int64_t j = begin; j < end; ++j) {
            f.tokens.push_back(r.token_at(j));
            f.positions.push_back(r.position_at(j));
            f.slots.push_back(int64_t{r.block_table[static_cast<size_t>(j / bs)]} * bs + j % bs);
        }
        const auto base = static_cast<int64_t>(f.tokens.size()) - (end - begin);
        for (const ImageInput& image : r.images) {
            const int64_t first = std::max(begin, image.token_offset);
            const int64_t last = std::min(end, image.token_offset + image.num_tokens);
            if (first < last) f.images.push_back({&r, &image, first, last, base + first - begin});
        }
        f.query_start.push_back(static_cast<int32_t>(f.tokens.size()));
        f.seq_lens.push_back(static_cast<int32_t>(end));
        f.tables.insert(f.tables.end(), r.block_table.begin(), r.block_table.end());
        f.tables.resize(f.seq_lens.size() * static_cast<size_t>(f.max_blocks), 0);
        if (end == r.num_tokens()) {  // all known tokens computed: this request samples next
            f.logits_rows.push_back(static_cast<int32_t>(f.tokens.size()) - 1);
            f.sampling_chunks.push_back(static_cast<int32_t>(ci));
        }
    }
    return f;
}

ForwardBatch FlatStep::view(int32_t image_token_id) const {
    return ForwardBatch{tokens,     positions,   slots, query_start,    seq_lens, tables,
                        max_blocks, logits_rows, {},    image_token_id, nullptr};
}

}  // namespace autoglm
