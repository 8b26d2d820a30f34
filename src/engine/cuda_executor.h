// CudaModelExecutor: the engine's ModelExecutor on the GPU. It flattens each StepPlan as the CPU
// runner does, keeps each image's embeddings on the device (by content hash, while a request
// that uses them lives) and returns the sampling rows' logits to the host sampler.
#pragma once

#ifdef AUTOGLM_HAS_CUDA

#include <cstdint>

#include "engine/executor.h"
#include "model/glm4v/cuda_model.h"

namespace autoglm {

class CudaModelExecutor final : public ModelExecutor {
  public:
    CudaModelExecutor(const Glm4vModel& model, CudaGlm4vModel& gpu) : model_(model), gpu_(gpu) {}
    StepOutput execute(const StepPlan& plan) override;
    void release(const Request& request) override;
    int64_t vocab_size() const override { return model_.config().text.vocab_size; }
    size_t num_cached_images() const { return images_.size(); }

  private:
    const Glm4vModel& model_;
    CudaGlm4vModel& gpu_;
    ImageEmbeddingCache<DeviceImageEmbeddings> images_;
};

}  // namespace autoglm

#endif
