// Attention on the GPU.
// prefill_attention: FlashAttention-2 style. A block owns 128 query rows (4 warps x 2 m16 tiles),
//   where a row is a (token, query head) pair of one KV head's group, so GQA reads each K/V tile
//   once for the whole group; K/V tiles of 64 keys stream through shared memory (cp.async, two
//   stages, XOR-swizzled rows), QK^T and PV run on mma.sync m16n8k16 bf16 with f32 accumulators
//   and an online softmax in registers. Keys come from the paged pool or a contiguous buffer.
// decode_attention: one token per sequence; the keys are split over blocks (online softmax per
//   split on CUDA cores), then a combine kernel merges the splits.
#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/ops.h"

namespace autoglm::cuda {
namespace {

constexpr int kBM = 128;  // query rows per block
#ifndef AUTOGLM_FLASH_BN
#define AUTOGLM_FLASH_BN 64
#endif
#ifndef AUTOGLM_FLASH_KS_UNROLL
#define AUTOGLM_FLASH_KS_UNROLL 8
#endif
constexpr int kBN = AUTOGLM_FLASH_BN;  // keys per tile
constexpr int kKsUnroll = AUTOGLM_FLASH_KS_UNROLL;
constexpr int kWarps = 4;
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    const auto s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    const int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
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

template <int HD, bool kPaged, bool kCausal>
__global__ void __launch_bounds__(kWarps * 32, 2)
    flash_kernel(const AttentionParams p, const AttentionWork* __restrict__ work) {
    constexpr int kChunks = HD / 8;
    extern __shared__ uint4 smem_raw[];
    bf16* sQ = reinterpret_cast<bf16*>(smem_raw);
    bf16* sK = sQ + kBM * HD;      // [2][kBN][HD]
    bf16* sV = sK + 2 * kBN * HD;  // [2][kBN][HD]

    const AttentionWork wk = work[blockIdx.x];
    const int s = wk.seq;
    const int kvh = blockIdx.y;
    const int group = static_cast<int>(p.heads / p.kv_heads);
    const int q0 = p.q_start[s];
    const int q_len = p.q_start[s + 1] - q0;
    const int kv_len = p.kv_len[s];
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t4 = lane % 4;

    // Keys this block needs: up to the last valid row's causal limit.
    const int last_row = min(wk.row0 + kBM, q_len * group) - 1;
    const int n_keys = kCausal ? min(kv_len, kv_len - q_len + last_row / group + 1) : kv_len;
    const int n_tiles = (n_keys + kBN - 1) / kBN;

    const int32_t* table =
        kPaged ? p.block_tables + static_cast<int64_t>(s) * p.max_blocks_per_seq : nullptr;
    const int64_t kv_row0 = kPaged ? 0 : p.kv_start[s];
    auto key_offset = [&](int j) -> int64_t {
        int64_t row;
        if constexpr (kPaged)
            row = static_cast<int64_t>(table[j / p.block_size]) * p.block_size + j % p.block_size;
        else
            row = kv_row0 + j;
        return row * p.kv_stride + static_cast<int64_t>(kvh) * HD;
    };
    auto load_kv = [&](int tile, int buf) {
        for (int i = tid; i < kBN * kChunks; i += kWarps * 32) {
            const int r = i / kChunks, c = i % kChunks;
            const int j = tile * kBN + r;
            const bool valid = j < n_keys;
            const int64_t off = valid ? key_offset(j) + c * 8 : 0;
            cp_async16(sK + buf * kBN * HD + swz<HD>(r, c), p.k + off, valid);
            cp_async16(sV + buf * kBN * HD + swz<HD>(r, c), p.v + off, valid);
        }
    };

    // Q tile: row r is token (row0 + r) / group, head kvh * group + (row0 + r) % group.
    for (int i = tid; i < kBM * kChunks; i += kWarps * 32) {
        const int r = i / kChunks, c = i % kChunks;
        const int row = wk.row0 + r;
        const int tok = row / group;
        const bool valid = tok < q_len;
        const int64_t off = valid ? static_cast<int64_t>(q0 + tok) * p.q_stride +
                                        static_cast<int64_t>(kvh * group + row % group) * HD + c * 8
                                  : 0;
        cp_async16(sQ + swz<HD>(r, c), p.q + off, valid);
    }
    if (n_tiles > 0) load_kv(0, 0);
    cp_async_commit();

    // This thread's four rows: (m tile mt, half hf) -> block row warp*32 + mt*16 + g + 8*hf.
    int limit[2][2];
    for (int mt = 0; mt < 2; ++mt)
        for (int hf = 0; hf < 2; ++hf) {
            const int row = wk.row0 + warp * 32 + mt * 16 + g + 8 * hf;
            const int tok = row / group;
            limit[mt][hf] = tok < q_len ? (kCausal ? kv_len - q_len + tok + 1 : kv_len) : n_keys;
            if (limit[mt][hf] < 1) limit[mt][hf] = 1;
        }
    const int min_limit = min(min(limit[0][0], limit[0][1]), min(limit[1][0], limit[1][1]));

    float o[2][HD / 8][4];
    float m_run[2][2], l_run[2][2];
    for (int mt = 0; mt < 2; ++mt) {
        for (int dt = 0; dt < HD / 8; ++dt)
            for (int e = 0; e < 4; ++e) o[mt][dt][e] = 0.0f;
        for (int hf = 0; hf < 2; ++hf) m_run[mt][hf] = -INFINITY, l_run[mt][hf] = 0.0f;
    }
    const float sl2 = p.scale * kLog2e;

    for (int kt = 0; kt < n_tiles; ++kt) {
        const int buf = kt & 1;
        if (kt + 1 < n_tiles) {
            load_kv(kt + 1, buf ^ 1);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const bf16* k_tile = sK + buf * kBN * HD;
        const bf16* v_tile = sV + buf * kBN * HD;

        float sc[2][kBN / 8][4];
        for (int mt = 0; mt < 2; ++mt)
            for (int nt = 0; nt < kBN / 8; ++nt)
                for (int e = 0; e < 4; ++e) sc[mt][nt][e] = 0.0f;
#pragma unroll kKsUnroll
        for (int ks = 0; ks < HD / 16; ++ks) {
            unsigned a[2][4];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt)
                ldsm_x4(a[mt], sQ + swz<HD>(warp * 32 + mt * 16 + lane % 16, ks * 2 + lane / 16));
#pragma unroll
            for (int np = 0; np < kBN / 16; ++np) {
                unsigned b[4];
                const int q = lane / 8;
                ldsm_x4(b, k_tile + swz<HD>(np * 16 + lane % 8 + 8 * (q / 2), ks * 2 + q % 2));
#pragma unroll
                for (int mt = 0; mt < 2; ++mt) {
                    mma_bf16(sc[mt][2 * np], a[mt], b[0], b[1]);
                    mma_bf16(sc[mt][2 * np + 1], a[mt], b[2], b[3]);
                }
            }
        }

        // Online softmax, row by row (a row's 64 values live in the 4 threads of a quad).
        const int j0 = kt * kBN;
        const bool full_tile = j0 + kBN <= min_limit;  // no key of this tile is masked here
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int hf = 0; hf < 2; ++hf) {
                float mx = -INFINITY;
#pragma unroll
                for (int nt = 0; nt < kBN / 8; ++nt)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        const int j = j0 + nt * 8 + 2 * t4 + e;
                        float& v = sc[mt][nt][2 * hf + e];
                        if (!full_tile && j >= (kCausal ? limit[mt][hf] : n_keys)) v = -INFINITY;
                        mx = fmaxf(mx, v);
                    }
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                const float m_new = fmaxf(m_run[mt][hf], mx);
                const float m_use = m_new == -INFINITY ? 0.0f : m_new;
                const float alpha = fast_exp2((m_run[mt][hf] - m_use) * sl2);
                m_run[mt][hf] = m_new;
                float sum = 0.0f;
#pragma unroll
                for (int nt = 0; nt < kBN / 8; ++nt)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        float& v = sc[mt][nt][2 * hf + e];
                        v = fast_exp2(v * sl2 - m_use * sl2);
                        sum += v;
                    }
                l_run[mt][hf] = l_run[mt][hf] * alpha + sum;
#pragma unroll
                for (int dt = 0; dt < HD / 8; ++dt) {
                    o[mt][dt][2 * hf] *= alpha;
                    o[mt][dt][2 * hf + 1] *= alpha;
                }
            }

