// The one-sequence FP8 decode step as one persistent kernel (decode_step.h).
//
// Work: a layer is five stages, each ended by the grid-wide counter (all blocks arrive, all wait):
//   qkv   (x = input norm of the residual)   16-row units, M-RoPE + K/V write in the epilogue
//   attention                                 (KV head, split of the keys) items, last split merges
//   o     (x = attention output)              16-row units, bf16 out to `branch`
//   gate/up (x = post-attention sandwich norm) 16-row units, SwiGLU in the epilogue
//   down  (x = SwiGLU output)                 16-row units, bf16 out to `branch`
// The sandwich norms run at the start of the stage that needs them, in every block on the whole
// row (4,096 values: cheaper than a stage of their own), block 0 alone storing the new residual
// into the other of the two residual buffers.
//
// Weights: a block's units of every stage of every layer form one sequence of chunks (16 rows x
// up to 1,024 bytes of k); warp 0 keeps kSlots chunks of it in flight by bulk copies into a ring
// of shared-memory slots, refilling a slot as soon as the block is done with it, whatever stage
// the next chunk belongs to. A GEMV stage waits for each chunk's bytes (an mbarrier a slot) and
// multiplies it as gemv_fp8.cu does: e4m3 pairs converted to f16 exactly, mma.sync m16n8k16 on
// f16 with f32 sums, x staged in f16 scaled by a power of two a 64-element k-block.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/decode_step.h"
#include "kernels/cuda/fp8.cuh"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/hopper.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/rope_kv.cuh"

namespace autoglm::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kCols = 16;                       // rows of w a unit (the m16 tile)
constexpr int kChunk = 1024;                    // bytes of k a slot holds of each row
constexpr int kRowStride = kChunk + 64;         // a slot's rows apart (no bank conflicts)
constexpr int kSlotBytes = kCols * kRowStride;  // 17,408
constexpr int kSlots = 10;
constexpr int kKBlock = 64;
constexpr int kMaxX = 16384;      // GEMV inputs staged at most
constexpr int kMaxHidden = 4096;  // the norms hold 16 values a thread
constexpr int kMaxHeadDim = 128, kMaxGroup = 16;
constexpr int kKeys = 32;                   // keys an attention step loads
constexpr int kKvStride = kMaxHeadDim + 8;  // bf16 between the step's K (V) rows in shared memory
constexpr int kQStride = kMaxHeadDim + 1;   // f32 between the group's q rows
constexpr int kMaxSplits = 256;

constexpr size_t kXBytes = size_t{kMaxX} * 2 + size_t{kMaxX / kKBlock} * 4;
constexpr size_t kAttnBytes = size_t{2} * kKeys * kKvStride * 2 + size_t{kMaxGroup} * kQStride * 4 +
                              size_t{kMaxGroup} * kKeys * 4;
constexpr size_t kWorkBytes = kXBytes > kAttnBytes ? kXBytes : kAttnBytes;
constexpr size_t kSmemBytes = size_t{kSlots} * kSlotBytes + kWorkBytes;

enum Stage { kQkv = 0, kO = 1, kGateUp = 2, kDown = 3 };

struct Shared {  // the block's static shared memory
    alignas(8) uint64_t full[kSlots];
    float partial[kThreads / 32][kCols];
    float res[kCols];
    float scratch[32];
    float m[kMaxGroup], l[kMaxGroup], alpha[kMaxGroup];
    bool last;
};

// The device code needs sm_90 (bulk copies); the other passes compile a stub kernel.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
#define AUTOGLM_DECODE_STEP 1
#else
#define AUTOGLM_DECODE_STEP 0
#endif

#if AUTOGLM_DECODE_STEP

constexpr int kWarps = kThreads / 32;
constexpr int kNormPer = kMaxHidden / kThreads;                        // norm values a thread
constexpr int kPairsAThread = kMaxGroup * kMaxHeadDim / 2 / kThreads;  // PV outputs a thread

