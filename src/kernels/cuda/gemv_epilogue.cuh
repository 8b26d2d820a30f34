// The decode GEMVs' shared parts (gemm.cu: bf16 weights; gemv_fp8.cu: FP8 weights): what a
// block does with its columns' sums once its warps have them (the plain store and the fused
// epilogues: SwiGLU, M-RoPE + the paged KV write, the sandwich norm in extra blocks).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/norm_pieces.cuh"
#include "kernels/cuda/rope_kv.cuh"

namespace autoglm::cuda::gemv_detail {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// What the GEMV does with a finished output value (bias added).
enum class GemvEpilogue {
    kStore,     // y[i, col] (bf16 or f32, optionally accumulated)
    kSiluPair,  // columns come in groups of kRows: gate rows, then up rows (half each);
                // y[i, group * kRows / 2 + r] = silu(gate) * up, both rounded to bf16 first
    kRopeKv,    // fused qkv: M-RoPE on adjacent pairs of q and k, bf16 out, k and v also to the
                // paged pool (the rope_kv_write op, bit for bit)
    kNorm,      // bf16 out into rows that hold kEmpty until written; one extra block per row
                // waits for it to fill and runs add_rms_norm on it (then empties it again)
};

// A bf16 that no GEMV output takes (a NaN result is stored as the canonical 0x7fff instead).
constexpr uint16_t kEmpty = 0xffff;

struct NoEpilogueArgs {};

struct RopeKvTarget {
    const int32_t* positions = nullptr;  // [m, 3]
    MropeParams rope;
    int heads = 0, kv_heads = 0, head_dim = 0;
    const int64_t* slots = nullptr;  // [m], < 0: no write
    bf16* k_cache = nullptr;
    bf16* v_cache = nullptr;
};

__device__ __forceinline__ float round_bf16(float v) {
    return __bfloat162float(__float2bfloat16(v));
}

// Only the fused kernels carry their epilogue's arguments (small parameter blocks launch faster).
template <GemvEpilogue kEpi>
using EpilogueArgs =
    std::conditional_t<kEpi == GemvEpilogue::kRopeKv, RopeKvTarget,
                       std::conditional_t<kEpi == GemvEpilogue::kNorm, NormTarget, NoEpilogueArgs>>;

__device__ __forceinline__ uint4 load_relaxed16(const void* p) {
    uint4 v;
    asm volatile("ld.relaxed.gpu.global.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

// A value that other blocks of the same launch watch for (it is its own flag): never kEmpty, and
// a strong store, read by their load_relaxed16 while this kernel runs.
__device__ __forceinline__ void store_flagged(bf16* p, bf16 v) {
    uint16_t bits = __bfloat16_as_ushort(v);
    if (bits == kEmpty) bits = 0x7fff;
    asm volatile("st.relaxed.gpu.global.b16 [%0], %1;\n" ::"l"(p), "h"(bits) : "memory");
}

__device__ __forceinline__ bool has_empty(const uint4& v) {
    const unsigned w[4] = {v.x, v.y, v.z, v.w};
    bool e = false;
#pragma unroll
    for (int i = 0; i < 4; ++i) e |= (w[i] & 0xffffu) == kEmpty || (w[i] >> 16) == kEmpty;
    return e;
}

// kNorm's extra blocks, one per row of y: the sandwich-norm step (add_rms_norm) on the row as
// soon as every GEMV block has stored into it — no fence or counter in the GEMV blocks, each
// value is stored once and watched for. The row is emptied again for the next launch; the
// kernel's end publishes residual and out to the next kernel.
__device__ inline void norm_when_filled(const NormTarget& nt, bf16* row, int dim) {
    __shared__ float scratch[32];
    constexpr int kPieces = 2;  // dim <= kGemvNormMaxDim = 2 pieces x 8 x 256 threads
    NormPieces<kPieces> v;
    load_norm_pieces(v, nt.residual, nt.w_branch, nt.out ? nt.w_out : nullptr, dim);
    uint4 raw[kPieces];
#pragma unroll
    for (int p = 0; p < kPieces; ++p)
        if (norm_piece(p) < dim) raw[p] = load_relaxed16(row + norm_piece(p));
#pragma unroll
    for (int p = 0; p < kPieces; ++p) {
        const int c = norm_piece(p);
        if (c >= dim) continue;
        while (has_empty(raw[p])) raw[p] = load_relaxed16(row + c);
        unpack8(*reinterpret_cast<const Bf16x8*>(&raw[p]), v.b[p]);
        *reinterpret_cast<uint4*>(row + c) = make_uint4(~0u, ~0u, ~0u, ~0u);
    }
    finish_add_rms_norm(v, true, nt.residual, nt.out, dim, nt.eps, scratch);
}

// kNorm's last m blocks (one per row of y) run the norm and return true; every other block of
// every epilogue returns false and computes columns.
template <GemvEpilogue kEpi>
__device__ __forceinline__ bool run_norm_block(int m, int64_t n, void* y,
                                               const EpilogueArgs<kEpi>& rk) {
    if constexpr (kEpi == GemvEpilogue::kNorm) {
        const int row = static_cast<int>(blockIdx.x) - (static_cast<int>(gridDim.x) - m);
        if (row < 0) return false;
        pdl_trigger();
        pdl_wait();
        NormTarget nt = rk;
        nt.residual += static_cast<int64_t>(row) * n;
        if (nt.out) nt.out += static_cast<int64_t>(row) * n;
        norm_when_filled(nt, static_cast<bf16*>(y) + static_cast<int64_t>(row) * n,
                         static_cast<int>(n));
        return true;
    }
    return false;
}

// An epilogue thread's constants (finish's thread layout): its column's weight scale and bias.
// No kernel writes them, so the GEMVs for up to two tokens, whose decode steps are chains of
// such blocks, load them as a block starts, beside its first weights: read after the k loop they
// would put an L2 round trip into every block's chain after its wait (docs/PERFORMANCE.md).
// Others load them just before finish. Plain loads, not the read-only path, like the weights'.
struct ColConsts {
    float scale = 1.0f, bias = 0.0f;
    bool has_scale = false, has_bias = false;
};

template <int MR, int kCols>
__device__ __forceinline__ ColConsts load_col_consts(int64_t col0, int64_t n, const float* w_scale,
                                                     const bf16* bias) {
    ColConsts c;
    const int64_t col = col0 + threadIdx.x / MR;
    if (static_cast<int>(threadIdx.x) < kCols * MR && col < n) {
        if (w_scale) c.scale = __ldca(w_scale + col), c.has_scale = true;
        if (bias) c.bias = __bfloat162float(__ldca(bias + col)), c.has_bias = true;
    }
    return c;
}

// The block's columns col0 .. col0 + kCols - 1 (kCols = kRows + kStaged) for rows i < m: the
// warps' sums in `partial` (written before a __syncthreads), times the column's scale, plus its
// bias (`cc`, load_col_consts' for this thread), then the epilogue. One thread per (column, row).
template <int MR, int kRows, int kStaged, GemvEpilogue kEpi, bool kFlagged = false>
__device__ __forceinline__ void finish(const float (&partial)[kWarps][kRows + kStaged][MR],
                                       int64_t col0, int m, int64_t n, void* __restrict__ y,
                                       bool f32_out, bool accumulate, const EpilogueArgs<kEpi>& rk,
                                       const ColConsts& cc) {
    constexpr int kCols = kRows + kStaged;
    static_assert(kCols * MR <= kThreads, "one epilogue thread per output");
    const int tid = threadIdx.x;
    const int r = tid / MR, i = tid % MR;
    const int64_t col = col0 + r;
    float v = 0.0f;
    if (tid < kCols * MR) {
#pragma unroll
        for (int wi = 0; wi < kWarps; ++wi) v += partial[wi][r][i];
        if (cc.has_scale) v *= cc.scale;
        if (cc.has_bias) v += cc.bias;
    }
    if constexpr (kEpi == GemvEpilogue::kStore) {
        if (tid >= kCols * MR || i >= m || col >= n) return;
        if (f32_out) {
            float* out = static_cast<float*>(y) + i * n + col;
            *out = accumulate ? *out + v : v;
        } else {
            bf16* out = static_cast<bf16*>(y) + i * n + col;
            *out = __float2bfloat16(accumulate ? __bfloat162float(*out) + v : v);
        }
    } else if constexpr (kEpi == GemvEpilogue::kNorm) {
        if (tid >= kCols * MR || i >= m || col >= n) return;
        store_flagged(static_cast<bf16*>(y) + i * n + col, __float2bfloat16(v));
    } else {
        __shared__ float res[kCols][MR];
        if (tid < kCols * MR) res[r][i] = round_bf16(v);
        __syncthreads();
        if constexpr (kEpi == GemvEpilogue::kSiluPair) {
            constexpr int G = kGemvSiluGroup;
            static_assert(kRows % (2 * G) == 0 && kStaged == 0,
                          "a block holds whole gate/up groups");
            constexpr int kHalf = kRows / 2;
            if (tid >= kHalf * MR || i >= m) return;
            const int64_t half = n / 2, out_col = col0 / 2 + r;
            if (out_col >= half) return;
            const int first = r / G * 2 * G + r % G;  // the gate row; its up row is G further
            const float g = res[first][i], u = res[first + G][i];
            const bf16 out = __float2bfloat16(u * (g / (1.0f + __expf(-g))));
            if constexpr (kFlagged)
                store_flagged(static_cast<bf16*>(y) + i * half + out_col, out);
            else
                static_cast<bf16*>(y)[i * half + out_col] = out;
        } else {
            if (tid >= kCols * MR || i >= m || col >= n) return;
            const int hd = rk.head_dim;
            const int h = static_cast<int>(col / hd), d = static_cast<int>(col % hd);
            float out = res[r][i];
            if (h < rk.heads + rk.kv_heads && d / 2 < rk.rope.num_pairs) {
                float s, c;
                mrope_sincos(rk.rope, rk.positions + 3 * i, d / 2, &s, &c);
                out = mrope_rotate(out, res[r ^ 1][i], d, s, c);
            }
            const bf16 ob = __float2bfloat16(out);
            static_cast<bf16*>(y)[i * n + col] = ob;
            if (h < rk.heads) return;
            const int64_t slot = rk.slots[i];
            if (slot < 0) return;
            kv_slot_head(rk.k_cache, rk.v_cache, slot, h, rk.heads, rk.kv_heads, hd)[d] = ob;
        }
    }
}

// Calls f(std::integral_constant<int, MR>()) with the kernels' row count for m (1..8):
// 1, 2, 4 or 8, the smallest that holds m.
template <typename F>
void with_rows(int64_t m, F&& f) {
    if (m == 1)
        f(std::integral_constant<int, 1>());
    else if (m == 2)
        f(std::integral_constant<int, 2>());
    else if (m <= 4)
        f(std::integral_constant<int, 4>());
    else
        f(std::integral_constant<int, 8>());
}

// The FP8-weight GEMV (gemv_fp8.cu) for 1 <= a.m <= kGemvMaxRows rows, k % 16 == 0, with scales
// (dispatch_gemv in gemm.cu checks them).
template <GemvEpilogue kEpi>
void launch_fp8(const LinearArgs& a, const EpilogueArgs<kEpi>& rk, cudaStream_t stream);

// gemv_mlp_fp8 (gemm.h) once checked.
void launch_mlp_fp8(const LinearArgs& gate_up, const LinearArgs& down, const NormTarget& norm,
                    cudaStream_t stream);

}  // namespace autoglm::cuda::gemv_detail
