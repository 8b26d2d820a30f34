// Tensor-core building blocks the attention kernels (and the FP8 GEMV) share: cp.async into
// shared memory, ldmatrix fragments, mma.sync m16n8k16 bf16 / f16 with f32 accumulators, ex2 and
// the XOR swizzle of [rows][HD] bf16 tiles, and the head dims both kernels are built for.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace autoglm::cuda {

constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    const auto s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    const int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
// A 4-byte cp.async (zero-filled when !valid), for scalars such as the FP8 KV pool's scales.
__device__ __forceinline__ void cp_async4(void* smem, const void* gmem, bool valid) {
    const auto s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    const int bytes = valid ? 4 : 0;
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldsm_x4(unsigned* r, const void* smem) {
    const auto s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
__device__ __forceinline__ void ldsm_x4_t(unsigned* r, const void* smem) {
    const auto s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

__device__ __forceinline__ void mma_bf16(float* c, const unsigned* a, unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The same shape in f16 (the FP8 GEMV's e4m3 weights convert to f16 exactly).
__device__ __forceinline__ void mma_f16(float* c, const unsigned* a, unsigned b0, unsigned b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const unsigned*>(&v);
}

// Element offset of 16-byte chunk `c` of row `r` in a swizzled [rows][HD] bf16 tile.
template <int HD>
__device__ __forceinline__ int swz(int r, int c) {
    constexpr int kChunks = HD / 8;
    int p;
    if constexpr (kChunks >= 8)
        p = c ^ (r & 7);
    else if constexpr (kChunks == 4)
        p = c ^ ((r >> 1) & 3);
    else
        p = c ^ ((r >> 2) & 1);
    return r * HD + p * 8;
}

// The head dims the attention kernels are built for: calls f(std::integral_constant<int, HD>())
// and returns true, or returns false for any other head dim.
template <typename F>
bool with_head_dim(int64_t head_dim, F&& f) {
    switch (head_dim) {
        case 16:
            f(std::integral_constant<int, 16>());
            return true;
        case 32:
            f(std::integral_constant<int, 32>());
            return true;
        case 64:
            f(std::integral_constant<int, 64>());
            return true;
        case 128:
            f(std::integral_constant<int, 128>());
            return true;
        default:
            return false;
    }
}

}  // namespace autoglm::cuda
