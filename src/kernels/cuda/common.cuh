// Device helpers shared by the CUDA kernels: bf16 vector access and warp/block reductions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda_check.h"

namespace autoglm::cuda {

using bf16 = __nv_bfloat16;

#define AUTOGLM_LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

inline unsigned grid_for(int64_t n, int threads) {
    return static_cast<unsigned>((n + threads - 1) / threads);
}

__device__ __forceinline__ float bf(bf16 v) {
    return __bfloat162float(v);
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Programmatic dependent launch (sm_90): a kernel launched with launch_pdl may start while the
// previous kernel of the stream drains; it must call pdl_wait() before reading anything that
// kernel wrote (reads of weights may come first). pdl_trigger() lets the next kernel launch.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

template <typename... KernelArgs, typename... Args>
void launch_pdl(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem,
                cudaStream_t stream, Args... args) {
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    config.attrs = attr;
    config.numAttrs = 1;
    CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, static_cast<KernelArgs>(args)...));
}

// A reduction over the block (blockDim.x a multiple of 32, at most 1024) by `warp_op` (warp_sum,
// warp_max), `identity` standing in for the absent warps; every thread gets the result.
template <typename WarpOp>
__device__ __forceinline__ float block_reduce(float v, float* scratch /* [32] */, WarpOp warp_op,
                                              float identity) {
    v = warp_op(v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    const int warps = blockDim.x / 32;
    v = lane < warps ? scratch[lane] : identity;
    return warp_op(v);
}

__device__ __forceinline__ float block_sum(float v, float* scratch /* [32] */) {
    return block_reduce(
        v, scratch, [](float x) { return warp_sum(x); }, 0.0f);
}
// Max over the block of values >= 0 (absolute maxima).
__device__ __forceinline__ float block_max(float v, float* scratch /* [32] */) {
    return block_reduce(
        v, scratch, [](float x) { return warp_max(x); }, 0.0f);
}

// Eight bf16 in one 16-byte word.
struct alignas(16) Bf16x8 {
    __nv_bfloat162 h[4];
};

__device__ __forceinline__ void unpack8(const Bf16x8& v, float* f) {
    for (int i = 0; i < 4; ++i) {
        const float2 p = __bfloat1622float2(v.h[i]);
        f[2 * i] = p.x;
        f[2 * i + 1] = p.y;
    }
}

__device__ __forceinline__ Bf16x8 pack8(const float* f) {
    Bf16x8 v;
    for (int i = 0; i < 4; ++i) v.h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
    return v;
}

}  // namespace autoglm::cuda
