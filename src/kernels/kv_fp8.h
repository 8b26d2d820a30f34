// The FP8 KV cache's number format (--kv-cache-dtype fp8), shared by the CPU reference and the
// CUDA kernels: every (token, KV head) row of K and of V is stored as e4m3 bytes with one f32
// scale, the smallest power of two s with amax / s <= 448. A power of two keeps every stored
// value (e4m3 * s) exact in bf16 and f32, so a kernel may apply the scale before or after
// converting the bytes and the CPU's f32 emulation sees the same numbers.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define AUTOGLM_HOST_DEVICE __host__ __device__
#else
#define AUTOGLM_HOST_DEVICE
#endif

namespace autoglm {

// Largest finite e4m3 magnitude.
constexpr float kE4m3Max = 448.0f;

// The scale of a row whose absolute maximum is amax (1 for a row of zeros; at least 2^-60, so
// that its inverse stays finite).
AUTOGLM_HOST_DEVICE inline float kv_fp8_scale(float amax) {
    if (!(amax > 0.0f)) return 1.0f;
    int e = 0;
    const float m = frexpf(amax / kE4m3Max, &e);  // amax / 448 = m * 2^e, m in [0.5, 1)
    if (m == 0.5f) e -= 1;                        // already a power of two
    if (e < -60) e = -60;
    return ldexpf(1.0f, e);
}

}  // namespace autoglm