        // P as bf16 A fragments (the f32 scores die here, which frees registers for PV).
        unsigned pk[2][kBN / 16][4];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int kk = 0; kk < kBN / 16; ++kk) {
                pk[mt][kk][0] = pack_bf16(sc[mt][2 * kk][0], sc[mt][2 * kk][1]);
                pk[mt][kk][1] = pack_bf16(sc[mt][2 * kk][2], sc[mt][2 * kk][3]);
                pk[mt][kk][2] = pack_bf16(sc[mt][2 * kk + 1][0], sc[mt][2 * kk + 1][1]);
                pk[mt][kk][3] = pack_bf16(sc[mt][2 * kk + 1][2], sc[mt][2 * kk + 1][3]);
            }
            // O += P V.
#pragma unroll
        for (int kk = 0; kk < kBN / 16; ++kk) {
#pragma unroll
            for (int dp = 0; dp < HD / 16; ++dp) {
                unsigned b[4];
                const int q = lane / 8;
                ldsm_x4_t(b, v_tile + swz<HD>(kk * 16 + lane % 8 + 8 * (q % 2), dp * 2 + q / 2));
#pragma unroll
                for (int mt = 0; mt < 2; ++mt) {
                    mma_bf16(o[mt][2 * dp], pk[mt][kk], b[0], b[1]);
                    mma_bf16(o[mt][2 * dp + 1], pk[mt][kk], b[2], b[3]);
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
            float l = l_run[mt][hf];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            const int row = wk.row0 + warp * 32 + mt * 16 + g + 8 * hf;
            const int tok = row / group;
            if (tok >= q_len) continue;
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            bf16* out = p.out + static_cast<int64_t>(q0 + tok) * p.out_stride +
                        static_cast<int64_t>(kvh * group + row % group) * HD;
#pragma unroll
            for (int dt = 0; dt < HD / 8; ++dt)
                *reinterpret_cast<__nv_bfloat162*>(out + dt * 8 + 2 * t4) =
                    __floats2bfloat162_rn(o[mt][dt][2 * hf] * inv, o[mt][dt][2 * hf + 1] * inv);
        }
}

template <int HD, bool kPaged, bool kCausal>
void launch_flash_variant(const AttentionParams& p, const AttentionWork* work, int64_t num_work,
                          cudaStream_t stream) {
    constexpr int smem = (kBM + 4 * kBN) * HD * 2;
    static bool configured = false;
    if (!configured) {
        CUDA_CHECK(cudaFuncSetAttribute(flash_kernel<HD, kPaged, kCausal>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
        configured = true;
    }
    const dim3 grid(static_cast<unsigned>(num_work), static_cast<unsigned>(p.kv_heads));
    flash_kernel<HD, kPaged, kCausal><<<grid, kWarps * 32, smem, stream>>>(p, work);
    AUTOGLM_LAUNCH_CHECK();
}

// Paged keys are the text decoder's (always causal); contiguous keys are the vision tower's
// (never causal) unless asked.
template <int HD, bool kPaged>
void launch_flash(const AttentionParams& p, const AttentionWork* work, int64_t num_work,
                  cudaStream_t stream) {
    if (p.causal)
        launch_flash_variant<HD, kPaged, true>(p, work, num_work, stream);
    else
        launch_flash_variant<HD, kPaged, false>(p, work, num_work, stream);
}

// ---- decode ------------------------------------------------------------------------------

constexpr int kDecChunk = 64;  // keys per inner step
constexpr int kDecThreads = 128;
constexpr int kMaxGroup = 16;

template <int HD>
__global__ void __launch_bounds__(kDecThreads)
    decode_split_kernel(const AttentionParams p, int splits, float* __restrict__ partial) {
    constexpr int kSub = kDecThreads / HD;  // head subsets in the PV phase
    constexpr int kPv = (kMaxGroup + kSub - 1) / kSub;
    constexpr int kRow = HD + 8;  // padded smem rows: 16-byte reads of different rows spread banks
    __shared__ __align__(16) bf16 sk[kDecChunk][kRow];
    __shared__ __align__(16) bf16 sv[kDecChunk][kRow];
    __shared__ __align__(16) float sq[kMaxGroup][HD];
    __shared__ float sp[kMaxGroup][kDecChunk + 1];
    __shared__ float s_alpha[kMaxGroup], s_m[kMaxGroup], s_l[kMaxGroup];

    pdl_trigger();
    pdl_wait();
    const int s = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
    const int group = static_cast<int>(p.heads / p.kv_heads);
    const int kv_len = p.kv_len[s];
    const int chunks = (kv_len + kDecChunk - 1) / kDecChunk;
    const int per_split = (chunks + splits - 1) / splits * kDecChunk;
    const int j_begin = split * per_split;
    if (j_begin >= kv_len) return;
    const int j_end = min(kv_len, j_begin + per_split);
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int32_t* table = p.block_tables + static_cast<int64_t>(s) * p.max_blocks_per_seq;

    const bf16* q =
        p.q + static_cast<int64_t>(s) * p.q_stride + static_cast<int64_t>(kvh) * group * HD;
    // q of the group's heads: 16-byte pieces, all loads issued before the first store.
    {
        constexpr int kQPieces = (kMaxGroup * HD / 8 + kDecThreads - 1) / kDecThreads;
        uint4 qv[kQPieces];
#pragma unroll
        for (int it = 0; it < kQPieces; ++it) {
            const int i = tid + it * kDecThreads;
            qv[it] =
                i < group * HD / 8 ? reinterpret_cast<const uint4*>(q)[i] : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int it = 0; it < kQPieces; ++it) {
            const int i = tid + it * kDecThreads;
            if (i >= group * HD / 8) break;
            float f[8];
            unpack8(*reinterpret_cast<const Bf16x8*>(&qv[it]), f);
            for (int e = 0; e < 8; ++e) sq[(i * 8) / HD][(i * 8) % HD + e] = f[e] * p.scale;
        }
    }
    if (tid < kMaxGroup) s_m[tid] = -INFINITY, s_l[tid] = 0.0f;
    float acc[kPv];
    for (int i = 0; i < kPv; ++i) acc[i] = 0.0f;
    const int d = tid % HD, hs = tid / HD;

    for (int c0 = j_begin; c0 < j_end; c0 += kDecChunk) {
        // All K and V rows of the chunk in flight at once (16-byte pieces, zeros past the end).
        constexpr int kPieces = kDecChunk * HD / 8;
        static_assert(kPieces % kDecThreads == 0, "whole pieces per thread");
#pragma unroll
        for (int it = 0; it < kPieces / kDecThreads; ++it) {
            const int i = tid + it * kDecThreads;
            const int jj = i / (HD / 8), c = i % (HD / 8);
            const int j = c0 + jj;
            uint4 kv = make_uint4(0, 0, 0, 0), vv = kv;
            if (j < j_end) {
                const int64_t row =
                    static_cast<int64_t>(table[j / p.block_size]) * p.block_size + j % p.block_size;
                const int64_t off = row * p.kv_stride + static_cast<int64_t>(kvh) * HD + c * 8;
                kv = *reinterpret_cast<const uint4*>(p.k + off);
                vv = *reinterpret_cast<const uint4*>(p.v + off);
            }
            *reinterpret_cast<uint4*>(&sk[jj][c * 8]) = kv;
            *reinterpret_cast<uint4*>(&sv[jj][c * 8]) = vv;
        }
        __syncthreads();
        // Scores: thread -> (key tid % 64, heads of parity tid / 64).
        {
            const int jj = tid % kDecChunk, hh = tid / kDecChunk;
            const int j = c0 + jj;
            float dots[kMaxGroup / 2];
            for (int i = 0; i < kMaxGroup / 2; ++i) dots[i] = 0.0f;
#pragma unroll
            for (int c = 0; c < HD / 8; ++c) {
                float kf[8];
                unpack8(*reinterpret_cast<const Bf16x8*>(&sk[jj][c * 8]), kf);
#pragma unroll
                for (int i = 0; i < kMaxGroup / 2; ++i) {
                    const int h = hh + 2 * i;
                    if (h < group) {
                        const float4 q0 = *reinterpret_cast<const float4*>(&sq[h][c * 8]);
                        const float4 q1 = *reinterpret_cast<const float4*>(&sq[h][c * 8 + 4]);
                        dots[i] += q0.x * kf[0] + q0.y * kf[1] + q0.z * kf[2] + q0.w * kf[3] +
                                   q1.x * kf[4] + q1.y * kf[5] + q1.z * kf[6] + q1.w * kf[7];
                    }
                }
            }
            for (int i = 0; i < kMaxGroup / 2; ++i) {
                const int h = hh + 2 * i;
                if (h < group) sp[h][jj] = j < j_end ? dots[i] : -INFINITY;
            }
        }
        __syncthreads();
        // Softmax update per head: warp w takes heads w, w + 4, ...
        for (int h = warp; h < group; h += kDecThreads / 32) {
            const float a = sp[h][lane], b = sp[h][lane + 32];
            const float m_new = fmaxf(s_m[h], warp_max(fmaxf(a, b)));
            const float pa = __expf(a - m_new), pb = __expf(b - m_new);
            const float sum = warp_sum(pa + pb);
            sp[h][lane] = pa;
            sp[h][lane + 32] = pb;
            __syncwarp();
            if (lane == 0) {
                const float alpha = __expf(s_m[h] - m_new);
                s_alpha[h] = alpha;
                s_l[h] = s_l[h] * alpha + sum;
                s_m[h] = m_new;
            }
        }
        __syncthreads();
        // PV: thread -> (dim d, heads hs, hs + kSub, ...).
#pragma unroll
        for (int i = 0; i < kPv; ++i) {
            const int h = hs + i * kSub;
            if (h < group) acc[i] *= s_alpha[h];
        }
        const int n = min(kDecChunk, j_end - c0);
        for (int jj = 0; jj < n; ++jj) {
            const float v = __bfloat162float(sv[jj][d]);
#pragma unroll
            for (int i = 0; i < kPv; ++i) {
                const int h = hs + i * kSub;
                if (h < group) acc[i] += sp[h][jj] * v;
            }
        }
        __syncthreads();
    }
    for (int i = 0; i < kPv; ++i) {
        const int h = hs + i * kSub;
        if (h >= group) continue;
        const int head = kvh * group + h;
        float* out =
            partial + ((static_cast<int64_t>(s) * p.heads + head) * splits + split) * (HD + 2);
        out[d] = acc[i];
        if (d == 0) out[HD] = s_m[h], out[HD + 1] = s_l[h];
    }
}

template <int HD>
__global__ void decode_combine_kernel(const AttentionParams p, int splits,
                                      const float* __restrict__ partial) {
    pdl_trigger();
    pdl_wait();
    const int s = blockIdx.x, head = blockIdx.y;
    const int kv_len = p.kv_len[s];
    const int chunks = (kv_len + kDecChunk - 1) / kDecChunk;
    const int per_split = (chunks + splits - 1) / splits * kDecChunk;
    const int used = (kv_len + per_split - 1) / per_split;
    const float* base = partial + (static_cast<int64_t>(s) * p.heads + head) * splits * (HD + 2);
    float m = -INFINITY;
    for (int i = 0; i < used; ++i) m = fmaxf(m, base[i * (HD + 2) + HD]);
    float l = 0.0f;
    for (int i = 0; i < used; ++i)
        l += __expf(base[i * (HD + 2) + HD] - m) * base[i * (HD + 2) + HD + 1];
    bf16* out = p.out + static_cast<int64_t>(s) * p.out_stride + static_cast<int64_t>(head) * HD;
    for (int d = threadIdx.x; d < HD; d += blockDim.x) {
        float acc = 0.0f;
        for (int i = 0; i < used; ++i)
            acc += __expf(base[i * (HD + 2) + HD] - m) * base[i * (HD + 2) + d];
        out[d] = __float2bfloat16(l > 0.0f ? acc / l : 0.0f);
    }
}

int decode_splits(int64_t num_seqs, int64_t kv_heads, int64_t max_kv_len) {
    const int64_t by_fill = std::max<int64_t>(1, 264 / std::max<int64_t>(1, num_seqs * kv_heads));
    const int64_t by_len = (max_kv_len + kDecChunk - 1) / kDecChunk;
    return static_cast<int>(std::max<int64_t>(1, std::min(std::min(by_fill, by_len), int64_t{64})));
}

template <int HD>
void launch_decode(const AttentionParams& p, int64_t max_kv_len, float* partial,
                   cudaStream_t stream) {
    const int splits = decode_splits(p.num_seqs, p.kv_heads, max_kv_len);
    const dim3 grid(static_cast<unsigned>(p.num_seqs), static_cast<unsigned>(p.kv_heads),
                    static_cast<unsigned>(splits));
    launch_pdl(decode_split_kernel<HD>, grid, dim3(kDecThreads), 0, stream, p, splits, partial);
    const dim3 grid2(static_cast<unsigned>(p.num_seqs), static_cast<unsigned>(p.heads));
    launch_pdl(decode_combine_kernel<HD>, grid2, dim3(128), 0, stream, p, splits,
               static_cast<const float*>(partial));
}

}  // namespace

int64_t attention_rows_per_block() {
    return kBM;
}

void prefill_attention(const AttentionParams& p, const AttentionWork* work, int64_t num_work,
                       cudaStream_t stream) {
    if (num_work == 0) return;
    CHECK(p.heads % p.kv_heads == 0) << "heads must be a multiple of kv_heads";
    const bool paged = p.block_tables != nullptr;
    switch (p.head_dim) {
#define AUTOGLM_FLASH_CASE(HD)                                  \
    case HD:                                                    \
        if (paged)                                              \
            launch_flash<HD, true>(p, work, num_work, stream);  \
        else                                                    \
            launch_flash<HD, false>(p, work, num_work, stream); \
        break;
        AUTOGLM_FLASH_CASE(16)
        AUTOGLM_FLASH_CASE(32)
        AUTOGLM_FLASH_CASE(64)
        AUTOGLM_FLASH_CASE(128)
#undef AUTOGLM_FLASH_CASE
        default:
            CHECK(false) << "attention head_dim " << p.head_dim << " is not built (16/32/64/128)";
    }
}

int64_t decode_workspace_floats(int64_t num_seqs, int64_t heads, int64_t head_dim) {
    // decode_splits keeps num_seqs * splits <= max(num_seqs, 264).
    return std::max<int64_t>(num_seqs, 264) * heads * (head_dim + 2);
}

void decode_attention(const AttentionParams& p, int64_t max_kv_len, float* partial,
                      cudaStream_t stream) {
    if (p.num_seqs == 0) return;
    CHECK(p.block_tables != nullptr) << "decode attention reads the paged pool";
    CHECK(p.heads / p.kv_heads <= kMaxGroup) << "decode attention supports GQA groups <= 16";
    switch (p.head_dim) {
        case 16:
            launch_decode<16>(p, max_kv_len, partial, stream);
            break;
        case 32:
            launch_decode<32>(p, max_kv_len, partial, stream);
            break;
        case 64:
            launch_decode<64>(p, max_kv_len, partial, stream);
            break;
        case 128:
            launch_decode<128>(p, max_kv_len, partial, stream);
            break;
        default:
            CHECK(false) << "decode head_dim " << p.head_dim << " is not built";
    }
}

}  // namespace autoglm::cuda