// The GEMV shapes of a layer: rows n and row bytes k of stage s.
struct Shapes {
    int n[4], k[4];
};

__device__ __forceinline__ int div_up(int a, int b) {
    return (a + b - 1) / b;
}

__device__ __forceinline__ float round_bf16_value(float v) {
    return __bfloat162float(__float2bfloat16(v));
}

// Units of stage s in layer l are dealt to the blocks round-robin from a block that moves with
// (l, s), so that the blocks with one unit more are not the same ones every stage.
struct Deal {
    int first, count;
};
__device__ __forceinline__ Deal deal(int units, int layer, int stage) {
    const int G = static_cast<int>(gridDim.x);
    const int shift = ((layer * 4 + stage) * 53) % G;
    const int first = (static_cast<int>(blockIdx.x) + shift) % G;
    return {first, first < units ? div_up(units - first, G) : 0};
}

// A place in the block's sequence of weight chunks.
struct Cursor {
    int layer = 0, stage = 0, unit = 0, chunk = 0;  // unit: the block's j-th of the stage
    bool valid = false;
};

__device__ __forceinline__ int stage_units(const Shapes& sh, int s) {
    return div_up(sh.n[s], kCols);
}
__device__ __forceinline__ int stage_chunks(const Shapes& sh, int s) {
    return div_up(sh.k[s], kChunk);
}

// Moves c to the first chunk at or after its (layer, stage) that this block has.
__device__ __forceinline__ void settle(Cursor& c, const Shapes& sh, int layers) {
    while (c.layer < layers && deal(stage_units(sh, c.stage), c.layer, c.stage).count == 0) {
        if (++c.stage == 4) c.stage = 0, ++c.layer;
    }
    c.valid = c.layer < layers;
}

__device__ __forceinline__ void advance(Cursor& c, const Shapes& sh, int layers) {
    if (++c.chunk < stage_chunks(sh, c.stage)) return;
    c.chunk = 0;
    if (++c.unit < deal(stage_units(sh, c.stage), c.layer, c.stage).count) return;
    c.unit = 0;
    if (++c.stage == 4) c.stage = 0, ++c.layer;
    settle(c, sh, layers);
}

__device__ __forceinline__ uint64_t evict_first_policy() {
    uint64_t policy;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
    return policy;
}

// Warp 0: the chunk at c into `slot` (16 bulk copies, one a row, completing on the slot's
// mbarrier).
__device__ __forceinline__ void issue_chunk(const DecodeStepArgs& a, const Shapes& sh,
                                            const Cursor& c, unsigned char* ring, Shared& sm,
                                            int slot, uint64_t policy) {
    const int lane = threadIdx.x % 32;
    const int n = sh.n[c.stage], k = sh.k[c.stage];
    const Deal d = deal(stage_units(sh, c.stage), c.layer, c.stage);
    const int unit = d.first + c.unit * static_cast<int>(gridDim.x);
    const int base = c.chunk * kChunk;
    const int bytes = min(kChunk, k - base);
    const uint32_t bar = sm90::smem_addr(&sm.full[slot]);
    if (lane == 0) sm90::mbar_expect_tx(bar, static_cast<uint32_t>(kCols * bytes));
    __syncwarp();
    if (lane < kCols) {
        const int row = min(unit * kCols + lane, n - 1);
        const uint8_t* src = a.layers[c.layer].w[c.stage] + static_cast<int64_t>(row) * k + base;
        const uint32_t dst = sm90::smem_addr(ring + slot * kSlotBytes + lane * kRowStride);
        asm volatile(
            "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
            " [%0], [%1], %2, [%3], %4;\n" ::"r"(dst),
            "l"(src), "r"(bytes), "r"(bar), "l"(policy)
            : "memory");
    }
}

// The grid-wide barrier: every block arrives once; `target` grows by gridDim.x each time.
__device__ __forceinline__ void grid_barrier(unsigned* counter, unsigned& target) {
    target += gridDim.x;
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        atomicAdd(counter, 1u);
        unsigned v;
        do {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n"
                         : "=r"(v)
                         : "l"(counter)
                         : "memory");
        } while (v < target);
        __threadfence();
    }
    __syncthreads();
}

