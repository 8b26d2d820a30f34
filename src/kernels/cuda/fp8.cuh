// FP8 e4m3 helpers shared by the per-row quantizer (gemm.cu), the kernels that write an FP8
// GEMM's input or read its products (elementwise.cu): one scale a row, amax / 448; and by the FP8
// KV pool's kernels (kv_fp8.cu, decode_attention.cu).
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace autoglm::cuda {

// The row's scale and its inverse from its absolute maximum (a row of zeros: 1 and 1).
__device__ __forceinline__ float fp8_row_scale(float amax) {
    return amax > 0.0f ? amax / 448.0f : 1.0f;
}
__device__ __forceinline__ float fp8_row_inv_scale(float amax) {
    return amax > 0.0f ? 448.0f / amax : 1.0f;
}

// Each value rounded to bf16 (where the unfused passes store a bf16 tensor).
__device__ __forceinline__ void round_to_bf16(float* v) {
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = __bfloat162float(__float2bfloat16(v[e]));
}

// Eight values times inv, rounded to nearest even e4m3 and saturated, packed in 8 bytes.
__device__ __forceinline__ uint2 pack8_e4m3(const float* f, float inv) {
    unsigned packed[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const __nv_fp8x2_storage_t lo = __nv_cvt_float2_to_fp8x2(
            make_float2(f[4 * i] * inv, f[4 * i + 1] * inv), __NV_SATFINITE, __NV_E4M3);
        const __nv_fp8x2_storage_t hi = __nv_cvt_float2_to_fp8x2(
            make_float2(f[4 * i + 2] * inv, f[4 * i + 3] * inv), __NV_SATFINITE, __NV_E4M3);
        packed[i] = static_cast<unsigned>(lo) | (static_cast<unsigned>(hi) << 16);
    }
    return make_uint2(packed[0], packed[1]);
}

// Eight e4m3 bytes times a power-of-two scale as eight bf16 (exact: the FP8 KV pool's values,
// kernels/kv_fp8.h).
__device__ __forceinline__ uint4 e4m3x8_to_bf16x8(uint2 bytes, float scale) {
    unsigned out[4];
    const unsigned in[2] = {bytes.x, bytes.y};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const auto pair = static_cast<__nv_fp8x2_storage_t>(in[i / 2] >> (16 * (i % 2)));
        const float2 f = __half22float2(__nv_cvt_fp8x2_to_halfraw2(pair, __NV_E4M3));
        const __nv_bfloat162 b = __floats2bfloat162_rn(f.x * scale, f.y * scale);
        out[i] = *reinterpret_cast<const unsigned*>(&b);
    }
    return make_uint4(out[0], out[1], out[2], out[3]);
}

// Applies the scales (and bias) of FP8 GEMM products to 8 consecutive columns c.. of row r.
__device__ __forceinline__ void apply_fp8_products(const Fp8Products& p, int64_t r, int64_t c,
                                                   float* v) {
    if (!p.x_scale) return;
    const float sx = p.x_scale[r];
    float ws[8], b[8] = {};
    *reinterpret_cast<float4*>(ws) = *reinterpret_cast<const float4*>(p.w_scale + c);
    *reinterpret_cast<float4*>(ws + 4) = *reinterpret_cast<const float4*>(p.w_scale + c + 4);
    if (p.bias) unpack8(*reinterpret_cast<const Bf16x8*>(p.bias + c), b);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = v[e] * sx * ws[e] + b[e];
}

}  // namespace autoglm::cuda
