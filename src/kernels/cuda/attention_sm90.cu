// Prefill attention on Hopper (sm_90a) for the vision tower's case: head_dim 128, non-causal,
// contiguous K/V, heads == kv_heads. FlashAttention-3 style: a CTA owns 128 query rows of one
// head; a producer warpgroup streams Q once and K/V tiles of 176 keys through a 2-stage ring
// with the bulk tensor copy (128B swizzle, mbarriers); two consumer warpgroups of 64 rows each
// run S = Q K^T and O += P V on wgmma (P from registers, V read MN-major) with an online
// softmax in registers between them. A second kernel on the same pipeline serves the text
// decoder's causal prefill over the paged KV pool (GQA, CTAs of 128 (token, head) rows).
#include <cuda.h>  // CUtensorMap and its enums (the encoder comes from the runtime's entry point)

#include <cmath>
#include <cstdint>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/hopper.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/smem_opt_in.h"

namespace autoglm::cuda {
namespace {

constexpr int kHD = 128;  // head dim
constexpr int kBM = 128;  // query rows per CTA (two consumer warpgroups x 64)
// Keys per tile. 176 (FlashAttention-3's choice for head_dim 128) ran ~5% faster than 128 on
// the 13,416-token shape; the dev driver builds 128 with -DAUTOGLM_SM90_BN=128.
#ifndef AUTOGLM_SM90_BN
#define AUTOGLM_SM90_BN 176
#endif
constexpr int kBN = AUTOGLM_SM90_BN;
static_assert(kBN == 128 || kBN == 176, "the wgmma wrappers are N = 128 and 176");
constexpr int kStages = 2;                       // K/V ring depth (3 measured no faster)
constexpr int kChunk = 16;                       // keys per bulk copy from the paged pool
constexpr int kThreads = 3 * 128;                // producer warpgroup + two consumer warpgroups
constexpr int kRowBytes = 128;                   // one 64-column half of a row, bf16
constexpr int kQBytes = 2 * kBM * kRowBytes;     // [2 halves][kBM rows][128 B]
constexpr int kTileBytes = 2 * kBN * kRowBytes;  // [2 halves][kBN rows][128 B], K or V
constexpr int kQOff = 0;
constexpr int kKOff = kQOff + kQBytes;
constexpr int kVOff = kKOff + kStages * kTileBytes;
constexpr int kBarOff = kVOff + kStages * kTileBytes;
// Barriers: Q full, then K full, V full, K empty, V empty per stage.
constexpr int kSmemBytes = kBarOff + 8 * (1 + 4 * kStages) + 1024;  // + slack to align to 1 KiB

#if AUTOGLM_SM90A  // the device code below exists only in the sm_90a pass
constexpr int kConsumerWarps = 8;
constexpr int kChunks = kBN / kChunk;  // chunks per tile (producer lanes that copy one each)
// V as the MN-major B operand of P V: lbo = the next 64-column half, sbo = the next 8 keys.
constexpr uint32_t kVLbo = kBN * kRowBytes, kVSbo = 1024;

// Row softmax state of one thread: rows (warp*16 + lane/4) and that + 8 of its warpgroup's 64.
struct RowState {
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};
};

// Named barriers 1 and 2 over the 256 consumer threads ("consumer 0 / 1 may issue"): sync
// waits for the other warpgroup's arrive.
__device__ __forceinline__ void named_sync(int cw) {
    if (cw == 0)
        asm volatile("bar.sync 1, 256;\n" ::: "memory");
    else
        asm volatile("bar.sync 2, 256;\n" ::: "memory");
}
__device__ __forceinline__ void named_arrive(int cw) {
    if (cw == 0)
        asm volatile("bar.arrive 1, 256;\n" ::: "memory");
    else
        asm volatile("bar.arrive 2, 256;\n" ::: "memory");
}
__device__ __forceinline__ void setmaxnreg_dec24() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n");
}
__device__ __forceinline__ void setmaxnreg_inc240() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n");
}

