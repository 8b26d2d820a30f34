// ModelExecutor: what the engine needs from a backend — run one StepPlan as a batched forward
// and return the logits of the chunks that sample (or sample them where they are). ModelRunner
// (CPU) implements it; tests use a fake; the CUDA runner plugs in here.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/model_runner.h"
#include "engine/sampler.h"

namespace autoglm {

// One sampling row for a backend that samples on its device: the Sampler's truncation settings
// (sampler.h: samples_on_device) and the draw's uniform computed on the host, so a seeded
// request gets the same tokens on either path. Penalties, logit_bias and min_tokens come as
// LogitEdits applied to the rows before.
struct DeviceSampleRow {
    float temperature = 0.0f;  // 0 = greedy (argmax_first), else the effective temperature
    int32_t top_k = 0;
    float top_p = 1.0f;
    float min_p = 0.0f;
    double u = 0.0;  // counter_uniform(seed, number of output tokens so far)
};

class ModelExecutor {
  public:
    virtual ~ModelExecutor() = default;
    // Runs the step, advances each chunk's request.num_computed_tokens, returns sampling logits
    // (in out.logits, or kept on the device until fetch_logits).
    virtual StepOutput execute(const StepPlan& plan) = 0;
    // Makes out.logits (of the last execute) hold every sampling row on the host.
    virtual void fetch_logits(StepOutput& /*out*/) {}
    // Applies `edits` (sampler.h: apply_logit_edits; row = index in `rows`) to the last
    // execute's rows (out.sampling_chunks order) where the logits are, samples them there and
    // writes one id per row; false: not supported, the engine samples on the host.
    virtual bool sample_on_device(std::span<const DeviceSampleRow> /*rows*/,
                                  std::span<const LogitEdit> /*edits*/,
                                  std::vector<int32_t>& /*ids*/) {
        return false;
    }
    // Device seconds of past work that finished since the last call, oldest first: text
    // forwards (one per execute with tokens) and image encodes (one per image). `*_all` tells
    // whether everything so far is reported (then the last entries are the last execute's).
    // Backends that run synchronously report in StepOutput and leave these alone.
    struct DeviceSeconds {
        std::vector<double> forward, vision;
        bool forward_all = false, vision_all = false;
    };
    virtual void collect_device_seconds(DeviceSeconds& /*out*/) {}
    // Whether the request's images whose tokens reach past token `from` are encoded; asking
    // starts the encodes that have not started (backends that encode beside the steps; the
    // CPU encodes inside execute and is always ready).
    virtual bool images_ready(const Request& /*request*/, int64_t /*from*/) { return true; }
    // Blocks until those encodes are done (the engine has nothing else to run).
    virtual void wait_for_images(const Request& /*request*/, int64_t /*from*/) {}
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