// x (bf16, k values, zeros up to the next 64) staged in place as f16 scaled per 64-element
// k-block (gemv_fp8.cu's stage_x): scales[kb] is what k-block kb was divided by.
__device__ void stage_in_place(uint16_t* x, float* scales, int k) {
    const int quarters = div_up(k, kKBlock) * 4;
    for (int q0 = 0; q0 < quarters; q0 += kThreads) {
        const int q = q0 + static_cast<int>(threadIdx.x);
        const bool ok = q < quarters;
        uint4 v[2] = {make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
        if (ok) {
            v[0] = reinterpret_cast<const uint4*>(x + q * 16)[0];
            v[1] = reinterpret_cast<const uint4*>(x + q * 16)[1];
        }
        const auto* h = reinterpret_cast<const __nv_bfloat162*>(v);
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
        if (ok) {
            reinterpret_cast<uint4*>(x + q * 16)[0] = out[0];
            reinterpret_cast<uint4*>(x + q * 16)[1] = out[1];
            if (q % 4 == 0) scales[q / 4] = scale;
        }
    }
    __syncthreads();
}

// x = a row of bf16 written earlier in this kernel (L2 reads), zeros up to the next 64.
__device__ void load_row(const bf16* src, int k, uint16_t* x) {
    const int padded = div_up(k, kKBlock) * kKBlock;
    for (int i = static_cast<int>(threadIdx.x) * 8; i < padded; i += kThreads * 8) {
        uint4 v = make_uint4(0, 0, 0, 0);
        if (i < k) v = __ldcg(reinterpret_cast<const uint4*>(src + i));  // k % 16 == 0
        *reinterpret_cast<uint4*>(x + i) = v;
    }
    __syncthreads();
}

// The sandwich-norm step (add_rms_norm) on the whole row in every block: with a branch,
// r = residual + wb * rmsnorm(branch) (stored to residual_out by block 0 alone), else r =
// residual; with wo, x = bf16(wo * rmsnorm(r)), zeros up to the next 64. Thread t holds
// t + 256 j.
__device__ void sandwich(const float* residual, const bf16* branch, const bf16* wb,
                         float* residual_out, const bf16* wo, int dim, float eps, uint16_t* x,
                         float* scratch) {
    const int tid = threadIdx.x;
    float r[kNormPer], b[kNormPer];
#pragma unroll
    for (int j = 0; j < kNormPer; ++j) {
        const int i = tid + j * kThreads;
        r[j] = i < dim ? __ldcg(residual + i) : 0.0f;
        b[j] = branch && i < dim ? __bfloat162float(__ldcg(branch + i)) : 0.0f;
    }
    if (branch) {
        float ss = 0.0f;
#pragma unroll
        for (int j = 0; j < kNormPer; ++j) ss += b[j] * b[j];
        const float inv = rsqrtf(block_sum(ss, scratch) * (1.0f / static_cast<float>(dim)) + eps);
#pragma unroll
        for (int j = 0; j < kNormPer; ++j) {
            const int i = tid + j * kThreads;
            if (i >= dim) continue;
            r[j] += __bfloat162float(wb[i]) * (b[j] * inv);
            if (blockIdx.x == 0) residual_out[i] = r[j];
        }
    }
    if (!wo) return;
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < kNormPer; ++j) ss += r[j] * r[j];
    const float inv = rsqrtf(block_sum(ss, scratch) * (1.0f / static_cast<float>(dim)) + eps);
    const int padded = div_up(dim, kKBlock) * kKBlock;
#pragma unroll
    for (int j = 0; j < kNormPer; ++j) {
        const int i = tid + j * kThreads;
        if (i < dim)
            x[i] = __bfloat16_as_ushort(__float2bfloat16(__bfloat162float(wo[i]) * (r[j] * inv)));
        else if (i < padded)
            x[i] = 0;
    }
    __syncthreads();
}