// Online softmax over one tile of scores s (wgmma accumulator layout, 64 x kBN per warpgroup):
// masks the keys of the thread's row hf at or past valid[hf], turns s into unnormalized
// probabilities, updates the row state and returns in alpha the factors by which the output
// rows must be rescaled.
__device__ __forceinline__ void softmax_tile(float (&s)[kBN / 2], RowState& st, float (&alpha)[2],
                                             const int (&valid)[2], float sl2, int lane) {
    if (min(valid[0], valid[1]) < kBN) {
#pragma unroll
        for (int i = 0; i < kBN / 8; ++i)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                const int key = 8 * i + 2 * (lane % 4) + e;
                if (key >= valid[0]) s[4 * i + e] = -INFINITY;
                if (key >= valid[1]) s[4 * i + 2 + e] = -INFINITY;
            }
    }
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
        float mx = -INFINITY;
#pragma unroll
        for (int i = 0; i < kBN / 8; ++i)
            mx = fmaxf(mx, fmaxf(s[4 * i + 2 * hf], s[4 * i + 2 * hf + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(st.m[hf], mx);
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;
        alpha[hf] = fast_exp2((st.m[hf] - m_use) * sl2);
        const float ms = m_use * sl2;
        st.m[hf] = m_new;
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < kBN / 8; ++i)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                float& v = s[4 * i + 2 * hf + e];
                v = fast_exp2(fmaf(v, sl2, -ms));
                sum += v;
            }
        st.l[hf] = st.l[hf] * alpha[hf] + sum;
    }
}

__device__ __forceinline__ void rescale(float (&o)[64], const float (&alpha)[2]) {
#pragma unroll
    for (int i = 0; i < kHD / 8; ++i)
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
            o[4 * i + 2 * hf] *= alpha[hf];
            o[4 * i + 2 * hf + 1] *= alpha[hf];
        }
}

// P as bf16 A fragments: k-step kk covers keys 16kk .. 16kk+15 (n8 blocks 2kk and 2kk+1).
__device__ __forceinline__ void pack_p(const float (&s)[kBN / 2], uint32_t (&pa)[kBN / 16][4]) {
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk)
#pragma unroll
        for (int r = 0; r < 4; ++r) pa[kk][r] = pack_bf16(s[8 * kk + 2 * r], s[8 * kk + 2 * r + 1]);
}

// S = Q K^T for this warpgroup's 64 rows: Q [64 x 128] and K [kBN x 128], both K-major.
__device__ __forceinline__ void issue_qk(float (&s)[kBN / 2], uint32_t q_base, uint32_t k_base) {
    using namespace sm90;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kHD / 16; ++kk) {
        const uint32_t koff = (kk % 4) * 32;  // 16 columns = 32 B into the swizzle atom
        const uint64_t da = sw128_desc(q_base + (kk / 4) * kBM * kRowBytes + koff, 16, 1024);
        const uint64_t db = sw128_desc(k_base + (kk / 4) * kBN * kRowBytes + koff, 16, 1024);
        wgmma_ss(s, da, db, kk > 0 ? 1 : 0);  // m64nNk16, N = kBN
    }
    wgmma_commit();
}

// O += P V: P [64 x kBN] from registers, V [kBN x 128] MN-major.
__device__ __forceinline__ void issue_pv(float (&o)[64], const uint32_t (&pa)[kBN / 16][4],
                                         uint32_t v_base) {
    using namespace sm90;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk)
        wgmma_m64n128k16_rs_mn(o, pa[kk], sw128_desc(v_base + kk * 16 * kRowBytes, kVLbo, kVSbo));
    wgmma_commit();
}

// Shared-memory map of a CTA: the Q tile, the K/V ring and the barriers (Q full, then K full,
// V full, K empty, V empty per stage).
struct Smem {
    uint32_t q, k, v, bar_q;
    __device__ uint32_t full_k(int st) const { return bar_q + 8u * (1 + st); }
    __device__ uint32_t full_v(int st) const { return bar_q + 8u * (1 + kStages + st); }
    __device__ uint32_t empty_k(int st) const { return bar_q + 8u * (1 + 2 * kStages + st); }
    __device__ uint32_t empty_v(int st) const { return bar_q + 8u * (1 + 3 * kStages + st); }
    __device__ uint32_t k_tile(int j) const { return k + (j % kStages) * kTileBytes; }
    __device__ uint32_t v_tile(int j) const { return v + (j % kStages) * kTileBytes; }
};

