// Prefill attention on the GPU.
// prefill_attention: FlashAttention-2 style. A block owns 128 query rows (4 warps x 2 m16 tiles),
//   where a row is a (token, query head) pair of one KV head's group, so GQA reads each K/V tile
//   once for the whole group; K/V tiles of 64 keys stream through shared memory (cp.async, two
//   stages, XOR-swizzled rows), QK^T and PV run on mma.sync m16n8k16 bf16 with f32 accumulators
//   and an online softmax in registers. Keys come from the paged pool or a contiguous buffer.
//   decode_attention is in decode_attention.cu.
#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/smem_opt_in.h"

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
    static SmemOptIn opt_in;
    CUDA_CHECK(opt_in.ensure(flash_kernel<HD, kPaged, kCausal>, smem));
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

}  // namespace

int64_t attention_rows_per_block() {
    return kBM;
}

void prefill_attention(const AttentionParams& p, const AttentionWork* work, int64_t num_work,
                       cudaStream_t stream) {
    if (num_work == 0) return;
    CHECK(p.heads % p.kv_heads == 0) << "heads must be a multiple of kv_heads";
    const bool paged = p.block_tables != nullptr;
    const bool built = with_head_dim(p.head_dim, [&](auto hd) {
        constexpr int HD = decltype(hd)::value;
        if (paged)
            launch_flash<HD, true>(p, work, num_work, stream);
        else
            launch_flash<HD, false>(p, work, num_work, stream);
    });
    CHECK(built) << "attention head_dim " << p.head_dim << " is not built (16/32/64/128)";
}

}  // namespace autoglm::cuda