// One GEMV stage: the block's units of stage s in layer l, x staged in xs / scales; each unit's
// 16 sums times the row scales (+ bias) go to the epilogue.
struct Ring {
    unsigned char* slots;
    uint32_t consumed = 0;  // chunks consumed so far (the next one's index)
    Cursor next;            // the next chunk to request (warp 0)
    uint64_t policy = 0;
};

template <int kStage>
__device__ void gemv_stage(const DecodeStepArgs& a, const Shapes& sh, int layer, Ring& ring,
                           Shared& sm, const uint16_t* xs, const float* scales) {
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
    const int n = sh.n[kStage], k = sh.k[kStage];
    const DecodeStepLayer& L = a.layers[layer];
    const Deal d = deal(stage_units(sh, kStage), layer, kStage);
    const int chunks = stage_chunks(sh, kStage);
    for (int j = 0; j < d.count; ++j) {
        const int unit = d.first + j * static_cast<int>(gridDim.x);
        float acc0 = 0.0f, acc2 = 0.0f;
        for (int c = 0; c < chunks; ++c) {
            const int slot = static_cast<int>(ring.consumed % kSlots);
            const uint32_t parity = (ring.consumed / kSlots) & 1u;
            const int base = c * kChunk;
            const int kbs = div_up(min(kChunk, k - base), kKBlock);
            sm90::mbar_wait(sm90::smem_addr(&sm.full[slot]), parity);
            const unsigned char* s = ring.slots + slot * kSlotBytes;
            for (int kb = warp; kb < kbs; kb += kWarps) {
                const int off = kb * kKBlock + 16 * t4;
                const bool ok = base + off < k;  // k % 16 == 0: a piece is all in or all out
                uint4 lo = make_uint4(0, 0, 0, 0), hi = make_uint4(0, 0, 0, 0);
                if (ok) {
                    lo = *reinterpret_cast<const uint4*>(s + g * kRowStride + off);
                    hi = *reinterpret_cast<const uint4*>(s + (g + 8) * kRowStride + off);
                }
                uint4 xb[2] = {make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
                if (g == 0) {
                    const auto* p = reinterpret_cast<const uint4*>(xs + base + off);
                    xb[0] = p[0], xb[1] = p[1];
                }
                const unsigned* b = reinterpret_cast<const unsigned*>(xb);
                const unsigned wl[4] = {lo.x, lo.y, lo.z, lo.w};
                const unsigned wh[4] = {hi.x, hi.y, hi.z, hi.w};
                float cc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    const unsigned af[4] = {e4m3x2_to_f16x2(wl[q]), e4m3x2_to_f16x2(wh[q]),
                                            e4m3x2_to_f16x2(wl[q] >> 16),
                                            e4m3x2_to_f16x2(wh[q] >> 16)};
                    mma_f16(cc, af, b[2 * q], b[2 * q + 1]);
                }
                const float sc = scales[base / kKBlock + kb];
                acc0 = fmaf(cc[0], sc, acc0);
                acc2 = fmaf(cc[2], sc, acc2);
            }
            __syncthreads();  // the slot is free
            if (warp == 0 && ring.next.valid) {
                issue_chunk(a, sh, ring.next, ring.slots, sm, slot, ring.policy);
                advance(ring.next, sh, a.num_layers);
            }
            ++ring.consumed;
        }
        if (t4 == 0) sm.partial[warp][g] = acc0, sm.partial[warp][g + 8] = acc2;
        __syncthreads();
        const int col0 = unit * kCols;
        if (tid < kCols) {
            const int col = col0 + tid;
            float v = 0.0f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w) v += sm.partial[w][tid];
            if (col < n) {
                v *= L.scale[kStage][col];
                if (kStage == kQkv && L.qkv_bias) v += __bfloat162float(L.qkv_bias[col]);
            }
            sm.res[tid] = v;
        }
        __syncthreads();
        if (tid < kCols) {
            const int r = tid, col = col0 + r;
            if constexpr (kStage == kQkv) {
                if (col < n) {
                    const int hd = a.head_dim, h = col / hd, dd = col % hd;
                    float out = round_bf16_value(sm.res[r]);
                    if (h < a.heads + a.kv_heads && dd / 2 < a.rope.num_pairs) {
                        float sn, cs;
                        mrope_sincos(a.rope, a.positions, dd / 2, &sn, &cs);
                        out = mrope_rotate(out, round_bf16_value(sm.res[r ^ 1]), dd, sn, cs);
                    }
                    const bf16 ob = __float2bfloat16(out);
                    a.qkv[col] = ob;
                    const int64_t slot = *a.slot;
                    if (h >= a.heads && slot >= 0) {
                        bf16* k_cache = a.kv_pool + static_cast<int64_t>(layer) * a.layer_stride;
                        kv_slot_head(k_cache, k_cache + a.v_offset, slot, h, a.heads, a.kv_heads,
                                     hd)[dd] = ob;
                    }
                }
            } else if constexpr (kStage == kGateUp) {
                constexpr int G = static_cast<int>(kGemvSiluGroup);
                const int out_col = col0 / 2 + r;
                if (r < kCols / 2 && out_col < n / 2) {
                    const int first = r / G * 2 * G + r % G;
                    const float gv = round_bf16_value(sm.res[first]);
                    const float uv = round_bf16_value(sm.res[first + G]);
                    a.act[out_col] = __float2bfloat16(uv * (gv / (1.0f + __expf(-gv))));
                }
            } else {
                if (col < n) a.branch[col] = __float2bfloat16(sm.res[r]);
            }
        }
    }
}

