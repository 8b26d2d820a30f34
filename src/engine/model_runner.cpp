// ModelRunner::run: flatten the plan into a ForwardBatch, splice image rows, run, pick logits.
#include "engine/model_runner.h"

#include <algorithm>
#include <chrono>

namespace autoglm {

ModelRunner::ModelRunner(const Glm4vModel& model, PagedKvCache& cache)
    : model_(model), cache_(&cache), block_size_(cache.block_size()) {}

ModelRunner::ModelRunner(const Glm4vModel& model, TensorParallelText& parallel)
    : model_(model), parallel_(&parallel), block_size_(parallel.block_size()) {}

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

StepOutput ModelRunner::run(const StepPlan& plan) {
    const FlatStep f = flatten_plan(plan, block_size_);
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
    out.logits =
        parallel_ ? parallel_->forward_batch(batch) : model_.text().forward_batch(batch, *cache_);
    out.forward_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const ScheduledChunk& c : plan.chunks) c.request->num_computed_tokens += c.num_new_tokens;
    return out;
}

}  // namespace autoglm
