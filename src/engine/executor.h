// ModelExecutor: what the engine needs from a backend — run one StepPlan as a batched forward
// and return the logits of the chunks that sample. ModelRunner (CPU) implements it; tests use a
// fake; the CUDA runner plugs in here.
#pragma once

#include <cstdint>

#include "engine/model_runner.h"

namespace autoglm {

class ModelExecutor {
  public:
    virtual ~ModelExecutor() = default;
    // Runs the step, advances each chunk's request.num_computed_tokens, returns sampling logits.
    virtual StepOutput execute(const StepPlan& plan) = 0;
    // The request finished or was preempted/aborted for good: drop what is kept for it.
    virtual void release(const Request& request) = 0;
    virtual int64_t vocab_size() const = 0;
};

// The CPU reference backend: a ModelRunner over a PagedKvCache.
class CpuModelExecutor final : public ModelExecutor {
  public:
    CpuModelExecutor(const Glm4vModel& model, int64_t num_blocks, int64_t block_size)
        : model_(model),
          cache_(model.config().text, num_blocks, block_size),
          runner_(model, cache_) {}
    StepOutput execute(const StepPlan& plan) override { return runner_.run(plan); }
    void release(const Request& request) override { runner_.release_images(request); }
    int64_t vocab_size() const override { return model_.config().text.vocab_size; }

  private:
    const Glm4vModel& model_;
    PagedKvCache cache_;
    ModelRunner runner_;
};

}  // namespace autoglm
