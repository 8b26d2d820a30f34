// Decode attention on the GPU: one token per sequence; the group's query heads are the rows of
// one m16 tile (mma.sync, as in prefill_attention); up to 256 keys (128 on sm_89) run in one
// block, longer contexts split over blocks and the last split to finish merges. Keys come from
// the bf16 pool, or from the FP8 pool (e4m3 bytes and power-of-two scales, converted to the same
// bf16 tiles in shared memory, exactly).
#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/fp8.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/smem_opt_in.h"

namespace autoglm::cuda {
namespace {

constexpr int kDecChunk = 64;  // keys per block step: 16 per warp
constexpr int kDecWarps = 4;
constexpr int kDecThreads = kDecWarps * 32;
constexpr int kMaxGroup = 16;    // query heads per KV head: the 16 rows of one m16 tile
constexpr int kMaxSplits = 64;   // decode_splits' cap
constexpr int kDecResident = 4;  // 64-key steps a block holds in shared memory (at most)
constexpr int kDecMinSteps = 2;  // steps a split takes at least once the keys need splits
constexpr int kDecMaxUsed = 32;  // splits one sequence's keys use at most
// Splits the merge loads per round. 8 or 12 are ~1 % faster at batch 1 and 16k keys, but take
// the HD 128 kernel from 168 registers to 200 / 254: no three blocks an SM for batched decode.
constexpr int kDecMergeBatch = 4;
// From this many (sequence, KV head) pairs on, a block holds 2 steps (64 KiB) instead of
// kDecResident: three blocks an SM stream keys instead of one (32 sequences of 5,400 keys:
// 8.77 -> 7.38 ms a FP8 decode step; 1 step: 7.58; docs/PERFORMANCE.md).
constexpr int kDecBatchResident = 2;
constexpr int64_t kDecBatchPairs = 16;
// Below this many (sequence, KV head) pairs (batch-1 decode: 2), contexts of up to
// kDecFewChunks steps take one 64-key step a split, also where one block could hold the keys:
// the step's latency is a block's serial chain, so more blocks of one step each end sooner
// (batch-1 FP8 decode, 128-384 keys: 3.970 -> 3.929 ms a token on the H100). At most 8 steps
// (two merge rounds): each split more is another partial for the merge, and neither 448-512 keys
// nor 1,024 in one-step splits measured faster (docs/PERFORMANCE.md).
constexpr int64_t kDecFewPairs = 8;
constexpr int kDecFewChunks = 8;

// A block's shared K/V for one 64-key step: each warp's 16 K and 16 V rows (swizzled bf16), or
// from the FP8 pool their bytes and scales as loaded.
template <int HD, bool kFp8>
constexpr size_t decode_step_bytes() {
    return kFp8 ? kDecWarps * 2 * (16 * HD + 16 * sizeof(float))
                : sizeof(bf16) * kDecWarps * 2 * 16 * HD;
}
// Shared memory a block has besides its steps: with the FP8 pool, each warp's K and V tiles in
// bf16, converted from the step being read.
template <int HD, bool kFp8>
constexpr size_t decode_fixed_bytes() {
    return kFp8 ? sizeof(bf16) * kDecWarps * 2 * 16 * HD : 0;
}

// decode_splits keeps num_seqs * splits <= max(num_seqs, 264).
int64_t decode_partial_floats(int64_t num_seqs, int64_t heads, int64_t head_dim) {
    return std::max<int64_t>(num_seqs, 264) * heads * (head_dim + 2);
}

// cp.async.wait_group with a count known only at run time (0 .. kDecResident - 1).
__device__ __forceinline__ void cp_async_wait_pending(int n) {
    static_assert(kDecResident <= 4, "cp_async_wait_pending covers counts 0..3");
    if (n <= 0)
        cp_async_wait<0>();
    else if (n == 1)
        cp_async_wait<1>();
    else if (n == 2)
        cp_async_wait<2>();
    else
        cp_async_wait<3>();
}

// How the keys of one sequence are shared out, the same in every block: `steps` 64-key steps a
// split, `used` splits. Up to `one_step` steps (kDecFewChunks below kDecFewPairs, else none) take
// a split each; otherwise up to `resident` steps (the keys one block holds at once: kDecResident
// where the device's shared memory allows) go to one block, which needs no merge, and longer
// contexts take splits of at least kDecMinSteps, as many as the grid has up to kDecMaxUsed (each
// split more is another partial for the merge to read, each step more another 64 keys for one SM to
// load: measured on the H200, docs/PERFORMANCE.md).
struct DecodeShare {
    int steps, used;
};
__device__ __forceinline__ DecodeShare decode_share(int kv_len, int splits, int resident,
                                                    int one_step) {
    const int chunks = (kv_len + kDecChunk - 1) / kDecChunk;
    const int spread = min(splits, kDecMaxUsed);
    const int steps = chunks <= one_step   ? (chunks + spread - 1) / spread
                      : chunks <= resident ? chunks
                                           : max(kDecMinSteps, (chunks + spread - 1) / spread);
    return {steps, (chunks + steps - 1) / steps};
}

// Dimensions d0.. (HD / 8 of them) of query head `head`'s output for sequence s: the unnormalised
// sums divided by the softmax sum l, as bf16.
template <int HD>
__device__ __forceinline__ void store_out_row(const AttentionParams& p, int s, int head, int d0,
                                              const float (&acc)[HD / 8], float l) {
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    bf16* out =
        p.out + static_cast<int64_t>(s) * p.out_stride + static_cast<int64_t>(head) * HD + d0;
#pragma unroll
    for (int i = 0; i < HD / 8; i += 2)
        *reinterpret_cast<__nv_bfloat162*>(out + i) =
            __floats2bfloat162_rn(acc[i] * inv, acc[i + 1] * inv);
}

// The last split block of (sequence s, KV head kvh) merges the group's splits: `head0` points at
// the partials of the group's first head, each [splits][HD + 2] (unnormalised output, then the
// maximum and the sum in the log2 domain). Thread (row r, dimensions d0..) loads kDecMergeBatch
// splits' values and (maximum, sum) in one round and folds them into a running maximum, so a
// merge of up to kDecMergeBatch splits costs one L2 round trip.
template <int HD>
__device__ void merge_splits(const AttentionParams& p, int s, int kvh, int group, int splits,
                             int used, const float* head0) {
    constexpr int kPer = HD / 8;  // dimensions a thread merges: 8 threads a row
    const int tid = threadIdx.x, r = tid / 8, d0 = (tid % 8) * kPer;
    if (r >= group) return;
    float mx = -INFINITY, l = 0.0f, acc[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) acc[i] = 0.0f;
    for (int k0 = 0; k0 < used; k0 += kDecMergeBatch) {
        float bm[kDecMergeBatch], bl[kDecMergeBatch], bv[kDecMergeBatch][kPer];
#pragma unroll
        for (int b = 0; b < kDecMergeBatch; ++b) {
            const int k = k0 + b;
            const float* row = head0 + (static_cast<int64_t>(r) * splits + k) * (HD + 2);
            const bool has = k < used;
            bm[b] = has ? __ldcg(row + HD) : -INFINITY;
            bl[b] = has ? __ldcg(row + HD + 1) : 0.0f;
#pragma unroll
            for (int i = 0; i < kPer; i += 2) {
                const float2 v =
                    has ? __ldcg(reinterpret_cast<const float2*>(row + d0 + i)) : float2{0, 0};
                bv[b][i] = v.x, bv[b][i + 1] = v.y;
            }
        }
        float m_new = mx;
#pragma unroll
        for (int b = 0; b < kDecMergeBatch; ++b) m_new = fmaxf(m_new, bm[b]);
        if (m_new == -INFINITY) continue;
        const float keep = mx == -INFINITY ? 0.0f : fast_exp2(mx - m_new);
        l *= keep;
#pragma unroll
        for (int i = 0; i < kPer; ++i) acc[i] *= keep;
#pragma unroll
        for (int b = 0; b < kDecMergeBatch; ++b) {
            const float f = bm[b] == -INFINITY ? 0.0f : fast_exp2(bm[b] - m_new);
            l += f * bl[b];
#pragma unroll
            for (int i = 0; i < kPer; ++i) acc[i] += f * bv[b][i];
        }
        mx = m_new;
    }
    store_out_row<HD>(p, s, kvh * group + r, d0, acc, l);
}

// One block per (sequence, KV head, split of the keys); the group's query heads are the 16 rows
// of an m16 tile, so QK^T and PV run on mma.sync m16n8k16 with each K/V row read once for all of
// them. Each warp takes 16 keys of every 64-key step with its own online softmax. A split's first
// `resident` steps of keys (all of them unless the split is longer) are requested into shared
// memory before waiting for the kernel that wrote the new token's K/V and q, so after the wait
// only q and the newest key are fetched; longer splits refill a buffer as each step is done. The
// block merges its warps through shared memory; when the keys took more than one split, the last
// split block to finish merges the splits.
template <int HD, bool kFp8>
__global__ void __launch_bounds__(kDecThreads)
    decode_kernel(const AttentionParams p, int splits, int resident, int one_step,
                  float* __restrict__ partial, int* __restrict__ tickets) {
    constexpr int kChunks = HD / 8, kTile = 16 * HD;
    extern __shared__ __align__(16) unsigned char dec_smem[];
    // bf16 pool: [resident][warp][K, V][kTile] bf16. FP8 pool: [warp][K, V][kTile] bf16 (the
    // converted step), then [resident][warp][K, V][16 * HD] bytes, then [resident][warp][K, V][16]
    // scales. Either way warp w's first 2 * kTile bf16 are at kv + w * 2 * kTile.
    bf16* const kv = reinterpret_cast<bf16*>(dec_smem);
    uint8_t* const kv8 = dec_smem + decode_fixed_bytes<HD, kFp8>();
    float* const scales =
        reinterpret_cast<float*>(kv8 + static_cast<size_t>(resident) * kDecWarps * 2 * 16 * HD);
    __shared__ float s_m[kDecWarps][16], s_l[kDecWarps][16];
    __shared__ bool s_last;

    const int s = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t4 = lane % 4;
    const int group = static_cast<int>(p.heads / p.kv_heads);
    // Step inputs (kv_len, block tables) and the older keys were written before this step.
    const int kv_len = p.kv_len[s];
    if (kv_len <= 0) return;
    // The query token (and output row); a mixed step's prefills are not this kernel's.
    const int tok = p.q_start ? p.q_start[s] : s;
    if (p.q_start && p.q_start[s + 1] - tok != 1) return;
    const DecodeShare share = decode_share(kv_len, splits, resident, one_step);
    if (split >= share.used) return;
    const int c_begin = split * share.steps;
    const int j_end = min(kv_len, (c_begin + share.steps) * kDecChunk);
    const int steps = (j_end + kDecChunk - 1) / kDecChunk - c_begin;
    const int newest = kv_len - 1;
    const int32_t* table = p.block_tables + static_cast<int64_t>(s) * p.max_blocks_per_seq;
    auto tile = [&](int buf, int which) {
        if constexpr (kFp8) return kv + (warp * 2 + which) * kTile;
        return kv + ((buf * kDecWarps + warp) * 2 + which) * kTile;
    };
    auto bytes8 = [&](int buf, int which) {
        return kv8 + static_cast<size_t>((buf * kDecWarps + warp) * 2 + which) * 16 * HD;
    };
    auto scale8 = [&](int buf, int which) {
        return scales + ((buf * kDecWarps + warp) * 2 + which) * 16;
    };
    auto slot_of = [&](int j) {
        return static_cast<int64_t>(table[j / p.block_size]) * p.block_size + j % p.block_size;
    };
    // cp.async of this warp's 16 rows of step t into buffer buf (zeros past the split), one
    // commit group; `older`: all but the newest key, `newest_only`: just that one.
    auto issue = [&](int t, int buf, bool older, bool newest_only) {
        const int j0 = (c_begin + t) * kDecChunk + warp * 16;
        auto skipped = [&](int j) {
            return (older && j == newest) || (newest_only && j != newest);
        };
        if (kFp8 && t < steps) {
            constexpr int kChunks8 = HD / 16;  // 16-byte chunks of a row of bytes
            uint8_t* bk = bytes8(buf, 0);
            uint8_t* bv = bytes8(buf, 1);
            for (int i = lane; i < 16 * kChunks8; i += 32) {
                const int r = i / kChunks8, c = i % kChunks8, j = j0 + r;
                if (skipped(j)) continue;
                const bool valid = j < j_end;
                const int64_t off =
                    valid ? slot_of(j) * p.kv_stride + static_cast<int64_t>(kvh) * HD + c * 16 : 0;
                cp_async16(bk + r * HD + c * 16, p.kv8.k + off, valid);
                cp_async16(bv + r * HD + c * 16, p.kv8.v + off, valid);
            }
            if (lane < 16 && !skipped(j0 + lane)) {
                const bool valid = j0 + lane < j_end;
                const int64_t at = valid ? slot_of(j0 + lane) * p.kv_heads + kvh : 0;
                cp_async4(scale8(buf, 0) + lane, p.kv8.k_scale + at, valid);
                cp_async4(scale8(buf, 1) + lane, p.kv8.v_scale + at, valid);
            }
        } else if (t < steps) {
            bf16* sk = tile(buf, 0);
            bf16* sv = tile(buf, 1);
            for (int i = lane; i < 16 * kChunks; i += 32) {
                const int r = i / kChunks, c = i % kChunks, j = j0 + r;
                if (skipped(j)) continue;
                const bool valid = j < j_end;
                int64_t off = 0;
                if (valid) off = slot_of(j) * p.kv_stride + static_cast<int64_t>(kvh) * HD + c * 8;
                cp_async16(sk + swz<HD>(r, c), p.k + off, valid);
                cp_async16(sv + swz<HD>(r, c), p.v + off, valid);
            }
        }
        cp_async_commit();
    };
    // Commit groups: the first min(steps, resident) steps, the newest key, then one a step (step
    // t + resident into the buffer step t leaves), so step t >= resident may leave resident - 1
    // later groups pending.
    const int first = min(steps, resident);
    for (int t = 0; t < first; ++t) issue(t, t, true, false);
    pdl_wait();
    // Only now may the o GEMV launch: its blocks would otherwise request their weights while the
    // qkv GEMV's last loads are still on the way (measured 0.1 ms a token slower, with the qkv
    // GEMV's staged rows; docs/PERFORMANCE.md).
    pdl_trigger();
    const int newest_step = newest / kDecChunk - c_begin;
    if (newest_step >= 0 && newest_step < first)
        issue(newest_step, newest_step, false, true);
    else
        cp_async_commit();

    // q of the group as A fragments (rows past the group are zero), one per 16 dimensions.
    unsigned qa[HD / 16][4];
    {
        const bf16* q =
            p.q + static_cast<int64_t>(tok) * p.q_stride + static_cast<int64_t>(kvh) * group * HD;
        const bool r0 = g < group, r1 = g + 8 < group;
#pragma unroll
        for (int ks = 0; ks < HD / 16; ++ks) {
            const int c = ks * 16 + 2 * t4;
            qa[ks][0] = r0 ? *reinterpret_cast<const unsigned*>(q + g * HD + c) : 0u;
            qa[ks][1] = r1 ? *reinterpret_cast<const unsigned*>(q + (g + 8) * HD + c) : 0u;
            qa[ks][2] = r0 ? *reinterpret_cast<const unsigned*>(q + g * HD + c + 8) : 0u;
            qa[ks][3] = r1 ? *reinterpret_cast<const unsigned*>(q + (g + 8) * HD + c + 8) : 0u;
        }
    }
    float o[HD / 8][4];
#pragma unroll
    for (int dt = 0; dt < HD / 8; ++dt)
        for (int e = 0; e < 4; ++e) o[dt][e] = 0.0f;
    float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
    const float sl2 = p.scale * kLog2e;

    int buf = 0;
    for (int t = 0; t < steps; ++t) {
        if (t == 0)
            cp_async_wait<0>();
        else if (t >= resident)
            cp_async_wait_pending(resident - 1);
        __syncwarp();
        if constexpr (kFp8) {  // this step's bytes into the warp's bf16 tiles
            const uint8_t* bk = bytes8(buf, 0);
            const uint8_t* bv = bytes8(buf, 1);
            const float* sck = scale8(buf, 0);
            const float* scv = scale8(buf, 1);
            bf16* ck = tile(buf, 0);
            bf16* cv = tile(buf, 1);
            for (int i = lane; i < 16 * kChunks; i += 32) {
                const int r = i / kChunks, c = i % kChunks;
                *reinterpret_cast<uint4*>(ck + swz<HD>(r, c)) =
                    e4m3x8_to_bf16x8(*reinterpret_cast<const uint2*>(bk + r * HD + c * 8), sck[r]);
                *reinterpret_cast<uint4*>(cv + swz<HD>(r, c)) =
                    e4m3x8_to_bf16x8(*reinterpret_cast<const uint2*>(bv + r * HD + c * 8), scv[r]);
            }
            __syncwarp();
        }
        const int j0 = (c_begin + t) * kDecChunk + warp * 16;
        const bf16* sk = tile(buf, 0);
        const bf16* sv = tile(buf, 1);
        float sc[2][4] = {};
#pragma unroll
        for (int ks = 0; ks < HD / 16; ++ks) {
            unsigned b[4];
            const int q = lane / 8;
            ldsm_x4(b, sk + swz<HD>(lane % 8 + 8 * (q / 2), ks * 2 + q % 2));
            mma_bf16(sc[0], qa[ks], b[0], b[1]);
            mma_bf16(sc[1], qa[ks], b[2], b[3]);
        }
        // Online softmax of rows g (hf 0) and g + 8 (hf 1); a row's 16 keys sit in a quad.
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
            float mx = -INFINITY;
#pragma unroll
            for (int nt = 0; nt < 2; ++nt)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    float& v = sc[nt][2 * hf + e];
                    if (j0 + nt * 8 + 2 * t4 + e >= j_end) v = -INFINITY;
                    mx = fmaxf(mx, v);
                }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_new = fmaxf(m_run[hf], mx);
            const float m_use = m_new == -INFINITY ? 0.0f : m_new;
            const float alpha = fast_exp2((m_run[hf] - m_use) * sl2);
            m_run[hf] = m_new;
            float sum = 0.0f;
#pragma unroll
            for (int nt = 0; nt < 2; ++nt)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    float& v = sc[nt][2 * hf + e];
                    v = fast_exp2(v * sl2 - m_use * sl2);
                    sum += v;
                }
            l_run[hf] = l_run[hf] * alpha + sum;
#pragma unroll
            for (int dt = 0; dt < HD / 8; ++dt) o[dt][2 * hf] *= alpha, o[dt][2 * hf + 1] *= alpha;
        }
        // P as a bf16 pair (value and rounding remainder): PV as exact as f32 P for two MMAs
        // where one would do (the tile is tiny; decode keeps the f32 kernel's accuracy).
        unsigned hi[4], lo[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const float a = sc[k / 2][2 * (k % 2)], b = sc[k / 2][2 * (k % 2) + 1];
            const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
            hi[k] = *reinterpret_cast<const unsigned*>(&h);
            lo[k] = pack_bf16(a - __low2float(h), b - __high2float(h));
        }
#pragma unroll
        for (int dp = 0; dp < HD / 16; ++dp) {
            unsigned b[4];
            const int q = lane / 8;
            ldsm_x4_t(b, sv + swz<HD>(lane % 8 + 8 * (q % 2), dp * 2 + q / 2));
            mma_bf16(o[2 * dp], hi, b[0], b[1]);
            mma_bf16(o[2 * dp + 1], hi, b[2], b[3]);
            mma_bf16(o[2 * dp], lo, b[0], b[1]);
            mma_bf16(o[2 * dp + 1], lo, b[2], b[3]);
        }
        __syncwarp();
        issue(t + resident, buf, false, false);  // into the buffer just read
        buf = buf + 1 == resident ? 0 : buf + 1;
    }
    cp_async_wait<0>();

    // Merge the warps: each leaves (max, sum) per row (log2 domain), scales its output rows to
    // the block's maximum and leaves them in its own tiles; thread (row r, dimensions d0..) sums
    // the four.
    float mine[2];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
        float l = l_run[hf];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        mine[hf] = m_run[hf] == -INFINITY ? -INFINITY : m_run[hf] * sl2;
        if (t4 == 0) s_m[warp][g + 8 * hf] = mine[hf], s_l[warp][g + 8 * hf] = l;
    }
    __syncthreads();
    auto* om = reinterpret_cast<float*>(tile(0, 0));  // [16][HD]: this warp's own tiles
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
        const int row = g + 8 * hf;
        float mx = -INFINITY;
