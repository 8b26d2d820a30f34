// The text attention's M-RoPE rotation and paged K/V write as device helpers, shared by the
// rope_kv_write op and the decode GEMV's fused epilogue (gemv_rope_kv), so the two compute the
// same bits by construction.
#pragma once

#include <cstdint>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace autoglm::cuda {

// sin and cos of rotary pair `pair`'s angle for a token at M-RoPE position pos3 = (t, h, w).
__device__ __forceinline__ void mrope_sincos(const MropeParams& rope, const int32_t* pos3, int pair,
                                             float* s, float* c) {
    sincosf(static_cast<float>(pos3[rope.section[pair]]) * rope.inv_freq[pair], s, c);
}

// Element d of a rotated adjacent pair (2i, 2i+1): x is element d, other its partner (d ^ 1).
__device__ __forceinline__ float mrope_rotate(float x, float other, int d, float s, float c) {
    return (d % 2 == 0) ? x * c - other * s : x * c + other * s;
}

// Where fused-qkv head h (a k head: heads <= h < heads + kv_heads; else a v head) of the token
// in `slot` lives in the paged pool.
__device__ __forceinline__ bf16* kv_slot_head(bf16* k_cache, bf16* v_cache, int64_t slot, int h,
                                              int heads, int kv_heads, int head_dim) {
    const bool is_k = h < heads + kv_heads;
    const int kvh = is_k ? h - heads : h - heads - kv_heads;
    return (is_k ? k_cache : v_cache) + (slot * kv_heads + kvh) * head_dim;
}

}  // namespace autoglm::cuda
