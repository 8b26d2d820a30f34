// RMSNorm: one block per row, a block-wide sum of squares, then the scaled write.
#include "core/cuda_check.h"
#include "kernels/cuda/rms_norm.cuh"

namespace autoglm::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ weight,
                                int64_t dim, float eps, float* __restrict__ out) {
    const float* xr = x + blockIdx.x * dim;
    float* yr = out + blockIdx.x * dim;
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) sum += xr[j] * xr[j];
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    __shared__ float warp_sums[kThreads / 32];
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
    __syncthreads();
    if (threadIdx.x < 32) {
        sum = threadIdx.x < kThreads / 32 ? warp_sums[threadIdx.x] : 0.0f;
        for (int offset = 16; offset > 0; offset /= 2)
            sum += __shfl_xor_sync(0xffffffffu, sum, offset);
        if (threadIdx.x == 0) warp_sums[0] = sum;
    }
    __syncthreads();
    const float inv = rsqrtf(warp_sums[0] / static_cast<float>(dim) + eps);
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = weight[j] * (xr[j] * inv);
}

}  // namespace

void rms_norm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps, float* out,
              cudaStream_t stream) {
    if (rows == 0) return;
    rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, weight, dim, eps, out);
    CUDA_CHECK(cudaGetLastError());
}

}  // namespace autoglm::cuda