#pragma unroll
        for (int w = 0; w < kDecWarps; ++w) mx = fmaxf(mx, s_m[w][row]);
        const float f = mine[hf] == -INFINITY ? 0.0f : fast_exp2(mine[hf] - mx);
#pragma unroll
        for (int dt = 0; dt < HD / 8; ++dt)
            *reinterpret_cast<float2*>(om + row * HD + dt * 8 + 2 * t4) =
                make_float2(o[dt][2 * hf] * f, o[dt][2 * hf + 1] * f);
    }
    __syncthreads();
    constexpr int kPer = HD / 8;
    const int r = tid / 8, d0 = (tid % 8) * kPer;
    const int used = share.used;
    if (r < group) {
        float mx = -INFINITY, l = 0.0f;
#pragma unroll
        for (int w = 0; w < kDecWarps; ++w) mx = fmaxf(mx, s_m[w][r]);
#pragma unroll
        for (int w = 0; w < kDecWarps; ++w)
            l += s_m[w][r] == -INFINITY ? 0.0f : fast_exp2(s_m[w][r] - mx) * s_l[w][r];
        float acc[kPer];
#pragma unroll
        for (int i = 0; i < kPer; ++i) acc[i] = 0.0f;
#pragma unroll
        for (int w = 0; w < kDecWarps; ++w) {
            const float* wrow = reinterpret_cast<const float*>(kv + w * 2 * kTile) + r * HD + d0;
#pragma unroll
            for (int i = 0; i < kPer; i += 2) {
                const float2 v = *reinterpret_cast<const float2*>(wrow + i);
                acc[i] += v.x, acc[i + 1] += v.y;
            }
        }
        if (used == 1) {
            store_out_row<HD>(p, tok, kvh * group + r, d0, acc, l);
        } else {
            float* row =
                partial +
                ((static_cast<int64_t>(s) * p.heads + kvh * group + r) * splits + split) * (HD + 2);
#pragma unroll
            for (int i = 0; i < kPer; i += 2)
                *reinterpret_cast<float2*>(row + d0 + i) = make_float2(acc[i], acc[i + 1]);
            if (d0 == 0) row[HD] = mx, row[HD + 1] = l;
        }
    }
    if (used == 1) return;
    // The last split of (sequence, KV head) to finish merges; it leaves the ticket at zero. The
    // barrier orders the block's partial stores before thread 0's ticket, whose release makes them
    // visible at GPU scope and whose acquire (in the last block) orders the merge's loads after
    // the other splits' stores; one such atomic instead of a fence in every thread and a relaxed
    // atomic: 0.02-0.04 ms a batch-1 decode token on the H100 (docs/PERFORMANCE.md).
    __syncthreads();
    if (tid == 0) {
        int* ticket = tickets + s * p.kv_heads + kvh;
        int before;
        asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], 1;\n"
                     : "=r"(before)
                     : "l"(ticket)
                     : "memory");
        s_last = before == used - 1;
        if (s_last) atomicExch(ticket, 0);
    }
    __syncthreads();
    if (!s_last) return;
    merge_splits<HD>(
        p, tok, kvh, group, splits, used,
        partial + (static_cast<int64_t>(s) * p.heads + static_cast<int64_t>(kvh) * group) * splits *
                      (HD + 2));
}