// Lays the map over the (1 KiB-aligned) dynamic shared memory and, in thread 0, initializes the
// barriers; every thread of the CTA calls it.
__device__ __forceinline__ Smem setup_smem(uint8_t* raw) {
    using namespace sm90;
    const uint32_t base = (smem_addr(raw) + 1023u) & ~1023u;
    const Smem sm{base + kQOff, base + kKOff, base + kVOff, base + kBarOff};
    if (threadIdx.x == 0) {
        mbar_init(sm.bar_q, 1);
        for (int st = 0; st < kStages; ++st) {
            mbar_init(sm.full_k(st), 1);
            mbar_init(sm.full_v(st), 1);
            mbar_init(sm.empty_k(st), kConsumerWarps);
            mbar_init(sm.empty_v(st), kConsumerWarps);
        }
        mbar_fence_init();
    }
    __syncthreads();
    return sm;
}

// One consumer warpgroup's walk over the CTA's n_tiles K/V tiles, accumulating its 64 rows into
// o and rs. valid(j, v) sets v[hf] to the number of keys of tile j that row hf of this thread
// sees (kBN or more: all).
// Intra-warpgroup overlap: O += P(j-1) V(j-1) is queued right behind S(j) = Q K(j)^T and drains
// while the softmax of tile j runs. Across warpgroups (ping-pong), the two take turns issuing
// that pair, so one's softmax overlaps the other's tensor-core work; consumer 0 goes first. Each
// warpgroup syncs n_tiles - 1 times and gets as many arrives.
template <class Valid>
__device__ __forceinline__ void consume_tiles(float (&o)[64], RowState& rs, const Smem& sm,
                                              uint32_t q_base, int n_tiles, int cw, int lane,
                                              float sl2, Valid valid) {
    using namespace sm90;
    auto parity = [](int j) { return static_cast<uint32_t>((j / kStages) & 1); };
    float s[kBN / 2], alpha[2];
    uint32_t pa[kBN / 16][4];
    int v[2];
    if (n_tiles > 0) {
        mbar_wait(sm.full_k(0), 0);
        issue_qk(s, q_base, sm.k_tile(0));
        wgmma_wait<0>();
        fence_regs(s);
        if (lane == 0) mbar_arrive(sm.empty_k(0));
        valid(0, v);
        softmax_tile(s, rs, alpha, v, sl2, lane);
        pack_p(s, pa);
    }
    if (cw == 1 && n_tiles > 1) named_arrive(0);
    for (int j = 1; j < n_tiles; ++j) {
        mbar_wait(sm.full_k(j % kStages), parity(j));
        named_sync(cw);
        issue_qk(s, q_base, sm.k_tile(j));
        mbar_wait(sm.full_v((j - 1) % kStages), parity(j - 1));
        issue_pv(o, pa, sm.v_tile(j - 1));
        if (cw == 0 || j < n_tiles - 1) named_arrive(1 - cw);
        wgmma_wait<1>();
        fence_regs(s);
        if (lane == 0) mbar_arrive(sm.empty_k(j % kStages));
        valid(j, v);
        softmax_tile(s, rs, alpha, v, sl2, lane);
        wgmma_wait<0>();
        fence_regs(o);
        if (lane == 0) mbar_arrive(sm.empty_v((j - 1) % kStages));
        rescale(o, alpha);
        pack_p(s, pa);
    }
    if (n_tiles > 0) {
        const int j = n_tiles - 1;
        mbar_wait(sm.full_v(j % kStages), parity(j));
        issue_pv(o, pa, sm.v_tile(j));
        wgmma_wait<0>();
        fence_regs(o);
    }
}

// Normalizes and stores row hf of this thread (o's layout) to out (the row's first element).
__device__ __forceinline__ void store_row(bf16* out, const float (&o)[64], const RowState& rs,
                                          int hf, int lane) {
    float l = rs.l[hf];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    out += 2 * (lane % 4);
#pragma unroll
    for (int i = 0; i < kHD / 8; ++i)
        *reinterpret_cast<__nv_bfloat162*>(out + 8 * i) =
            __floats2bfloat162_rn(o[4 * i + 2 * hf] * inv, o[4 * i + 2 * hf + 1] * inv);
}
#endif

