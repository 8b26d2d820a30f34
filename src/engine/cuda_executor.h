// CudaModelExecutor: the engine's ModelExecutor on the GPU. It flattens each StepPlan as the CPU
// runner does, keeps each image's embeddings on the device (by content hash, while a request
// that uses them lives), samples on the GPU (cuda::sample_rows, or the GPU argmax when every
// row is greedy) after the rows' penalties, logit_bias and min_tokens masks
// (cuda::apply_logit_edits) and copies the logits to the host only when the engine's sampler needs
// them.
#pragma once

#ifdef AUTOGLM_HAS_CUDA

#include <cstdint>

#include "core/device_buffer.h"
#include "engine/step.h"
#include "model/glm4v/cuda_model.h"

namespace autoglm {

class CudaModelExecutor final : public ModelExecutor {
  public:
    CudaModelExecutor(const Glm4vModel& model, CudaGlm4vModel& gpu);

    StepOutput execute(const StepPlan& plan) override;
    void fetch_logits(StepOutput& out) override;
    bool has_device_sampler() const override { return true; }
    bool sample_on_device(std::span<const DeviceSampleRow> rows, std::span<const LogitEdit> edits,
                          std::vector<int32_t>& ids) override;
    void collect_device_seconds(DeviceSeconds& out) override;
    void release(const Request& request) override;
    bool images_ready(const Request& request, int64_t from) override;
    void wait_for_images(const Request& request, int64_t from) override;
    int64_t vocab_size() const override { return model_.config().text.vocab_size; }
    size_t num_cached_images() const { return images_.size(); }
    // Rows sampled on the GPU so far (tests: which path the engine took).
    int64_t num_device_sampled_rows() const { return num_device_sampled_rows_; }

  private:
    // The image's embeddings, the encode started on the vision stream the first time.
    const DeviceImageEmbeddings& encoded(const Request& request, const ImageInput& image);

    const Glm4vModel& model_;
    CudaGlm4vModel& gpu_;
    ImageEmbeddingCache<DeviceImageEmbeddings> images_;
    DeviceBuffer sample_params_, sample_ids_;  // sample_rows' settings and ids, grown on demand
    DeviceBuffer edits_;                       // the step's LogitEdits, grown on demand
    int64_t num_device_sampled_rows_ = 0;
    int32_t encodes_started_ = 0;  // since the last execute (its StepOutput reports them)
};

}  // namespace autoglm

#endif
