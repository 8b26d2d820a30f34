// The decode GEMV with FP8 e4m3 weights (a scale per output column), x kept in bf16
// (weight-only FP8), on the tensor cores: mma.sync m16n8k16 in f16 with f32 accumulators, a
// block's 16 output columns the tile's rows and up to 8 tokens its columns.
//
// Why f16 tensor cores: multiplying on the CUDA cores costs every weight a conversion to f32
// after its e4m3 -> f16 conversion, and those conversions bound the kernel below the bandwidth
// (docs/PERFORMANCE.md). Here a weight costs half a conversion instruction (e4m3x2 -> f16x2,
// exact) and nothing else. x is staged once a round in shared memory as f16, each 64-element
// k-block of a token scaled by a power of two that puts its largest magnitude in [2^14, 2^15):
// every bf16 value within 2^-28 of it is exact in f16 (smaller ones round by at most 2^-39 of
// it), so the products are the bf16 path's (f32 sums in another order), whatever the range of x.
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "kernels/cuda/gemv_epilogue.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/smem_opt_in.h"

namespace autoglm::cuda::gemv_detail {
namespace {

constexpr int kCols = 16;                                // output columns a block: one m16 tile
constexpr int kKBlock = 64;                              // elements of k a scale covers
constexpr int kBlocksAWarp = 8;                          // k-blocks a warp takes a round
constexpr int kRound = kWarps * kBlocksAWarp * kKBlock;  // 4,096 elements of k a round
constexpr int kRoundBlocks = kRound / kKBlock;           // 64: one per 4 threads when staging x
constexpr int kXStride = kRound + 8;  // f16 a staged token row takes (+16 bytes: no bank conflict)
static_assert(kRoundBlocks * 4 == kThreads, "staging: a quarter k-block (16 elements) a thread");

template <int MR>
constexpr size_t smem_bytes() {
    return size_t{MR} * kXStride * sizeof(__half) + size_t{kRoundBlocks} * MR * sizeof(float);
}

// Two e4m3 (low byte first) as f16x2, exactly. sm_89 and newer convert in hardware; the model
// refuses FP8 weights below that, so the sm_80 pass carries a stub.
__device__ __forceinline__ unsigned e4m3x2_to_f16x2(unsigned pair) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 890
    __trap();
    return 0;
#else
    const __half2_raw h =
        __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(pair & 0xffffu), __NV_E4M3);
    return static_cast<unsigned>(h.x) | (static_cast<unsigned>(h.y) << 16);
#endif
}

// The power of two 2^e putting amax (>= 0) in [2^14, 2^15) after division; exponents clamped so
// that both 2^e and 2^-e are normal f32 (zero rows: any scale does).
__device__ __forceinline__ void kblock_scale(float amax, float* scale, float* inv) {
    const int e = min(max(static_cast<int>(__float_as_uint(amax) >> 23), 15), 254);  // biased
    *scale = __uint_as_float(static_cast<unsigned>(e - 14) << 23);                   // 2^(e - 141)
    *inv = __uint_as_float(static_cast<unsigned>(268 - e) << 23);                    // 2^(141 - e)
}

// Stages x[i][base .. base + kRound) of every token i < MR (zeros past m and k) as f16, scaled
// per k-block: thread t converts the 16 elements of quarter t % 4 of k-block t / 4; the block's
// scale (what its values were divided by) goes to scales[k-block][i].
// How x is read: never through the read-only path (ld.global.nc). x is written by the kernel
// before, and ptxas may move read-only loads above the wait for it (griddepcontrol.wait), which
// it did in the fused MLP kernel below (docs/PERFORMANCE.md). kL1: cached in L1 like any load
// after the wait; kWatch: written by other blocks of the same launch (store_flagged), read at L2
// until no value is kEmpty.
enum class XLoad { kL1, kWatch };