__global__ void __launch_bounds__(kThreads, 1)
    attention_sm90_kernel(const __grid_constant__ CUtensorMap map_q,
                          const __grid_constant__ CUtensorMap map_k,
                          const __grid_constant__ CUtensorMap map_v, const AttentionParams p,
                          const AttentionWork* __restrict__ work) {
#if AUTOGLM_SM90A
    using namespace sm90;
    extern __shared__ __align__(1024) uint8_t smem_raw[];
    const Smem sm = setup_smem(smem_raw);
    const AttentionWork wk = work[blockIdx.x];
    const int seq = wk.seq, head = blockIdx.y;
    const int q0 = p.q_start[seq];
    const int q_len = p.q_start[seq + 1] - q0;
    const int kv_len = p.kv_len[seq];
    const int kv0 = p.kv_start[seq];
    const int n_tiles = (kv_len + kBN - 1) / kBN;
    const int wg = threadIdx.x / 128;

    if (wg == 0) {
        // Producer: one thread issues every copy.
        setmaxnreg_dec24();
        if (threadIdx.x == 0) {
            tma_prefetch_map(&map_q);
            tma_prefetch_map(&map_k);
            tma_prefetch_map(&map_v);
            const int col = head * kHD;
            mbar_expect_tx(sm.bar_q, kQBytes);
            for (int h = 0; h < 2; ++h)
                tma_load_2d(sm.q + h * kBM * kRowBytes, &map_q, col + 64 * h, q0 + wk.row0,
                            sm.bar_q);
            for (int j = 0; j < n_tiles; ++j) {
                const int st = j % kStages, use = j / kStages;
                const int row = kv0 + j * kBN;
                if (use > 0) mbar_wait(sm.empty_k(st), (use - 1) & 1);
                mbar_expect_tx(sm.full_k(st), kTileBytes);
                for (int h = 0; h < 2; ++h)
                    tma_load_2d(sm.k_tile(j) + h * kBN * kRowBytes, &map_k, col + 64 * h, row,
                                sm.full_k(st));
                if (use > 0) mbar_wait(sm.empty_v(st), (use - 1) & 1);
                mbar_expect_tx(sm.full_v(st), kTileBytes);
                for (int h = 0; h < 2; ++h)
                    tma_load_2d(sm.v_tile(j) + h * kBN * kRowBytes, &map_v, col + 64 * h, row,
                                sm.full_v(st));
            }
        }
        return;
    }

    setmaxnreg_inc240();
    const int cw = wg - 1;  // consumer warpgroup: rows cw*64 .. cw*64+63 of the CTA's 128
    const int t = threadIdx.x % 128, warp = t / 32, lane = t % 32;
    float o[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) o[i] = 0.0f;
    RowState rs;
    mbar_wait(sm.bar_q, 0);
    consume_tiles(o, rs, sm, sm.q + cw * 64 * kRowBytes, n_tiles, cw, lane, p.scale * kLog2e,
                  [&](int j, int(&v)[2]) { v[0] = v[1] = kv_len - j * kBN; });
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
        const int tok = wk.row0 + cw * 64 + warp * 16 + lane / 4 + 8 * hf;
        if (tok < q_len)
            store_row(p.out + static_cast<int64_t>(q0 + tok) * p.out_stride +
                          static_cast<int64_t>(head) * kHD,
                      o, rs, hf, lane);
    }
#endif
}

