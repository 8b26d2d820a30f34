// ModelRunner::run: flatten the plan into a ForwardBatch, splice image rows, run, pick logits.
#include "engine/model_runner.h"

#include <algorithm>

namespace autoglm {

ModelRunner::ModelRunner(const Glm4vModel& model, PagedKvCache& cache)
    : model_(model), cache_(cache) {}

const std::vector<float>& ModelRunner::image_embeddings(const Request& request,
                                                        const ImageInput& image) {
    auto [it, inserted] = vision_cache_.try_emplace(image.content_hash);
    if (inserted) {
        const Glm4vProcessedImage& px = *image.pixels;
        const ImageGrid grid{px.grid_t, px.grid_h, px.grid_w};
        it->second.embeddings = model_.vision().forward(px.pixel_values, {&grid, 1});
    }
    it->second.users.insert(request.id);
    return it->second.embeddings;
}

void ModelRunner::append_image_rows(const Request& request, int64_t begin, int64_t end,
                                    std::vector<float>& rows) {
    const int64_t hidden = model_.config().text.hidden_size;
    for (const ImageInput& image : request.images) {
        const int64_t first = std::max(begin, image.token_offset);
        const int64_t last = std::min(end, image.token_offset + image.num_tokens);
        if (first >= last) continue;
        const std::vector<float>& emb = image_embeddings(request, image);
        rows.insert(rows.end(), emb.begin() + (first - image.token_offset) * hidden,
                    emb.begin() + (last - image.token_offset) * hidden);
    }
}

void ModelRunner::release_images(const Request& request) {
    for (const ImageInput& image : request.images) {
        const auto it = vision_cache_.find(image.content_hash);
        if (it == vision_cache_.end()) continue;
        it->second.users.erase(request.id);
        if (it->second.users.empty()) vision_cache_.erase(it);
    }
}

StepOutput ModelRunner::run(const StepPlan& plan) {
    const int64_t bs = cache_.block_size();
    int64_t max_blocks = 1;
    for (const ScheduledChunk& c : plan.chunks)
        max_blocks =
            std::max<int64_t>(max_blocks, static_cast<int64_t>(c.request->block_table.size()));
    std::vector<int32_t> tokens, query_start{0}, seq_lens, tables, logits_rows;
    std::vector<Position3> positions;
    std::vector<int64_t> slots;
    std::vector<float> image_rows;
    StepOutput out;
    for (size_t ci = 0; ci < plan.chunks.size(); ++ci) {
        const Request& r = *plan.chunks[ci].request;
        const int64_t begin = r.num_computed_tokens;
        const int64_t end = begin + plan.chunks[ci].num_new_tokens;
        CHECK(end <= r.num_tokens() && end <= static_cast<int64_t>(r.block_table.size()) * bs)
            << "request " << r.id << ": chunk [" << begin << ", " << end << ") is not backed";
        for (int64_t j = begin; j < end; ++j) {
            tokens.push_back(r.token_at(j));
            positions.push_back(r.position_at(j));
            slots.push_back(int64_t{r.block_table[static_cast<size_t>(j / bs)]} * bs + j % bs);
        }
        append_image_rows(r, begin, end, image_rows);
        query_start.push_back(static_cast<int32_t>(tokens.size()));
        seq_lens.push_back(static_cast<int32_t>(end));
        tables.insert(tables.end(), r.block_table.begin(), r.block_table.end());
        tables.resize(seq_lens.size() * static_cast<size_t>(max_blocks), 0);
        if (end == r.num_tokens()) {  // all known tokens computed: this request samples next
            logits_rows.push_back(static_cast<int32_t>(tokens.size()) - 1);
            out.sampling_chunks.push_back(static_cast<int32_t>(ci));
        }
    }
    if (tokens.empty()) return out;
    const ForwardBatch batch{tokens,     positions,
                             slots,      query_start,
                             seq_lens,   tables,
                             max_blocks, logits_rows,
                             image_rows, static_cast<int32_t>(model_.config().image_token_id)};
    out.logits = model_.text().forward_batch(batch, cache_);
    for (const ScheduledChunk& c : plan.chunks) c.request->num_computed_tokens += c.num_new_tokens;
    return out;
}

}  // namespace autoglm
