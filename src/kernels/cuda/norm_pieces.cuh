// The decoder's sandwich-norm step (the add_rms_norm op) on one row held in registers by a whole
// block, shared by the norm kernel and the GEMV that runs it in an extra block: thread t holds
// the pieces of 8 elements t, t + blockDim.x, ... (kPieces of them; zeros past the row, which
// add nothing to the sums). The caller loads the branch pieces, the rest is here.
#pragma once

#include "kernels/cuda/common.cuh"

namespace autoglm::cuda {

template <int kPieces>
struct NormPieces {
    float x[kPieces][8] = {};   // the residual row
    float b[kPieces][8] = {};   // the branch row (loaded by the caller)
    float wb[kPieces][8] = {};  // the branch norm's weight
    float wo[kPieces][8] = {};  // the output norm's weight
};

// First element of this thread's piece p (>= dim: no such piece).
__device__ __forceinline__ int norm_piece(int p) {
    return (static_cast<int>(threadIdx.x) + p * static_cast<int>(blockDim.x)) * 8;
}

// Loads the residual row and the weights that are given.
template <int kPieces>
__device__ __forceinline__ void load_norm_pieces(NormPieces<kPieces>& v, const float* residual,
                                                 const bf16* w_branch, const bf16* w_out, int dim) {
#pragma unroll
    for (int p = 0; p < kPieces; ++p) {
        const int c = norm_piece(p);
        if (c >= dim) continue;
        const float4 x0 = reinterpret_cast<const float4*>(residual + c)[0];
        const float4 x1 = reinterpret_cast<const float4*>(residual + c)[1];
        v.x[p][0] = x0.x, v.x[p][1] = x0.y, v.x[p][2] = x0.z, v.x[p][3] = x0.w;
        v.x[p][4] = x1.x, v.x[p][5] = x1.y, v.x[p][6] = x1.z, v.x[p][7] = x1.w;
        if (w_branch) unpack8(*reinterpret_cast<const Bf16x8*>(w_branch + c), v.wb[p]);
        if (w_out) unpack8(*reinterpret_cast<const Bf16x8*>(w_out + c), v.wo[p]);
    }
}

// 1 / rms of the block's row held as pieces (zeros past dim), eps added to the mean square.
template <int kPieces>
__device__ __forceinline__ float inv_rms(const float (&a)[kPieces][8], int dim, float eps,
                                         float* scratch /* [32] */) {
    float ss = 0.0f;
#pragma unroll
    for (int p = 0; p < kPieces; ++p)
#pragma unroll
        for (int e = 0; e < 8; ++e) ss += a[p][e] * a[p][e];
    return rsqrtf(block_sum(ss, scratch) * (1.0f / static_cast<float>(dim)) + eps);
}

// With the branch: residual += wb * rmsnorm(b), stored. With out: out = wo * rmsnorm(residual).
template <int kPieces>
__device__ __forceinline__ void finish_add_rms_norm(NormPieces<kPieces>& v, bool branch,
                                                    float* residual, bf16* out, int dim, float eps,
                                                    float* scratch /* [32] */) {
    if (branch) {
        const float inv = inv_rms(v.b, dim, eps, scratch);
#pragma unroll
        for (int p = 0; p < kPieces; ++p) {
#pragma unroll
            for (int e = 0; e < 8; ++e) v.x[p][e] += v.wb[p][e] * (v.b[p][e] * inv);
            const int c = norm_piece(p);
            if (c >= dim) continue;
            reinterpret_cast<float4*>(residual + c)[0] =
                make_float4(v.x[p][0], v.x[p][1], v.x[p][2], v.x[p][3]);
            reinterpret_cast<float4*>(residual + c)[1] =
                make_float4(v.x[p][4], v.x[p][5], v.x[p][6], v.x[p][7]);
        }
    }
    if (out) {
        const float inv = inv_rms(v.x, dim, eps, scratch);
#pragma unroll
        for (int p = 0; p < kPieces; ++p) {
            const int c = norm_piece(p);
            if (c >= dim) continue;
            float y[8];
#pragma unroll
            for (int e = 0; e < 8; ++e) y[e] = v.wo[p][e] * (v.x[p][e] * inv);
            *reinterpret_cast<Bf16x8*>(out + c) = pack8(y);
        }
    }
}

}  // namespace autoglm::cuda
