// CudaModelExecutor::execute: flatten, gather the image rows' device addresses, one GPU forward;
// then sampling on the GPU, or the logits copied to the host sampler on request.
#include "engine/cuda_executor.h"

#ifdef AUTOGLM_HAS_CUDA

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "core/cuda_check.h"

namespace autoglm {

CudaModelExecutor::CudaModelExecutor(const Glm4vModel& model, CudaGlm4vModel& gpu)
    : model_(model), gpu_(gpu) {}

void CudaModelExecutor::release(const Request& request) {
    images_.release(request);
}

const DeviceImageEmbeddings& CudaModelExecutor::encoded(const Request& request,
                                                        const ImageInput& image) {
    return images_.get(request, image, [this](const ImageInput& im) {
        ++encodes_started_;  // its device time comes through collect_device_seconds
        return gpu_.encode_image_async(*im.pixels);
    });
}

bool CudaModelExecutor::images_ready(const Request& request, int64_t from) {
    bool ready = true;
    for (const ImageInput& image : request.images)
        if (image.token_offset + image.num_tokens > from)
            ready = gpu_.is_ready(encoded(request, image)) && ready;
    return ready;
}

void CudaModelExecutor::wait_for_images(const Request& request, int64_t from) {
    for (const ImageInput& image : request.images)
        if (image.token_offset + image.num_tokens > from) gpu_.wait_ready(encoded(request, image));
}

void CudaModelExecutor::collect_device_seconds(DeviceSeconds& out) {
    std::vector<float> ms;
    out.forward_all = gpu_.collect_forward_ms(ms);
    for (const float m : ms) out.forward.push_back(m * 1e-3);
    ms.clear();
    out.vision_all = gpu_.collect_vision_ms(ms);
    for (const float m : ms) out.vision.push_back(m * 1e-3);
}

void CudaModelExecutor::fetch_logits(StepOutput& out) {
    const auto n = static_cast<size_t>(gpu_.num_logits() * vocab_size());
    if (out.sampling_chunks.empty() || out.logits.size() == n) return;
    out.logits.resize(n);
    gpu_.copy_logits(out.logits.data());
}

static_assert(sizeof(LogitEdit) == sizeof(cuda::LogitEdit) &&
                  offsetof(LogitEdit, token) == offsetof(cuda::LogitEdit, token) &&
                  offsetof(LogitEdit, ops) == offsetof(cuda::LogitEdit, ops) &&
                  offsetof(LogitEdit, bias) == offsetof(cuda::LogitEdit, bias) &&
                  offsetof(LogitEdit, repetition) == offsetof(cuda::LogitEdit, repetition) &&
                  offsetof(LogitEdit, frequency) == offsetof(cuda::LogitEdit, frequency) &&
                  offsetof(LogitEdit, presence) == offsetof(cuda::LogitEdit, presence),
              "the engine's and the kernel's LogitEdit must share one layout");

bool CudaModelExecutor::sample_on_device(std::span<const DeviceSampleRow> rows,
                                         std::span<const LogitEdit> edits,
                                         std::vector<int32_t>& ids) {
    const auto n = static_cast<int64_t>(rows.size());
    CHECK(n == gpu_.num_logits()) << n << " sampling rows for " << gpu_.num_logits()
                                  << " logits rows";
    num_device_sampled_rows_ += n;
    const cudaStream_t stream = gpu_.stream();
    if (!edits.empty()) {
        const size_t bytes = edits.size_bytes();
        if (edits_.nbytes() < bytes) edits_ = DeviceBuffer(std::max(bytes, 2 * edits_.nbytes()));
        CUDA_CHECK(
            cudaMemcpyAsync(edits_.data(), edits.data(), bytes, cudaMemcpyHostToDevice, stream));
        cuda::apply_logit_edits(gpu_.logits(), vocab_size(), edits_.as<cuda::LogitEdit>(),
                                static_cast<int64_t>(edits.size()), stream);
    }
    if (std::all_of(rows.begin(), rows.end(),
                    [](const DeviceSampleRow& r) { return r.temperature == 0.0f; })) {
        ids = gpu_.argmax();
        return true;
    }
    std::vector<cuda::SampleRowParams> params;
    for (const DeviceSampleRow& r : rows)
        params.push_back({r.temperature, r.top_k, r.top_p, r.min_p, r.u});
    const size_t param_bytes = params.size() * sizeof(cuda::SampleRowParams);
    if (sample_params_.nbytes() < param_bytes) {  // grown on demand, kept
        sample_params_ = DeviceBuffer(param_bytes);
        sample_ids_ = DeviceBuffer(rows.size() * sizeof(int32_t));
    }
    CUDA_CHECK(cudaMemcpyAsync(sample_params_.data(), params.data(), param_bytes,
                               cudaMemcpyHostToDevice, stream));
    cuda::sample_rows(gpu_.logits(), n, vocab_size(), sample_params_.as<cuda::SampleRowParams>(),
                      sample_ids_.as<int32_t>(), stream);
    ids.resize(rows.size());
    CUDA_CHECK(cudaMemcpyAsync(ids.data(), sample_ids_.data(), ids.size() * sizeof(int32_t),
                               cudaMemcpyDeviceToHost, stream));
    gpu_.synchronize();
    return true;
}

StepOutput CudaModelExecutor::execute(const StepPlan& plan) {
    const FlatStep f = flatten_plan(plan, gpu_.block_size());
    StepOutput out;
    out.images_encoded = std::exchange(encodes_started_, 0);
    out.sampling_chunks = f.sampling_chunks;
    if (f.tokens.empty()) return out;
    const int64_t hidden = model_.config().text.hidden_size;
    std::vector<const cuda::bf16*> rows;
    std::vector<int32_t> dst;
    for (const FlatStep::ImageSpan& span : f.images) {
        const DeviceImageEmbeddings& e = encoded(*span.request, *span.image);
        gpu_.wait_for(e);  // normally written already: admission waits for it
        for (int64_t j = span.first; j < span.last; ++j) {
            rows.push_back(e.row(j - span.image->token_offset, hidden));
            dst.push_back(static_cast<int32_t>(span.flat_first + j - span.first));
        }
    }
    gpu_.forward(f.view(static_cast<int32_t>(model_.config().image_token_id)), rows, dst);
    // The logits stay on the device: sample_on_device, or fetch_logits for the host sampler.
    for (const ScheduledChunk& c : plan.chunks) c.request->num_computed_tokens += c.num_new_tokens;
    return out;
}

}  // namespace autoglm

#endif
