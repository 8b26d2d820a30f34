// `autoglm bench latency --only accuracy` (bench_accuracy.cpp): FP8 against bf16 on one GPU.
#pragma once

#ifdef AUTOGLM_HAS_CUDA

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/result.h"
#include "model/glm4v/cuda_model.h"
#include "model/glm4v/image_processor.h"

namespace autoglm {

struct AccuracyRow {
    std::string name, figure;
};

// `gpu` is the run's model (opt: FP8 weights, or bf16); a second model of the other weight mode
// (bf16 vision) is created beside it with a pool of `blocks`. Appends JSON members
// ("fp8_vs_bf16_prefill", "_decode", and with opt.fp8_vision "_vision") to `json` and one row
// per comparison to `rows`.
Status compare_fp8_with_bf16(const Glm4vModel& host, const CudaModelOptions& opt,
                             CudaGlm4vModel& gpu, int64_t blocks,
                             const Glm4vProcessedImage& shot_image, std::ostream& json,
                             std::vector<AccuracyRow>& rows);

}  // namespace autoglm

#endif
