// CpuModelExecutor: the CPU reference backend of the engine-executor contract (engine/step.h), a
// ModelRunner over a PagedKvCache.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/model_runner.h"
#include "engine/step.h"

namespace autoglm {

// The CPU reference backend: a ModelRunner over a PagedKvCache, or with tensor_parallel_size > 1
// over the text decoder's ranks (threads), each with a pool of num_blocks blocks of its KV heads.
// KvStorage::kFp8 rounds the cached K/V as the GPU's FP8 pool does (--kv-cache-dtype fp8).
class CpuModelExecutor final : public ModelExecutor {
  public:
    CpuModelExecutor(const Glm4vModel& model, int64_t num_blocks, int64_t block_size,
                     int tensor_parallel_size = 1, KvStorage storage = KvStorage::kExact)
        : model_(model),
          cache_(tensor_parallel_size > 1
                     ? nullptr
                     : std::make_unique<PagedKvCache>(model.config().text, num_blocks, block_size,
                                                      storage)),
          parallel_(tensor_parallel_size > 1
                        ? std::make_unique<TensorParallelText>(model.config().text, model.weights(),
                                                               tensor_parallel_size, num_blocks,
                                                               block_size, storage)
                        : nullptr),
          runner_(parallel_ ? ModelRunner(model, *parallel_) : ModelRunner(model, *cache_)) {}
    StepOutput execute(const StepPlan& plan) override { return runner_.run(plan); }
    void release(const Request& request) override { runner_.release_images(request); }
    int64_t vocab_size() const override { return model_.config().text.vocab_size; }

  private:
    const Glm4vModel& model_;
    std::unique_ptr<PagedKvCache> cache_;
    std::unique_ptr<TensorParallelText> parallel_;
    ModelRunner runner_;
};

}  // namespace autoglm