// The text decoder's causal prefill over the paged KV pool, GQA. A CTA owns 128 rows (token,
// head in the KV head's group) of one KV head, so K/V tiles are read once for the whole group:
// row r of work item (seq, row0) is token (row0 + r) / group, head kvh * group + (row0 + r) %
// group, and the Q tile arrives as one 3-D box (head_dim half, group heads, 128 / group tokens).
// Keys come in chunks of 16 (a block_size multiple of 16 keeps a chunk inside one page): the
// producer warp's lane c copies chunk c of each tile. Tiles stop at the last row's causal limit;
// chunks past it repeat the last needed chunk (masked, and finite: the pool is zero-filled when
// allocated). Only tiles past the first row's limit are masked.
__global__ void __launch_bounds__(kThreads, 1)
    causal_attention_sm90_kernel(const __grid_constant__ CUtensorMap map_q,
                                 const __grid_constant__ CUtensorMap map_k,
                                 const __grid_constant__ CUtensorMap map_v, const AttentionParams p,
                                 const AttentionWork* __restrict__ work) {
#if AUTOGLM_SM90A
    using namespace sm90;
    extern __shared__ __align__(1024) uint8_t smem_raw[];
    const Smem sm = setup_smem(smem_raw);
    // Consecutive CTAs take the KV heads of one work item, so the grid keeps the host's
    // heaviest-first order of the items.
    const int lin = blockIdx.x + blockIdx.y * gridDim.x;
    const AttentionWork wk = work[lin / gridDim.y];
    const int kvh = lin % gridDim.y;
    const int seq = wk.seq;
    const int group = static_cast<int>(p.heads / p.kv_heads);
    const int q0 = p.q_start[seq];
    const int q_len = p.q_start[seq + 1] - q0;
    const int kv_len = p.kv_len[seq];
    const int past = kv_len - q_len;  // context index of the sequence's first query
    const int first_tok = wk.row0 / group;
    const int last_tok = (min(wk.row0 + kBM, q_len * group) - 1) / group;
    const int n_keys = min(kv_len, past + last_tok + 1);      // keys the last row sees
    const int full_keys = min(kv_len, past + first_tok + 1);  // keys every row sees
    const int n_tiles = (n_keys + kBN - 1) / kBN;
    const int wg = threadIdx.x / 128;

    if (wg == 0) {
        setmaxnreg_dec24();
        if (threadIdx.x < 32) {
            const int lane = threadIdx.x;
            if (lane == 0) {
                tma_prefetch_map(&map_q);
                tma_prefetch_map(&map_k);
                tma_prefetch_map(&map_v);
                mbar_expect_tx(sm.bar_q, kQBytes);
                for (int h = 0; h < 2; ++h)
                    tma_load_3d(sm.q + h * kBM * kRowBytes, &map_q, 64 * h, kvh * group,
                                q0 + first_tok, sm.bar_q);
            }
            const int32_t* table =
                p.block_tables + static_cast<int64_t>(seq) * p.max_blocks_per_seq;
            const int bs = static_cast<int>(p.block_size);
            const int last_chunk = (n_keys - 1) / kChunk;
            auto chunk_slot = [&](int j) {
                const int key = min(j * kChunks + lane, last_chunk) * kChunk;
                return table[key / bs] * bs + key % bs;
            };
            const bool copier = lane < kChunks;
            const uint32_t chunk_off = lane * kChunk * kRowBytes;
            const int col = kvh * kHD;
            int slot = copier ? chunk_slot(0) : 0;
            for (int j = 0; j < n_tiles; ++j) {
                const int st = j % kStages, use = j / kStages;
                const int next = copier && j + 1 < n_tiles ? chunk_slot(j + 1) : 0;
                if (use > 0) mbar_wait(sm.empty_k(st), (use - 1) & 1);
                if (lane == 0) mbar_expect_tx(sm.full_k(st), kTileBytes);
                __syncwarp();
                if (copier)
                    for (int h = 0; h < 2; ++h)
                        tma_load_2d(sm.k_tile(j) + h * kBN * kRowBytes + chunk_off, &map_k,
                                    col + 64 * h, slot, sm.full_k(st));
                if (use > 0) mbar_wait(sm.empty_v(st), (use - 1) & 1);
                if (lane == 0) mbar_expect_tx(sm.full_v(st), kTileBytes);
                __syncwarp();
                if (copier)
                    for (int h = 0; h < 2; ++h)
                        tma_load_2d(sm.v_tile(j) + h * kBN * kRowBytes + chunk_off, &map_v,
                                    col + 64 * h, slot, sm.full_v(st));
                slot = next;
            }
        }
        return;
    }

    setmaxnreg_inc240();
    const int cw = wg - 1;
    const int t = threadIdx.x % 128, warp = t / 32, lane = t % 32;
    // This thread's rows hf = 0, 1 and the number of keys each sees.
    int tok[2], limit[2];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
        const int row = wk.row0 + cw * 64 + warp * 16 + lane / 4 + 8 * hf;
        tok[hf] = row / group;
        limit[hf] = tok[hf] < q_len ? past + tok[hf] + 1 : n_keys;
    }
    float o[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) o[i] = 0.0f;
    RowState rs;
    mbar_wait(sm.bar_q, 0);
    consume_tiles(o, rs, sm, sm.q + cw * 64 * kRowBytes, n_tiles, cw, lane, p.scale * kLog2e,
                  [&](int j, int(&v)[2]) {
                      const int j0 = j * kBN;
                      if (j0 + kBN <= full_keys) {
                          v[0] = v[1] = kBN;
                      } else {
                          v[0] = limit[0] - j0;
                          v[1] = limit[1] - j0;
                      }
                  });
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
        const int row = wk.row0 + cw * 64 + warp * 16 + lane / 4 + 8 * hf;
        if (tok[hf] < q_len)
            store_row(p.out + static_cast<int64_t>(q0 + tok[hf]) * p.out_stride +
                          static_cast<int64_t>(kvh * group + row % group) * kHD,
                      o, rs, hf, lane);
    }