template <int MR, XLoad kLoad = XLoad::kL1>
__device__ __forceinline__ void stage_x(const bf16* __restrict__ x, int m, int64_t k, int64_t base,
                                        __half* xs, float* scales) {
    const int tid = threadIdx.x, kb = tid / 4, quarter = tid % 4;
    const int64_t e0 = base + kb * kKBlock + quarter * 16;
    constexpr int kBatch = MR < 4 ? MR : 4;  // tokens whose loads are in flight together
#pragma unroll
    for (int i0 = 0; i0 < MR; i0 += kBatch) {
        uint4 v[kBatch][2];
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
            const int i = i0 + b;
            const bool ok = i < m && e0 < k;
            const auto* p = reinterpret_cast<const uint4*>(x + static_cast<int64_t>(i) * k + e0);
            if constexpr (kLoad == XLoad::kWatch) {
                v[b][0] = ok ? load_relaxed16(p) : make_uint4(0, 0, 0, 0);
                v[b][1] = ok ? load_relaxed16(p + 1) : make_uint4(0, 0, 0, 0);
            } else {
                v[b][0] = ok ? __ldca(p) : make_uint4(0, 0, 0, 0);
                v[b][1] = ok ? __ldca(p + 1) : make_uint4(0, 0, 0, 0);
            }
        }
        if constexpr (kLoad == XLoad::kWatch) {
#pragma unroll
            for (int b = 0; b < kBatch; ++b) {
                if (i0 + b >= m || e0 >= k) continue;
                const auto* p =
                    reinterpret_cast<const uint4*>(x + static_cast<int64_t>(i0 + b) * k + e0);
                while (has_empty(v[b][0])) __nanosleep(32), v[b][0] = load_relaxed16(p);
                while (has_empty(v[b][1])) __nanosleep(32), v[b][1] = load_relaxed16(p + 1);
            }
        }
#pragma unroll
        for (int b = 0; b < kBatch; ++b) {
            const auto* h = reinterpret_cast<const __nv_bfloat162*>(v[b]);
            __nv_bfloat162 mx = __habs2(h[0]);
#pragma unroll
            for (int j = 1; j < 8; ++j) mx = __hmax2(mx, __habs2(h[j]));
            float amax = fmaxf(__low2float(mx), __high2float(mx));
            amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
            amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
            float scale, inv;
            kblock_scale(amax, &scale, &inv);
            uint4 out[2];
            auto* o = reinterpret_cast<__half2*>(out);
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const float2 f = __bfloat1622float2(h[j]);
                o[j] = __floats2half2_rn(f.x * inv, f.y * inv);
            }
            const int i = i0 + b;
            auto* dst = reinterpret_cast<uint4*>(xs + i * kXStride + kb * kKBlock + quarter * 16);
            dst[0] = out[0], dst[1] = out[1];
            if (quarter == 0) scales[kb * MR + i] = scale;
        }
    }
}

