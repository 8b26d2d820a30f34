// CUDA RMSNorm, the twin of cpu::rms_norm (f32 activations and weight, device pointers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace autoglm::cuda {

// out = weight * (x * rsqrt(mean(x^2) + eps)) per row; x, out [rows, dim]; weight [dim].
void rms_norm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* out,
              cudaStream_t stream);

}  // namespace autoglm::cuda
