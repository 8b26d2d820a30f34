// CudaModelExecutor::execute: flatten, gather the image rows' device addresses, one GPU forward.
#include "engine/cuda_executor.h"

#ifdef AUTOGLM_HAS_CUDA

namespace autoglm {

void CudaModelExecutor::release(const Request& request) {
    images_.release(request);
}

StepOutput CudaModelExecutor::execute(const StepPlan& plan) {
    const FlatStep f = flatten_plan(plan, gpu_.block_size());
    StepOutput out;
    out.sampling_chunks = f.sampling_chunks;
    if (f.tokens.empty()) return out;
    const int64_t hidden = model_.config().text.hidden_size;
    std::vector<const cuda::bf16*> rows;
    std::vector<int32_t> dst;
    for (const FlatStep::ImageSpan& span : f.images) {
        const DeviceImageEmbeddings& e =
            images_.get(*span.request, *span.image, [this](const ImageInput& im) {
                const Glm4vProcessedImage& px = *im.pixels;
                const ImageGrid grid{px.grid_t, px.grid_h, px.grid_w};
                return gpu_.encode_images(px.pixel_values, {&grid, 1});
            });
        for (int64_t j = span.first; j < span.last; ++j) {
            rows.push_back(e.row(j - span.image->token_offset, hidden));
            dst.push_back(static_cast<int32_t>(span.flat_first + j - span.first));
        }
    }
    gpu_.forward(f.view(static_cast<int32_t>(model_.config().image_token_id)), rows, dst);
    out.logits.resize(static_cast<size_t>(gpu_.num_logits() * vocab_size()));
    if (!out.logits.empty()) gpu_.copy_logits(out.logits.data());
    for (const ScheduledChunk& c : plan.chunks) c.request->num_computed_tokens += c.num_new_tokens;
    return out;
}

}  // namespace autoglm

#endif