#endif
}

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                   const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                   const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiledFn encode_tiled() {
    static const EncodeTiledFn fn = [] {
        void* f = nullptr;
        cudaDriverEntryPointQueryResult q{};
        CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000,
                                                    cudaEnableDefault, &q));
        CHECK(q == cudaDriverEntryPointSuccess && f != nullptr) << "no cuTensorMapEncodeTiled";
        return reinterpret_cast<EncodeTiledFn>(f);
    }();
    return fn;
}

// A map over a bf16 tensor of `rank` dimensions (innermost first; strides in bytes for
// dimensions 1..rank-1), 128B-swizzled in shared memory; out-of-range elements read as zeros.
CUtensorMap encode_map(const bf16* base, cuuint32_t rank, const cuuint64_t* dims,
                       const cuuint64_t* strides, const cuuint32_t* box) {
    CUtensorMap map;
    const cuuint32_t elem[3] = {1, 1, 1};
    const CUresult r = encode_tiled()(
        &map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, rank, const_cast<bf16*>(base), dims, strides, box,
        elem, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
        CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    CHECK(r == CUDA_SUCCESS) << "cuTensorMapEncodeTiled failed: " << static_cast<int>(r);
    return map;
}

// A 2-D map over rows of `width` bf16 (row pitch `stride` elements), boxes of 64 columns x
// box_rows rows.
CUtensorMap make_map(const bf16* base, int64_t width, int64_t num_rows, int64_t stride,
                     int box_rows) {
    const cuuint64_t dims[2] = {static_cast<cuuint64_t>(width), static_cast<cuuint64_t>(num_rows)};
    const cuuint64_t strides[1] = {static_cast<cuuint64_t>(stride) * 2};
    const cuuint32_t box[2] = {64, static_cast<cuuint32_t>(box_rows)};
    return encode_map(base, 2, dims, strides, box);
}

// True when this binary holds the sm_90a kernel and the current device runs it.
bool sm90_kernel_available() {
    static const bool ok = [] {
        int dev = 0, major = 0, minor = 0;
        if (cudaGetDevice(&dev) != cudaSuccess) return false;
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
        if (major != 9 || minor != 0) return false;
        cudaFuncAttributes attr{};
        if (cudaFuncGetAttributes(&attr, attention_sm90_kernel) != cudaSuccess) return false;
        return attr.binaryVersion == 90 && attr.ptxVersion >= 90;
    }();
    return ok;
}

bool aligned16(const void* ptr) {
    return reinterpret_cast<uintptr_t>(ptr) % 16 == 0;
}

// What both kernels need of any call: head_dim 128, 16-byte aligned q/k/v rows whose strides the
// copy engine can step, bf16x2 stores, the host's 128-row work items, and the sm_90a code.
bool sm90_layout_ok(const AttentionParams& p) {
    return p.head_dim == kHD && aligned16(p.q) && aligned16(p.k) && aligned16(p.v) &&
           p.q_stride % 8 == 0 && p.kv_stride % 8 == 0 && p.out_stride % 2 == 0 &&
           attention_rows_per_block() == kBM && sm90_kernel_available();
}

}  // namespace