int decode_splits(int64_t num_seqs, int64_t kv_heads, int64_t max_kv_len) {
    const int64_t by_fill = std::max<int64_t>(1, 264 / std::max<int64_t>(1, num_seqs * kv_heads));
    const int64_t by_len = (max_kv_len + kDecChunk - 1) / kDecChunk;
    return static_cast<int>(
        std::max<int64_t>(1, std::min(std::min(by_fill, by_len), int64_t{kMaxSplits})));
}

template <int HD, bool kFp8>
void launch_decode(const AttentionParams& p, int64_t max_kv_len, float* workspace,
                   cudaStream_t stream) {
    constexpr size_t kStep = decode_step_bytes<HD, kFp8>(), kFixed = decode_fixed_bytes<HD, kFp8>();
    // kDecResident steps where a block may have that much shared memory (sm_90: 227 KiB), fewer
    // where not (sm_89: 99 KiB): the GPUs of one process are alike, so computed once; the
    // limit raised on each device.
    static const int optin = [] {
        int dev = 0, bytes = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
        return bytes;
    }();
    static const int resident = [] {
        int r = kDecResident;
        while (r > 1 && kFixed + kStep * static_cast<size_t>(r) + 1024 > static_cast<size_t>(optin))
            r /= 2;
        return r;
    }();
    // What a block holding r steps asks for; with few pairs (batch-1 decode), at least what the
    // bf16 pool's blocks ask for the same steps, where the device has it. With its own 98 KiB for
    // 4 steps (against 128 KiB) the FP8 pool's kernel, the same in every other way, made batch-1
    // FP8 decode take 4.45 ms a token instead of 3.86 on the H100 (the blocks place otherwise:
    // two fit an SM where one bf16 block does; docs/PERFORMANCE.md).
    auto block_bytes = [](int r, bool few) {
        const size_t own = kFixed + kStep * static_cast<size_t>(r);
        const size_t as_bf16 = decode_step_bytes<HD, false>() * static_cast<size_t>(r);
        return few && as_bf16 > own && as_bf16 + 1024 <= static_cast<size_t>(optin) ? as_bf16 : own;
    };
    static SmemOptIn opt_in;  // the most any launch asks for
    CUDA_CHECK(
        opt_in.ensure(decode_kernel<HD, kFp8>, static_cast<int>(block_bytes(resident, true))));
    const bool few = p.num_seqs * p.kv_heads < kDecFewPairs;
    const int res = p.num_seqs * p.kv_heads >= kDecBatchPairs
                        ? std::min(resident, kDecBatchResident)
                        : resident;
    const size_t smem = block_bytes(res, few);
    const int splits = decode_splits(p.num_seqs, p.kv_heads, max_kv_len);
    const dim3 grid(static_cast<unsigned>(p.num_seqs), static_cast<unsigned>(p.kv_heads),
                    static_cast<unsigned>(splits));
    int* tickets =
        reinterpret_cast<int*>(workspace + decode_partial_floats(p.num_seqs, p.heads, p.head_dim));
    const int one_step = few ? kDecFewChunks : 0;
    launch_pdl(decode_kernel<HD, kFp8>, grid, dim3(kDecThreads), smem, stream, p, splits, res,
               one_step, workspace, tickets);
}

}  // namespace

int64_t decode_workspace_floats(int64_t num_seqs, int64_t heads, int64_t head_dim) {
    // The partial results, then one ticket per (sequence, KV head) (kv_heads <= heads).
    return decode_partial_floats(num_seqs, heads, head_dim) + num_seqs * heads;
}

void decode_attention(const AttentionParams& p, int64_t max_kv_len, float* partial,
                      cudaStream_t stream) {
    if (p.num_seqs == 0) return;
    CHECK(p.block_tables != nullptr) << "decode attention reads the paged pool";
    CHECK(p.heads / p.kv_heads <= kMaxGroup) << "decode attention supports GQA groups <= 16";
    const bool built = with_head_dim(p.head_dim, [&](auto hd) {
        if (p.kv8.k)
            launch_decode<decltype(hd)::value, true>(p, max_kv_len, partial, stream);
        else
            launch_decode<decltype(hd)::value, false>(p, max_kv_len, partial, stream);
    });
    CHECK(built) << "decode head_dim " << p.head_dim << " is not built (16/32/64/128)";
}

}  // namespace autoglm::cuda