// A block owns 16 output columns, its 8 warps split each round's 4,096 elements of k (8 k-blocks
// of 64 a warp). Lane (g, t4) holds 16 bytes of rows g and g + 8 of every k-block it takes (all
// of a round's loads in flight, the first round's before waiting for the kernel that writes x,
// the next round's k-block j as soon as this round's is used);
// its 16 elements feed 4 mmas, mma q taking elements 4q .. 4q + 3 in place of the fragment's k
// columns 2 t4, 2 t4 + 1 and 2 t4 + 8, 2 t4 + 9 (the same order for x's fragment, so the sum is
// over the same pairs). Each k-block's 4 mmas start from zero and are scaled into the
// accumulators (rows g, g + 8; tokens 2 t4, 2 t4 + 1).
//
// The block's tile starts at column col0; before_round(base) runs before each round's x is staged
// (the first round's weights already requested): there the kernel waits for the previous one.
// kFlagged: the outputs are stored as their own flags (store_flagged), for the fused MLP's down
// blocks, which stage x (kWatch) as soon as each of its pieces is stored.
template <int MR, GemvEpilogue kEpi, XLoad kLoad, typename BeforeRound, bool kFlagged = false>
__device__ __forceinline__ void fp8_tile(const bf16* __restrict__ x, int m,
                                         const uint8_t* __restrict__ w,
                                         const float* __restrict__ w_scale, int64_t n, int64_t k,
                                         const bf16* __restrict__ bias, void* __restrict__ y,
                                         bool f32_out, bool accumulate,
                                         const EpilogueArgs<kEpi>& rk, int64_t col0,
                                         unsigned char* smem, BeforeRound before_round) {
    auto* xs = reinterpret_cast<__half*>(smem);
    auto* scales = reinterpret_cast<float*>(smem + size_t{MR} * kXStride * sizeof(__half));
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
    const uint8_t* row_lo = w + min(col0 + g, n - 1) * k;
    const uint8_t* row_hi = w + min(col0 + g + 8, n - 1) * k;
    uint4 wl[kBlocksAWarp], wh[kBlocksAWarp];
    auto load = [&](int j, int64_t base) {  // k-block j of the round at base
        const int64_t off = base + (warp * kBlocksAWarp + j) * kKBlock + 16 * t4;
        const bool ok = off < k;  // k % 16 == 0: a chunk is all in or all out
        wl[j] = ok ? __ldcs(reinterpret_cast<const uint4*>(row_lo + off)) : make_uint4(0, 0, 0, 0);
        wh[j] = ok ? __ldcs(reinterpret_cast<const uint4*>(row_hi + off)) : make_uint4(0, 0, 0, 0);
    };
#pragma unroll
    for (int j = 0; j < kBlocksAWarp; ++j) load(j, 0);
    // Up to two tokens (load_col_consts); larger batches keep their registers for the weights.
    constexpr bool kEarly = MR <= 2;
    ColConsts cc;
    if constexpr (kEarly) cc = load_col_consts<MR, kCols>(col0, n, w_scale, bias);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t base = 0; base < k; base += kRound) {
        const bool more = base + kRound < k;
        before_round(base);
        stage_x<MR, kLoad>(x, m, k, base, xs, scales);
        __syncthreads();
#pragma unroll
        for (int j = 0; j < kBlocksAWarp; ++j) {
            const int kb = warp * kBlocksAWarp + j;
            if (base + kb * kKBlock >= k) break;  // the same for the whole warp
            uint4 xb[2] = {make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
            if (g < MR) {
                const auto* p =
                    reinterpret_cast<const uint4*>(xs + g * kXStride + kb * kKBlock + 16 * t4);
                xb[0] = p[0], xb[1] = p[1];
            }
            const unsigned* b = reinterpret_cast<const unsigned*>(xb);
            const unsigned lo[4] = {wl[j].x, wl[j].y, wl[j].z, wl[j].w};
            const unsigned hi[4] = {wh[j].x, wh[j].y, wh[j].z, wh[j].w};
            float c[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const unsigned a[4] = {e4m3x2_to_f16x2(lo[q]), e4m3x2_to_f16x2(hi[q]),
                                       e4m3x2_to_f16x2(lo[q] >> 16), e4m3x2_to_f16x2(hi[q] >> 16)};
                mma_f16(c, a, b[2 * q], b[2 * q + 1]);
            }
            const float s0 = 2 * t4 < MR ? scales[kb * MR + 2 * t4] : 0.0f;
            const float s1 = 2 * t4 + 1 < MR ? scales[kb * MR + 2 * t4 + 1] : 0.0f;
            acc[0] = fmaf(c[0], s0, acc[0]);
            acc[1] = fmaf(c[1], s1, acc[1]);
            acc[2] = fmaf(c[2], s0, acc[2]);
            acc[3] = fmaf(c[3], s1, acc[3]);
            // Its registers are free: the next round's k-block j is requested now, so that HBM
            // keeps streaming while this round finishes (rows longer than a round: the down
            // projection's 13,696).
            if (more) load(j, base + kRound);
        }
        if (more) __syncthreads();  // every warp is done with this round's x
    }
    __shared__ float partial[kWarps][kCols][MR];
#pragma unroll
    for (int e = 0; e < 2; ++e) {
        const int i = 2 * t4 + e;
        if (i < MR) partial[warp][g][i] = acc[e], partial[warp][g + 8][i] = acc[2 + e];
    }
    __syncthreads();
    if constexpr (!kEarly) cc = load_col_consts<MR, kCols>(col0, n, w_scale, bias);
    finish<MR, kCols, 0, kEpi, kFlagged>(partial, col0, m, n, y, f32_out, accumulate, rk, cc);
}