// Attention of the step's token: items (KV head h, split of the keys), kKeys keys a step with an
// online softmax; the group's heads' scores and PV in f32 on the CUDA cores (the keys are few
// next to the weights). More than one split: partials to global memory, the last split of the
// KV head to finish (a ticket) merges them.
__device__ void attention_stage(const DecodeStepArgs& a, int layer, Shared& sm,
                                unsigned char* work) {
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int hd = a.head_dim, grp = a.heads / a.kv_heads, kvh = a.kv_heads;
    const int G = static_cast<int>(gridDim.x);
    const int L = *a.kv_len;
    const int steps = div_up(L, kKeys);
    int splits = min(steps, min(kMaxSplits, max(1, G / kvh)));
    const int per = div_up(steps, splits);
    splits = div_up(steps, per);
    bf16* ks = reinterpret_cast<bf16*>(work);
    bf16* vs = ks + kKeys * kKvStride;
    float* qs = reinterpret_cast<float*>(vs + kKeys * kKvStride);
    float* ps = qs + kMaxGroup * kQStride;
    const bf16* k_cache = a.kv_pool + static_cast<int64_t>(layer) * a.layer_stride;
    const bf16* v_cache = k_cache + a.v_offset;
    const float qscale = a.scale * 1.4426950408889634f;  // scores in the log2 domain
    const int pairs = grp * hd / 2;
    for (int item = static_cast<int>(blockIdx.x); item < kvh * splits; item += G) {
        __syncthreads();  // the previous item's shared values are read
        const int h = item / splits, split = item % splits;
        const int j0 = split * per * kKeys, j1 = min(L, j0 + per * kKeys);
        for (int e = tid; e < grp * hd; e += kThreads) {
            const int gi = e / hd, dd = e % hd;
            qs[gi * kQStride + dd] =
                __bfloat162float(__ldcg(a.qkv + static_cast<int64_t>(h * grp + gi) * hd + dd)) *
                qscale;
        }
        if (tid < grp) sm.m[tid] = -INFINITY, sm.l[tid] = 0.0f;
        float2 acc[kPairsAThread];
#pragma unroll
        for (int i = 0; i < kPairsAThread; ++i) acc[i] = make_float2(0.0f, 0.0f);
        for (int j = j0; j < j1; j += kKeys) {
            const int nk = min(kKeys, j1 - j);
            const int parts = hd / 8;
            __syncthreads();  // the previous step's tiles are read
            for (int e = tid; e < nk * parts; e += kThreads) {
                const int key = e / parts, part = e % parts, pos = j + key;
                const int64_t slot =
                    static_cast<int64_t>(a.block_table[pos / a.block_size]) * a.block_size +
                    pos % a.block_size;
                const int64_t off = (slot * kvh + h) * hd + part * 8;
                *reinterpret_cast<uint4*>(ks + key * kKvStride + part * 8) =
                    __ldcg(reinterpret_cast<const uint4*>(k_cache + off));
                *reinterpret_cast<uint4*>(vs + key * kKvStride + part * 8) =
                    __ldcg(reinterpret_cast<const uint4*>(v_cache + off));
            }
            __syncthreads();
            for (int e = tid; e < grp * kKeys; e += kThreads) {
                const int gi = e % grp, key = e / grp;
                float s = -INFINITY;
                if (key < nk) {
                    s = 0.0f;
                    const float* q = qs + gi * kQStride;
                    const auto* kr = reinterpret_cast<const __nv_bfloat162*>(ks + key * kKvStride);
                    for (int dd = 0; dd < hd / 2; ++dd) {
                        const float2 kv = __bfloat1622float2(kr[dd]);
                        s = fmaf(q[2 * dd], kv.x, fmaf(q[2 * dd + 1], kv.y, s));
                    }
                }
                ps[gi * kKeys + key] = s;
            }
            __syncthreads();
            for (int gi = warp; gi < grp; gi += kWarps) {
                const float s = ps[gi * kKeys + lane];
                const float m_old = sm.m[gi];
                const float m_new = fmaxf(m_old, warp_max(s));
                const float p = s == -INFINITY ? 0.0f : exp2f(s - m_new);
                const float al = m_old == -INFINITY ? 0.0f : exp2f(m_old - m_new);
                const float sum = warp_sum(p);
                ps[gi * kKeys + lane] = p;
                if (lane == 0) sm.m[gi] = m_new, sm.l[gi] = sm.l[gi] * al + sum, sm.alpha[gi] = al;
            }
            __syncthreads();
#pragma unroll
            for (int i = 0; i < kPairsAThread; ++i) {
                const int e = tid + i * kThreads;
                if (e >= pairs) break;
                const int gi = e / (hd / 2), dp = e % (hd / 2);
                const float al = sm.alpha[gi];
                float2 o = make_float2(acc[i].x * al, acc[i].y * al);
                for (int key = 0; key < nk; ++key) {
                    const float p = ps[gi * kKeys + key];
                    const float2 v = __bfloat1622float2(
                        reinterpret_cast<const __nv_bfloat162*>(vs + key * kKvStride)[dp]);
                    o.x = fmaf(p, v.x, o.x), o.y = fmaf(p, v.y, o.y);
                }
                acc[i] = o;
            }
        }
        __syncthreads();
        if (splits == 1) {
#pragma unroll
            for (int i = 0; i < kPairsAThread; ++i) {
                const int e = tid + i * kThreads;
                if (e >= pairs) break;
                const int gi = e / (hd / 2), dp = e % (hd / 2);
                const float inv = 1.0f / sm.l[gi];
                reinterpret_cast<__nv_bfloat162*>(a.attn +
                                                  static_cast<int64_t>(h * grp + gi) * hd)[dp] =
                    __floats2bfloat162_rn(acc[i].x * inv, acc[i].y * inv);
            }
            continue;
        }
        // Partials: [head][split][hd + 2] (unnormalised sums, then the maximum and the sum).
#pragma unroll
        for (int i = 0; i < kPairsAThread; ++i) {
            const int e = tid + i * kThreads;
            if (e >= pairs) break;
            const int gi = e / (hd / 2), dp = e % (hd / 2);
            float* row =
                a.partial + (static_cast<int64_t>(h * grp + gi) * kMaxSplits + split) * (hd + 2);
            reinterpret_cast<float2*>(row)[dp] = acc[i];
            if (dp == 0) row[hd] = sm.m[gi], row[hd + 1] = sm.l[gi];
        }
        __threadfence();
        __syncthreads();
        if (tid == 0) {
            const unsigned ticket = atomicAdd(a.sync + 1 + h, 1u);
            sm.last = ticket == static_cast<unsigned>(splits - 1);
        }
        __syncthreads();
        if (!sm.last) continue;
        __threadfence();
        for (int e = tid; e < pairs; e += kThreads) {
            const int gi = e / (hd / 2), dp = e % (hd / 2);
            const float* head =
                a.partial + static_cast<int64_t>(h * grp + gi) * kMaxSplits * (hd + 2);
            float mx = -INFINITY;
            for (int s = 0; s < splits; ++s) mx = fmaxf(mx, __ldcg(head + s * (hd + 2) + hd));
            float l = 0.0f;
            float2 o = make_float2(0.0f, 0.0f);
            for (int s = 0; s < splits; ++s) {
                const float* row = head + s * (hd + 2);
                const float f = exp2f(__ldcg(row + hd) - mx);
                l += f * __ldcg(row + hd + 1);
                const float2 v = __ldcg(reinterpret_cast<const float2*>(row) + dp);
                o.x += f * v.x, o.y += f * v.y;
            }
            const float inv = 1.0f / l;
            reinterpret_cast<__nv_bfloat162*>(a.attn +
                                              static_cast<int64_t>(h * grp + gi) * hd)[dp] =
                __floats2bfloat162_rn(o.x * inv, o.y * inv);
        }
        if (tid == 0) a.sync[1 + h] = 0;  // the last one: ready for the next layer
    }
}

