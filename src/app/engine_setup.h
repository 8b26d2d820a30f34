// The engine flags every serving subcommand shares (KV sizing, batching limits) and the wiring of
// model + executor + engine, with the start-up KV report.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "app/flags.h"
#include "core/result.h"
#include "engine/engine.h"
#include "engine/kv_sizing.h"
#include "model/glm4v/model.h"

namespace autoglm {

void add_engine_flags(Flags& flags);
// Sampling flags of the offline commands (temperature 0 = greedy by default).
void add_sampling_flags(Flags& flags);
Result<SamplingParams> sampling_params_from_flags(const Flags& flags);

struct EngineBundle {
    std::shared_ptr<void> backend;  // the GPU model, when the engine runs on CUDA
    std::string device;             // "cpu", or the GPU's description
    int tensor_parallel_size = 1;   // ranks the text decoder is split over
    std::unique_ptr<ModelExecutor> executor;
    std::unique_ptr<Engine> engine;
    KvCachePlan kv_plan;
};

// (used, total) device memory in bytes for /metrics, or empty on the CPU backend.
std::function<std::pair<double, double>()> gpu_memory_probe(const EngineBundle& bundle);

// Sizes the KV pool from the flags and free memory, and builds the engine (not started).
// `eos_token_ids` end sequences unless ignore_eos.
Result<EngineBundle> make_engine(const Flags& flags, const Glm4vModel& model,
                                 const Tokenizer* tokenizer, std::vector<int32_t> eos_token_ids);

}  // namespace autoglm