// fp8_tile's before_round for x written by the previous kernel: the next kernel may launch, and
// the first round waits for the previous one to finish (its weights already requested).
struct WaitForPrevious {
    __device__ __forceinline__ void operator()(int64_t base) const {
        if (base == 0) pdl_trigger(), pdl_wait();
    }
};

template <int MR, GemvEpilogue kEpi>
__global__ void __launch_bounds__(kThreads, 2)
    gemv_fp8_kernel(const bf16* __restrict__ x, int m, const uint8_t* __restrict__ w,
                    const float* __restrict__ w_scale, int64_t n, int64_t k,
                    const bf16* __restrict__ bias, void* __restrict__ y, bool f32_out,
                    bool accumulate, const EpilogueArgs<kEpi> rk) {
    if (run_norm_block<kEpi>(m, n, y, rk)) return;
    extern __shared__ __align__(16) unsigned char fp8_gemv_smem[];
    fp8_tile<MR, kEpi, XLoad::kL1>(x, m, w, w_scale, n, k, bias, y, f32_out, accumulate, rk,
                                   static_cast<int64_t>(blockIdx.x) * kCols, fp8_gemv_smem,
                                   WaitForPrevious{});
}

// gemv_mlp_fp8's arguments: gate/up (SwiGLU pairs into act), then down (+ the sandwich norm).
struct MlpFp8Args {
    const bf16* x;  // [m, H]
    int m;
    const uint8_t* w_gate_up;  // [2I, H], the gemv_silu_pairs layout
    const float* s_gate_up;
    int64_t n_gate_up, h;
    bf16* act;              // [m, I], kEmpty between launches
    const uint8_t* w_down;  // [H, I]
    const float* s_down;
    bf16* y;  // [m, H], the norm's scratch rows
    NormTarget norm;
    int gate_up_blocks, down_blocks;
};

// The decode MLP in one launch: blocks [0, gate_up_blocks) are gemv_silu_pairs' tiles, the next
// down_blocks gemv_add_rms_norm's, the last m its norm blocks. act's values are their own flags
// (kEmpty until stored), as the norm's scratch rows are: a down block requests its first round of
// weights on entry and stages each round of act as its values arrive, so the down projection
// streams while the gate/up tail ends, with no count or fence in between. Blocks are dispatched
// in index order, so every gate/up block a down block waits on already runs or has run (as
// single-pass scans rely on). A norm block's row is complete only once every down block has
// read all of act, so the norm blocks empty act's rows again for the next launch.
template <int MR>
__global__ void __launch_bounds__(kThreads, 2) gemv_fp8_mlp_kernel(const MlpFp8Args p) {
    extern __shared__ __align__(16) unsigned char fp8_gemv_smem[];
    const int b = static_cast<int>(blockIdx.x);
    const int64_t inter = p.n_gate_up / 2;
    if (b < p.gate_up_blocks) {
        const int64_t col0 = static_cast<int64_t>(b) * kCols;
        fp8_tile<MR, GemvEpilogue::kSiluPair, XLoad::kL1, WaitForPrevious, true>(
            p.x, p.m, p.w_gate_up, p.s_gate_up, p.n_gate_up, p.h, nullptr, p.act, false, false,
            NoEpilogueArgs{}, col0, fp8_gemv_smem, WaitForPrevious{});
        return;
    }
    if (b < p.gate_up_blocks + p.down_blocks) {
        const int64_t col0 = static_cast<int64_t>(b - p.gate_up_blocks) * kCols;
        fp8_tile<MR, GemvEpilogue::kNorm, XLoad::kWatch>(p.act, p.m, p.w_down, p.s_down, p.h, inter,
                                                         nullptr, p.y, false, false, p.norm, col0,
                                                         fp8_gemv_smem, WaitForPrevious{});
        return;
    }
    const int row = b - p.gate_up_blocks - p.down_blocks;
    pdl_trigger();
    pdl_wait();
    NormTarget nt = p.norm;
    nt.residual += static_cast<int64_t>(row) * p.h;
    if (nt.out) nt.out += static_cast<int64_t>(row) * p.h;
    norm_when_filled(nt, p.y + static_cast<int64_t>(row) * p.h, static_cast<int>(p.h));
    auto* a = reinterpret_cast<uint4*>(p.act + static_cast<int64_t>(row) * inter);
    for (int64_t c = threadIdx.x; c < inter / 8; c += kThreads)
        a[c] = make_uint4(~0u, ~0u, ~0u, ~0u);
}

