// CpuModelExecutor: the CPU reference backend of the engine-executor contract (engine/step.h), a
// ModelRunner over a PagedKvCache.
#pragma once

#include <cstdint>

#include "engine/model_runner.h"
#include "engine/step.h"

namespace autoglm {

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