#endif  // AUTOGLM_DECODE_STEP

__global__ void __launch_bounds__(kThreads, 1)
    decode_step_kernel(const __grid_constant__ DecodeStepArgs a) {
#if AUTOGLM_DECODE_STEP
    extern __shared__ __align__(128) unsigned char step_smem[];
    __shared__ Shared sm;
    const int tid = threadIdx.x, warp = tid / 32;
    const int H = a.hidden, hd = a.head_dim;
    const int qkv_n = (a.heads + 2 * a.kv_heads) * hd;
    const Shapes sh = {{qkv_n, H, 2 * a.inter, H}, {H, a.heads * hd, H, a.inter}};
    unsigned char* work = step_smem + kSlots * kSlotBytes;
    auto* xs = reinterpret_cast<uint16_t*>(work);
    auto* scales = reinterpret_cast<float*>(work + size_t{kMaxX} * 2);

    Ring ring;
    ring.slots = step_smem;
    if (tid == 0) {
        for (int s = 0; s < kSlots; ++s) sm90::mbar_init(sm90::smem_addr(&sm.full[s]), 1);
        sm90::mbar_fence_init();
    }
    __syncthreads();
    settle(ring.next, sh, a.num_layers);
    if (warp == 0) {
        ring.policy = evict_first_policy();
        for (int s = 0; s < kSlots && ring.next.valid; ++s) {
            issue_chunk(a, sh, ring.next, ring.slots, sm, s, ring.policy);
            advance(ring.next, sh, a.num_layers);
        }
    }

    unsigned target = 0;
    unsigned* const counter = a.sync;
    float* res[2] = {a.residual, a.residual_alt};
    int p = 0;  // res[p] holds the residual
    for (int l = 0; l < a.num_layers; ++l) {
        const DecodeStepLayer& L = a.layers[l];
        if (l == 0) {
            sandwich(res[p], nullptr, nullptr, nullptr, L.input_ln, H, a.eps, xs, sm.scratch);
        } else {
            sandwich(res[p], a.branch, a.layers[l - 1].post_mlp, res[p ^ 1], L.input_ln, H, a.eps,
                     xs, sm.scratch);
            p ^= 1;
        }
        stage_in_place(xs, scales, H);
        gemv_stage<kQkv>(a, sh, l, ring, sm, xs, scales);
        grid_barrier(counter, target);

        attention_stage(a, l, sm, work);
        grid_barrier(counter, target);

        load_row(a.attn, a.heads * hd, xs);
        stage_in_place(xs, scales, a.heads * hd);
        gemv_stage<kO>(a, sh, l, ring, sm, xs, scales);
        grid_barrier(counter, target);

        sandwich(res[p], a.branch, L.post_self_attn, res[p ^ 1], L.post_attention, H, a.eps, xs,
                 sm.scratch);
        p ^= 1;
        stage_in_place(xs, scales, H);
        gemv_stage<kGateUp>(a, sh, l, ring, sm, xs, scales);
        grid_barrier(counter, target);

        load_row(a.act, a.inter, xs);
        stage_in_place(xs, scales, a.inter);
        gemv_stage<kDown>(a, sh, l, ring, sm, xs, scales);
        grid_barrier(counter, target);
    }
    // The last layer's MLP into the residual, by block 0 (two updates a layer: it ends in
    // a.residual).
    if (blockIdx.x == 0)
        sandwich(res[p], a.branch, a.layers[a.num_layers - 1].post_mlp, res[p ^ 1], nullptr, H,
                 a.eps, xs, sm.scratch);
#else
    __trap();
#endif
}

