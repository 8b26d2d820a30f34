// ModelRunner::run: flatten the plan into a ForwardBatch, splice image rows, run, pick logits.
#include "engine/model_runner.h"

#include <algorithm>
#include <chrono>

namespace autoglm {

ModelRunner::ModelRunner(const Glm4vModel& model, PagedKvCache& cache)
    : model_(model), cache_(cache) {}

const std::vector<float>& ModelRunner::image_embeddings(const Request& request,
                                                        const ImageInput& image, StepOutput& out) {
    return vision_cache_.get(request, image, [this, &out](const ImageInput& im) {
        const Glm4vProcessedImage& px = *im.pixels;
        const ImageGrid grid{px.grid_t, px.grid_h, px.grid_w};
        const auto t0 = std::chrono::steady_clock::now();
        auto rows = px.compact() ? model_.vision().forward(pixel_values_of(px), {&grid, 1})
                                 : model_.vision().forward(px.pixel_values, {&grid, 1});
        out.vision_seconds =
            std::max(0.0, out.vision_seconds) +
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ++out.images_encoded;
        return rows;
    });
}

void ModelRunner::release_images(const Request& request) {
    vision_cache_.release(request);
}

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

StepOutput ModelRunner::run(const StepPlan& plan) {
    const FlatStep f = flatten_plan(plan, cache_.block_size());
    StepOutput out;
    out.sampling_chunks = f.sampling_chunks;
    if (f.tokens.empty()) return out;
    const int64_t hidden = model_.config().text.hidden_size;
    std::vector<float> image_rows;
    for (const FlatStep::ImageSpan& span : f.images) {
        const std::vector<float>& emb = image_embeddings(*span.request, *span.image, out);
        image_rows.insert(image_rows.end(),
                          emb.begin() + (span.first - span.image->token_offset) * hidden,
                          emb.begin() + (span.last - span.image->token_offset) * hidden);
    }
    ForwardBatch batch = f.view(static_cast<int32_t>(model_.config().image_token_id));
    batch.image_embeds = image_rows;
    const auto t0 = std::chrono::steady_clock::now();
    out.logits = model_.text().forward_batch(batch, cache_);
    out.forward_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const ScheduledChunk& c : plan.chunks) c.request->num_computed_tokens += c.num_new_tokens;
    return out;
}

}  // namespace autoglm