template <int MR, GemvEpilogue kEpi>
void launch_variant(const LinearArgs& a, const EpilogueArgs<kEpi>& rk, cudaStream_t stream) {
    constexpr size_t smem = smem_bytes<MR>();
    static SmemOptIn opt_in;  // above 48 KiB with MR = 8; asked for all, whatever the sizes become
    auto* kernel = gemv_fp8_kernel<MR, kEpi>;
    CUDA_CHECK(opt_in.ensure(kernel, static_cast<int>(smem)));
    const auto blocks = static_cast<unsigned>((a.n + kCols - 1) / kCols) +
                        (kEpi == GemvEpilogue::kNorm ? static_cast<unsigned>(a.m) : 0u);
    launch_pdl(kernel, dim3(blocks), dim3(kThreads), smem, stream, a.x, static_cast<int>(a.m),
               a.w_fp8, a.w_scale, a.n, a.k, a.bias, a.y, a.out_type == OutType::kF32, a.accumulate,
               rk);
}

}  // namespace

template <GemvEpilogue kEpi>
void launch_fp8(const LinearArgs& a, const EpilogueArgs<kEpi>& rk, cudaStream_t stream) {
    with_rows(a.m, [&](auto mr) { launch_variant<decltype(mr)::value, kEpi>(a, rk, stream); });
}

void launch_mlp_fp8(const LinearArgs& gate_up, const LinearArgs& down, const NormTarget& norm,
                    cudaStream_t stream) {
    MlpFp8Args p{};
    p.x = gate_up.x, p.m = static_cast<int>(gate_up.m);
    p.w_gate_up = gate_up.w_fp8, p.s_gate_up = gate_up.w_scale, p.n_gate_up = gate_up.n;
    p.h = gate_up.k, p.act = static_cast<bf16*>(gate_up.y);
    p.w_down = down.w_fp8, p.s_down = down.w_scale, p.y = static_cast<bf16*>(down.y);
    p.norm = norm;
    p.gate_up_blocks = static_cast<int>((gate_up.n + kCols - 1) / kCols);
    p.down_blocks = static_cast<int>((down.n + kCols - 1) / kCols);
    with_rows(gate_up.m, [&](auto mr) {
        constexpr int MR = decltype(mr)::value;
        constexpr size_t smem = smem_bytes<MR>();
        static SmemOptIn opt_in;
        CUDA_CHECK(opt_in.ensure(gemv_fp8_mlp_kernel<MR>, static_cast<int>(smem)));
        const auto blocks = static_cast<unsigned>(p.gate_up_blocks + p.down_blocks + p.m);
        launch_pdl(gemv_fp8_mlp_kernel<MR>, dim3(blocks), dim3(kThreads), smem, stream, p);
    });
}

template void launch_fp8<GemvEpilogue::kStore>(const LinearArgs&, const NoEpilogueArgs&,
                                               cudaStream_t);
template void launch_fp8<GemvEpilogue::kSiluPair>(const LinearArgs&, const NoEpilogueArgs&,
                                                  cudaStream_t);
template void launch_fp8<GemvEpilogue::kRopeKv>(const LinearArgs&, const RopeKvTarget&,
                                                cudaStream_t);
template void launch_fp8<GemvEpilogue::kNorm>(const LinearArgs&, const NormTarget&, cudaStream_t);

}  // namespace autoglm::cuda::gemv_detail