int step_grid(int device) {
    static int cached_device = -1, cached = 0;
    if (device != cached_device) {
        int sms = 0, per_sm = 0;
        CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
        CUDA_CHECK(cudaFuncSetAttribute(decode_step_kernel,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(kSmemBytes)));
        CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decode_step_kernel,
                                                                 kThreads, kSmemBytes));
        CHECK(per_sm >= 1) << "decode_step_fp8: no block fits an SM";
        cached = sms * per_sm, cached_device = device;
    }
    return cached;
}

}  // namespace

bool decode_step_fp8_supported(int64_t hidden, int64_t heads, int64_t kv_heads, int64_t head_dim,
                               int64_t inter) {
    int device = 0, major = 0, smem = 0;
    if (cudaGetDevice(&device) != cudaSuccess) return false;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
        return false;
    if (cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
        cudaSuccess)
        return false;
    int coop = 0;
    if (cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, device) != cudaSuccess)
        return false;
    const int64_t q = heads * head_dim, qkv = (heads + 2 * kv_heads) * head_dim;
    return major >= 9 && coop && static_cast<size_t>(smem) >= kSmemBytes + sizeof(Shared) &&
           hidden > 0 && hidden <= kMaxHidden && hidden % 16 == 0 && kv_heads > 0 &&
           heads % kv_heads == 0 && heads / kv_heads <= kMaxGroup && head_dim % 8 == 0 &&
           head_dim <= kMaxHeadDim && q % 16 == 0 && q <= kMaxX && qkv > 0 && inter > 0 &&
           inter % 16 == 0 && inter <= kMaxX && inter % kGemvSiluGroup == 0;
}

int64_t decode_step_partial_floats(int64_t heads, int64_t head_dim) {
    return heads * kMaxSplits * (head_dim + 2);
}

int64_t decode_step_sync_words(int64_t kv_heads) {
    return 1 + kv_heads;
}

void decode_step_fp8(const DecodeStepArgs& a, cudaStream_t stream) {
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    const int grid = step_grid(device);
    CUDA_CHECK(cudaMemsetAsync(a.sync, 0, sizeof(unsigned), stream));
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(static_cast<unsigned>(grid));
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = kSmemBytes;
    config.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeCooperative;
    attr[0].val.cooperative = 1;
    config.attrs = attr;
    config.numAttrs = 1;
    CUDA_CHECK(cudaLaunchKernelEx(&config, decode_step_kernel, a));
}

}  // namespace autoglm::cuda