bool hopper_attention_supported(const AttentionParams& p) {
    return !p.causal && p.block_tables == nullptr && p.heads == p.kv_heads &&
           p.kv_start != nullptr && sm90_layout_ok(p);
}

void prefill_attention_sm90(const AttentionParams& p, const AttentionWork* work, int64_t num_work,
                            int64_t num_rows, cudaStream_t stream) {
    if (num_work == 0) return;
    CHECK(hopper_attention_supported(p)) << "prefill_attention_sm90: unsupported parameters";
    const int64_t width = p.heads * kHD;
    const CUtensorMap map_q = make_map(p.q, width, num_rows, p.q_stride, kBM);
    const CUtensorMap map_k = make_map(p.k, width, num_rows, p.kv_stride, kBN);
    const CUtensorMap map_v = make_map(p.v, width, num_rows, p.kv_stride, kBN);
    static SmemOptIn opt_in;
    CUDA_CHECK(opt_in.ensure(attention_sm90_kernel, kSmemBytes));
    const dim3 grid(static_cast<unsigned>(num_work), static_cast<unsigned>(p.heads));
    attention_sm90_kernel<<<grid, kThreads, kSmemBytes, stream>>>(map_q, map_k, map_v, p, work);
    AUTOGLM_LAUNCH_CHECK();
}

bool hopper_causal_attention_supported(const AttentionParams& p) {
    if (p.kv_heads <= 0 || p.heads % p.kv_heads != 0) return false;
    const int64_t group = p.heads / p.kv_heads;
    return p.causal && p.block_tables != nullptr && p.block_size > 0 &&
           p.block_size % kChunk == 0 && kBM % group == 0 && sm90_layout_ok(p);
}

void prefill_attention_sm90_causal(const AttentionParams& p, const AttentionWork* work,
                                   int64_t num_work, int64_t num_tokens, int64_t num_slots,
                                   cudaStream_t stream) {
    if (num_work == 0) return;
    CHECK(hopper_causal_attention_supported(p))
        << "prefill_attention_sm90_causal: unsupported parameters";
    const int64_t group = p.heads / p.kv_heads;
    // Q as (head_dim, head, token): a box is one 64-column half of 128 / group tokens x group
    // heads, i.e. the CTA's 128 rows in order.
    const cuuint64_t q_dims[3] = {static_cast<cuuint64_t>(kHD), static_cast<cuuint64_t>(p.heads),
                                  static_cast<cuuint64_t>(num_tokens)};
    const cuuint64_t q_strides[2] = {kHD * 2, static_cast<cuuint64_t>(p.q_stride) * 2};
    const cuuint32_t q_box[3] = {64, static_cast<cuuint32_t>(group),
                                 static_cast<cuuint32_t>(kBM / group)};
    const CUtensorMap map_q = encode_map(p.q, 3, q_dims, q_strides, q_box);
    const int64_t width = p.kv_heads * kHD;
    const CUtensorMap map_k = make_map(p.k, width, num_slots, p.kv_stride, kChunk);
    const CUtensorMap map_v = make_map(p.v, width, num_slots, p.kv_stride, kChunk);
    static SmemOptIn opt_in;
    CUDA_CHECK(opt_in.ensure(causal_attention_sm90_kernel, kSmemBytes));
    const dim3 grid(static_cast<unsigned>(num_work), static_cast<unsigned>(p.kv_heads));
    causal_attention_sm90_kernel<<<grid, kThreads, kSmemBytes, stream>>>(map_q, map_k, map_v, p,
                                                                         work);
    AUTOGLM_LAUNCH_CHECK();
}

}  // namespace autoglm::cuda
