// ModelRunner: turns a StepPlan (which requests advance by how many tokens) into one batched
// forward over the paged KV cache. Images are encoded by the vision tower once and kept, by
// content hash, while any request that uses them lives.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/step.h"
#include "model/glm4v/model.h"
#include "model/glm4v/tensor_parallel.h"
#include "model/kv_cache.h"

namespace autoglm {

class ModelRunner {
  public:
    ModelRunner(const Glm4vModel& model, PagedKvCache& cache);
    // The text decoder split over tensor-parallel ranks, each with its own cache.
    ModelRunner(const Glm4vModel& model, TensorParallelText& parallel);

    // Runs the step and advances each chunk's request.num_computed_tokens.
    StepOutput run(const StepPlan& plan);
    // Drops cached vision embeddings no live request needs (call when a request finishes).
    void release_images(const Request& request);
    size_t num_cached_images() const { return vision_cache_.size(); }

  private:
    const std::vector<float>& image_embeddings(const Request& request, const ImageInput& image,
                                               StepOutput& out);

    const Glm4vModel& model_;
    PagedKvCache* cache_ = nullptr;           // one rank, or
    TensorParallelText* parallel_ = nullptr;  // several
    int64_t block_size_;
    ImageEmbeddingCache<std::vector<float>> vision_cache_;
};

}  // namespace autoglm
