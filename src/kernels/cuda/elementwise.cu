// Row-wise and elementwise CUDA kernels of the text decoder and shared ones: embedding, sandwich
// RMSNorm (and its FP8 form), M-RoPE + paged KV write, SwiGLU, conversions, argmax, the dummy
// weights' fill. The vision tower's own kernels are in vision_ops.cu.
#include <cmath>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/fp8.cuh"
#include "kernels/cuda/norm_pieces.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/rope_kv.cuh"

namespace autoglm::cuda {
namespace {

constexpr int kRowThreads = 256;

// Rows of the table's vocabulary slice [vocab_begin, vocab_begin + vocab_rows); ids outside it
// give zeros (a tensor-parallel rank's share of the embedding).
__global__ void embedding_kernel(const bf16* __restrict__ table, const int32_t* __restrict__ ids,
                                 int64_t dim, int64_t vocab_begin, int64_t vocab_rows,
                                 float* __restrict__ out) {
    pdl_trigger();
    pdl_wait();
    const int64_t i = blockIdx.x;
    const int64_t id = static_cast<int64_t>(ids[i]) - vocab_begin;
    if (id < 0 || id >= vocab_rows) {
        for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) out[i * dim + j] = 0.0f;
        return;
    }
    const bf16* src = table + id * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) out[i * dim + j] = bf(src[j]);
}

__global__ void scatter_rows_kernel(const bf16* const* __restrict__ rows,
                                    const int32_t* __restrict__ dst, int64_t dim,
                                    float* __restrict__ x) {
    const int64_t i = blockIdx.x;
    const bf16* src = rows[i];
    float* d = x + static_cast<int64_t>(dst[i]) * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) d[j] = bf(src[j]);
}

__global__ void add_rms_norm_kernel(float* __restrict__ residual, const bf16* __restrict__ branch,
                                    const bf16* __restrict__ w_branch,
                                    const bf16* __restrict__ w_out,
                                    const int32_t* __restrict__ src_row, int64_t dim, float eps,
                                    bf16* __restrict__ out) {
    __shared__ float scratch[32];
    const int64_t r = blockIdx.x;
    const int64_t src = src_row ? src_row[r] : r;
    float* res = residual + src * dim;
    if (branch) {
        const bf16* b = branch + src * dim;
        float ss = 0.0f;
        for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
            const float v = bf(b[j]);
            ss += v * v;
        }
        const float inv = rsqrtf(block_sum(ss, scratch) / static_cast<float>(dim) + eps);
        for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
            res[j] += bf(w_branch[j]) * (bf(b[j]) * inv);
    }
    if (out) {
        float ss = 0.0f;
        for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) ss += res[j] * res[j];
        const float inv = rsqrtf(block_sum(ss, scratch) / static_cast<float>(dim) + eps);
        bf16* o = out + r * dim;
        for (int64_t j = threadIdx.x; j < dim; j += blockDim.x)
            o[j] = __float2bfloat16(bf(w_out[j]) * (res[j] * inv));
    }
}

// The same step with each thread holding 8 consecutive elements in registers (dim % 8 == 0):
// every load is issued up front, so one row costs about one memory round trip.
__global__ void add_rms_norm8_kernel(float* __restrict__ residual, const bf16* __restrict__ branch,
                                     const bf16* __restrict__ w_branch,
                                     const bf16* __restrict__ w_out,
                                     const int32_t* __restrict__ src_row, int dim, float eps,
                                     bf16* __restrict__ out) {
    __shared__ float scratch[32];
    pdl_trigger();
    pdl_wait();
    const int64_t r = blockIdx.x;
    const int64_t src = src_row ? src_row[r] : r;
    float* res = residual + src * dim;
    NormPieces<1> v;
    load_norm_pieces(v, res, branch ? w_branch : nullptr, out ? w_out : nullptr, dim);
    const int c = norm_piece(0);
    if (branch && c < dim)
        unpack8(*reinterpret_cast<const Bf16x8*>(branch + src * dim + c), v.b[0]);
    finish_add_rms_norm(v, branch != nullptr, res, out ? out + r * dim : nullptr, dim, eps,
                        scratch);
}

// add_rms_norm8_kernel for the FP8 path: the branch's FP8 products scaled on load, the output
// row quantized (its absolute maximum over the block, then 8 bytes a thread). Values are rounded
// to bf16 where the separate passes store them (the scaled branch, the normed row), so the codes
// equal scale pass + add_rms_norm + quantize_rows_fp8's, and the reference's that quantizes the
// bf16 activations.
__global__ void add_rms_norm8_fp8_kernel(float* __restrict__ residual,
                                         const bf16* __restrict__ branch, Fp8Products bp,
                                         const bf16* __restrict__ w_branch,
                                         const bf16* __restrict__ w_out, int dim, float eps,
                                         Fp8Rows out) {
    __shared__ float scratch[32];
    pdl_trigger();
    pdl_wait();
    const int64_t r = blockIdx.x;
    float* res = residual + r * dim;
    NormPieces<1> v;
    load_norm_pieces(v, res, branch ? w_branch : nullptr, out.q ? w_out : nullptr, dim);
    const int c = norm_piece(0);
    if (branch && c < dim) {
        unpack8(*reinterpret_cast<const Bf16x8*>(branch + r * dim + c), v.b[0]);
        apply_fp8_products(bp, r, c, v.b[0]);
        round_to_bf16(v.b[0]);
    }
    finish_add_rms_norm(v, branch != nullptr, res, nullptr, dim, eps, scratch);
    if (!out.q) return;
    const float inv = inv_rms(v.x, dim, eps, scratch);
    float y[8], amax = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
        y[e] = v.wo[0][e] * (v.x[0][e] * inv);
        amax = fmaxf(amax, fabsf(y[e]));
    }
    round_to_bf16(y);
    amax = __bfloat162float(__float2bfloat16(amax));
    amax = block_max(amax, scratch);
    if (threadIdx.x == 0) out.scale[r] = fp8_row_scale(amax);
    if (c < dim)
        *reinterpret_cast<uint2*>(out.q + r * dim + c) = pack8_e4m3(y, fp8_row_inv_scale(amax));
}

// Grid (tokens, chunks of 128 x 8 values of the fused qkv row): each thread takes 8 consecutive
// values of one head (head_dim % 8 == 0): the FP8 products' scales and bias when given, the
// M-RoPE rotation of the pairs among them on q and k heads (written back), then k and v to the
// token's slot in the paged pool. The same per-element math as rope_kv_write_kernel.
__global__ void rope_kv_write8_kernel(bf16* __restrict__ qkv, const int32_t* __restrict__ positions,
                                      MropeParams rope, int heads, int kv_heads, int head_dim,
                                      const int64_t* __restrict__ slots, bf16* __restrict__ k_cache,
                                      bf16* __restrict__ v_cache, Fp8Products pp) {
    pdl_trigger();
    pdl_wait();
    const int64_t t = blockIdx.x;
    const int width = (heads + 2 * kv_heads) * head_dim;
    const int col = (static_cast<int>(blockIdx.y) * 128 + static_cast<int>(threadIdx.x)) * 8;
    if (col >= width) return;
    const int h = col / head_dim, d0 = col % head_dim;
    bf16* x = qkv + t * width + col;
    float v[8];
    unpack8(*reinterpret_cast<const Bf16x8*>(x), v);
    apply_fp8_products(pp, t, col, v);
    if (h < heads + kv_heads) {
#pragma unroll
        for (int e = 0; e < 8; e += 2) {
            const int pair = (d0 + e) / 2;
            if (pair >= rope.num_pairs) break;
            float sn, cs;
            mrope_sincos(rope, positions + 3 * t, pair, &sn, &cs);
            // Rounded to bf16 first, as the pair-by-pair kernel reads it from memory.
            const float a = __bfloat162float(__float2bfloat16(v[e]));
            const float b = __bfloat162float(__float2bfloat16(v[e + 1]));
            v[e] = mrope_rotate(a, b, 0, sn, cs);
            v[e + 1] = mrope_rotate(b, a, 1, sn, cs);
        }
    }
    const Bf16x8 packed = pack8(v);
    if (h < heads + kv_heads || pp.x_scale) *reinterpret_cast<Bf16x8*>(x) = packed;
    if (h < heads) return;
    const int64_t slot = slots[t];
    if (slot < 0) return;
    *reinterpret_cast<Bf16x8*>(kv_slot_head(k_cache, v_cache, slot, h, heads, kv_heads, head_dim) +
                               d0) = packed;
}

// One block (kSiluQuantThreads) a row of grouped gate/up products: each thread keeps the SwiGLU
// values of its chunks (4 outputs from 8 products) in registers until the row's absolute maximum
// is known, then writes them as e4m3. Rounded to bf16 where the separate passes store values (the
// scaled products, the SwiGLU output): the codes equal those passes' codes.
constexpr int kSiluQuantThreads = 512, kSiluQuantChunks = kSiluMulFp8MaxWidth / 4 / 512;
__global__ void __launch_bounds__(kSiluQuantThreads)
    silu_mul_grouped4_fp8_kernel(const bf16* __restrict__ gate_up, Fp8Products pp, int width,
                                 Fp8Rows out) {
    __shared__ float scratch[32];
    pdl_trigger();
    pdl_wait();
    const int64_t r = blockIdx.x;
    const int chunks = width / 4;
    // Every load of the row first (guards, not early exits, so they are all in flight at once).
    Bf16x8 raw[kSiluQuantChunks];
#pragma unroll
    for (int i = 0; i < kSiluQuantChunks; ++i) {
        const int g = static_cast<int>(threadIdx.x) + i * kSiluQuantThreads;
        if (g < chunks) raw[i] = *reinterpret_cast<const Bf16x8*>(gate_up + r * 2 * width + 8 * g);
    }
    __nv_bfloat162 y[kSiluQuantChunks][2];
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < kSiluQuantChunks; ++i) {
        const int g = static_cast<int>(threadIdx.x) + i * kSiluQuantThreads;
        if (g >= chunks) continue;
        float f[8];
        unpack8(raw[i], f);
        apply_fp8_products(pp, r, 8 * g, f);
        round_to_bf16(f);
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            y[i][k] = __floats2bfloat162_rn(
                f[4 + 2 * k] * (f[2 * k] / (1.0f + __expf(-f[2 * k]))),
                f[5 + 2 * k] * (f[2 * k + 1] / (1.0f + __expf(-f[2 * k + 1]))));
            const float2 v = __bfloat1622float2(y[i][k]);
            amax = fmaxf(amax, fmaxf(fabsf(v.x), fabsf(v.y)));
        }
    }
    amax = block_max(amax, scratch);
    if (threadIdx.x == 0) out.scale[r] = fp8_row_scale(amax);
    const float inv = fp8_row_inv_scale(amax);
#pragma unroll
    for (int i = 0; i < kSiluQuantChunks; ++i) {
        const int g = static_cast<int>(threadIdx.x) + i * kSiluQuantThreads;
        if (g >= chunks) continue;
        const float2 a = __bfloat1622float2(y[i][0]), b = __bfloat1622float2(y[i][1]);
        const __nv_fp8x2_storage_t lo =
            __nv_cvt_float2_to_fp8x2(make_float2(a.x * inv, a.y * inv), __NV_SATFINITE, __NV_E4M3);
        const __nv_fp8x2_storage_t hi =
            __nv_cvt_float2_to_fp8x2(make_float2(b.x * inv, b.y * inv), __NV_SATFINITE, __NV_E4M3);
        *reinterpret_cast<unsigned*>(out.q + r * width + 4 * g) =
            static_cast<unsigned>(lo) | (static_cast<unsigned>(hi) << 16);
    }
}

bool norm8_fits(int64_t dim) {
    return dim % 8 == 0 && dim <= 8 * 1024;
}
unsigned norm8_threads(int64_t dim) {
    return static_cast<unsigned>((dim / 8 + 31) / 32 * 32);
}

__device__ __forceinline__ float to_f32(float v) {
    return v;
}
__device__ __forceinline__ float to_f32(bf16 v) {
    return __bfloat162float(v);
}

template <typename In, typename Out>
__global__ void rms_norm_kernel(const In* __restrict__ x, const bf16* __restrict__ w, int64_t dim,
                                float eps, Out* __restrict__ out) {
    __shared__ float scratch[32];
    const In* xr = x + blockIdx.x * dim;
    float ss = 0.0f;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) ss += to_f32(xr[j]) * to_f32(xr[j]);
    const float inv = rsqrtf(block_sum(ss, scratch) / static_cast<float>(dim) + eps);
    Out* o = out + blockIdx.x * dim;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const float v = bf(w[j]) * (to_f32(xr[j]) * inv);
        if constexpr (sizeof(Out) == 2)
            o[j] = __float2bfloat16(v);
        else
            o[j] = v;
    }
}

// bf16 rows to bf16, one block per row, 8 consecutive elements a thread (dim % 8 == 0).
__global__ void rms_norm8_bf16_kernel(const bf16* __restrict__ x, const bf16* __restrict__ w,
                                      int dim, float eps, bf16* __restrict__ out) {
    __shared__ float scratch[32];
    const int c = static_cast<int>(threadIdx.x) * 8;
    const int64_t r = blockIdx.x;
    float v[8] = {}, g[8] = {};
    if (c < dim) {
        unpack8(*reinterpret_cast<const Bf16x8*>(x + r * dim + c), v);
        unpack8(*reinterpret_cast<const Bf16x8*>(w + c), g);
    }
    float ss = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) ss += v[e] * v[e];
    const float inv = rsqrtf(block_sum(ss, scratch) / static_cast<float>(dim) + eps);
    if (c >= dim) return;
    float y[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) y[e] = g[e] * (v[e] * inv);
    *reinterpret_cast<Bf16x8*>(out + r * dim + c) = pack8(y);
}

// Grid (tokens, head groups of 4): warp w of a block owns head blockIdx.y * 4 + w among the q, k
// and v heads of the fused row: q and k heads rotate pair by pair; k and v heads then go to the
// token's slot in the paged pool.
__global__ void rope_kv_write_kernel(bf16* __restrict__ qkv, const int32_t* __restrict__ positions,
                                     MropeParams rope, int heads, int kv_heads, int head_dim,
                                     const int64_t* __restrict__ slots, bf16* __restrict__ k_cache,
                                     bf16* __restrict__ v_cache) {
    pdl_trigger();
    pdl_wait();
    const int64_t t = blockIdx.x;
    const int h = blockIdx.y * 4 + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (h >= heads + 2 * kv_heads) return;
    bf16* x = qkv + t * (heads + 2 * kv_heads) * head_dim + h * head_dim;
    if (h < heads + kv_heads) {
        for (int i = lane; i < rope.num_pairs; i += 32) {
            float s, c;
            mrope_sincos(rope, positions + 3 * t, i, &s, &c);
            __nv_bfloat162* p = reinterpret_cast<__nv_bfloat162*>(x + 2 * i);
            const float2 ab = __bfloat1622float2(*p);
            *p = __floats2bfloat162_rn(mrope_rotate(ab.x, ab.y, 0, s, c),
                                       mrope_rotate(ab.y, ab.x, 1, s, c));
        }
        __syncwarp();
    }
    if (h < heads) return;
    const int64_t slot = slots[t];
    if (slot < 0) return;
    bf16* dst = kv_slot_head(k_cache, v_cache, slot, h, heads, kv_heads, head_dim);
    for (int j = lane * 2; j < head_dim; j += 64)
        *reinterpret_cast<__nv_bfloat162*>(dst + j) =
            *reinterpret_cast<const __nv_bfloat162*>(x + j);
}

__global__ void silu_mul_vec_kernel(const bf16* __restrict__ gate_up, int64_t rows, int64_t width,
                                    bf16* __restrict__ out) {
    pdl_trigger();
    pdl_wait();
    const int64_t vecs = width / 8;
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= rows * vecs) return;
    const int64_t r = i / vecs, c = (i % vecs) * 8;
    const Bf16x8 g = *reinterpret_cast<const Bf16x8*>(gate_up + r * 2 * width + c);
    const Bf16x8 u = *reinterpret_cast<const Bf16x8*>(gate_up + r * 2 * width + width + c);
    float gf[8], uf[8], of[8];
    unpack8(g, gf);
    unpack8(u, uf);
    for (int k = 0; k < 8; ++k) of[k] = uf[k] * (gf[k] / (1.0f + __expf(-gf[k])));
    *reinterpret_cast<Bf16x8*>(out + r * width + c) = pack8(of);
}

__global__ void silu_mul_kernel(const bf16* __restrict__ gate_up, int64_t rows, int64_t width,
                                bf16* __restrict__ out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= rows * width) return;
    const int64_t r = i / width, c = i % width;
    const float g = bf(gate_up[r * 2 * width + c]), u = bf(gate_up[r * 2 * width + width + c]);
    out[i] = __float2bfloat16(u * (g / (1.0f + __expf(-g))));
}

__global__ void silu_mul_grouped4_kernel(const bf16* __restrict__ gate_up, int64_t groups,
                                         bf16* __restrict__ out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= groups) return;
    const Bf16x8 v = reinterpret_cast<const Bf16x8*>(gate_up)[i];
    float f[8];
    unpack8(v, f);
    __nv_bfloat162 o[2];
    for (int k = 0; k < 2; ++k) {
        const float g0 = f[2 * k], g1 = f[2 * k + 1], u0 = f[4 + 2 * k], u1 = f[5 + 2 * k];
        o[k] = __floats2bfloat162_rn(u0 * (g0 / (1.0f + __expf(-g0))),
                                     u1 * (g1 / (1.0f + __expf(-g1))));
    }
    *reinterpret_cast<uint2*>(out + 4 * i) = *reinterpret_cast<const uint2*>(o);
}

__global__ void f32_to_bf16_kernel(const float* __restrict__ in, int64_t n,
                                   bf16* __restrict__ out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) out[i] = __float2bfloat16(in[i]);
}

__global__ void bf16_to_f32_kernel(const bf16* __restrict__ in, int64_t n,
                                   float* __restrict__ out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) out[i] = bf(in[i]);
}

constexpr int kArgmaxParts = 64;

__device__ __forceinline__ void better(float& best, int64_t& arg, float v, int64_t i) {
    if (v > best || (v == best && i < arg)) best = v, arg = i;
}

// Block-wide (value, first index) maximum; lane 0 of warp 0 ends up with it.
__device__ __forceinline__ void block_argmax(float& best, int64_t& arg) {
    __shared__ float sv[32];
    __shared__ int64_t si[32];
    for (int o = 16; o > 0; o /= 2)
        better(best, arg, __shfl_xor_sync(0xffffffffu, best, o),
               __shfl_xor_sync(0xffffffffu, arg, o));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) sv[warp] = best, si[warp] = arg;
    __syncthreads();
    if (warp == 0) {
        const int warps = blockDim.x / 32;
        best = lane < warps ? sv[lane] : -INFINITY;
        arg = lane < warps ? si[lane] : INT64_MAX;
        for (int o = 16; o > 0; o /= 2)
            better(best, arg, __shfl_xor_sync(0xffffffffu, best, o),
                   __shfl_xor_sync(0xffffffffu, arg, o));
    }
}

// Phase 1: grid (rows, kArgmaxParts), each block one slice of the row.
__global__ void argmax_part_kernel(const float* __restrict__ logits, int64_t vocab,
                                   float* __restrict__ part_v, int64_t* __restrict__ part_i) {
    pdl_trigger();
    pdl_wait();
    const float* row = logits + blockIdx.x * vocab;
    const int64_t per = (vocab + kArgmaxParts - 1) / kArgmaxParts;
    const int64_t begin = blockIdx.y * per, end = min(vocab, begin + per);
    float best = -INFINITY;
    int64_t arg = INT64_MAX;
    for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) better(best, arg, row[j], j);
    block_argmax(best, arg);
    if (threadIdx.x == 0) {
        part_v[blockIdx.x * kArgmaxParts + blockIdx.y] = best;
        part_i[blockIdx.x * kArgmaxParts + blockIdx.y] = arg;
    }
}

__global__ void argmax_final_kernel(const float* __restrict__ part_v,
                                    const int64_t* __restrict__ part_i, int32_t* __restrict__ ids) {
    pdl_trigger();
    pdl_wait();
    float best = -INFINITY;
    int64_t arg = INT64_MAX;
    if (threadIdx.x < kArgmaxParts)
        better(best, arg, part_v[blockIdx.x * kArgmaxParts + threadIdx.x],
               part_i[blockIdx.x * kArgmaxParts + threadIdx.x]);
    block_argmax(best, arg);
    if (threadIdx.x == 0) ids[blockIdx.x] = arg == INT64_MAX ? 0 : static_cast<int32_t>(arg);
}

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__global__ void fill_uniform_kernel(bf16* __restrict__ out, int64_t n, uint64_t seed, float offset,
                                    float scale) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    const uint64_t h = mix64(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i));
    const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;
    out[i] = __float2bfloat16(offset + scale * u);
}

}  // namespace

void embedding(const bf16* table, const int32_t* ids, int64_t n, int64_t dim, float* out,
               cudaStream_t stream) {
    if (n == 0) return;
    launch_pdl(embedding_kernel, dim3(static_cast<unsigned>(n)), dim3(kRowThreads), 0, stream,
               table, ids, dim, int64_t{0}, INT64_MAX, out);
}

void embedding_slice(const bf16* table, const int32_t* ids, int64_t n, int64_t dim,
                     int64_t vocab_begin, int64_t vocab_rows, float* out, cudaStream_t stream) {
    if (n == 0) return;
    launch_pdl(embedding_kernel, dim3(static_cast<unsigned>(n)), dim3(kRowThreads), 0, stream,
               table, ids, dim, vocab_begin, vocab_rows, out);
}

void scatter_rows(const bf16* const* rows, const int32_t* dst, int64_t count, int64_t dim, float* x,
                  cudaStream_t stream) {
    if (count == 0) return;
    scatter_rows_kernel<<<static_cast<unsigned>(count), kRowThreads, 0, stream>>>(rows, dst, dim,
                                                                                  x);
    AUTOGLM_LAUNCH_CHECK();
}

void add_rms_norm(float* residual, const bf16* branch, const bf16* w_branch, const bf16* w_out,
                  const int32_t* src_row, int64_t rows, int64_t dim, float eps, bf16* out,
                  cudaStream_t stream) {
    if (rows == 0) return;
    if (norm8_fits(dim)) {
        launch_pdl(add_rms_norm8_kernel, dim3(static_cast<unsigned>(rows)),
                   dim3(norm8_threads(dim)), 0, stream, residual, branch, w_branch, w_out, src_row,
                   static_cast<int>(dim), eps, out);
    } else {
        add_rms_norm_kernel<<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(
            residual, branch, w_branch, w_out, src_row, dim, eps, out);
    }
    AUTOGLM_LAUNCH_CHECK();
}

void add_rms_norm_fp8(float* residual, const bf16* branch, const Fp8Products& branch_products,
                      const bf16* w_branch, const bf16* w_out, int64_t rows, int64_t dim, float eps,
                      const Fp8Rows& out, cudaStream_t stream) {
    CHECK(norm8_fits(dim)) << "add_rms_norm_fp8 needs dim % 8 == 0 and dim <= 8192, got " << dim;
    if (rows == 0) return;
    launch_pdl(add_rms_norm8_fp8_kernel, dim3(static_cast<unsigned>(rows)),
               dim3(norm8_threads(dim)), 0, stream, residual, branch, branch_products, w_branch,
               w_out, static_cast<int>(dim), eps, out);
    AUTOGLM_LAUNCH_CHECK();
}

void rms_norm_f32(const float* x, const bf16* weight, int64_t rows, int64_t dim, float eps,
                  float* out, cudaStream_t stream) {
    if (rows == 0) return;
    rms_norm_kernel<float, float>
        <<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(x, weight, dim, eps, out);
    AUTOGLM_LAUNCH_CHECK();
}

void rms_norm_to_bf16(const float* x, const bf16* weight, int64_t rows, int64_t dim, float eps,
                      bf16* out, cudaStream_t stream) {
    if (rows == 0) return;
    if (norm8_fits(dim)) {  // residual read-only, norm to bf16
        add_rms_norm8_kernel<<<static_cast<unsigned>(rows), norm8_threads(dim), 0, stream>>>(
            const_cast<float*>(x), nullptr, nullptr, weight, nullptr, static_cast<int>(dim), eps,
            out);
    } else {
        rms_norm_kernel<float, bf16>
            <<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(x, weight, dim, eps, out);
    }
    AUTOGLM_LAUNCH_CHECK();
}

void rms_norm_bf16(const bf16* x, const bf16* weight, int64_t rows, int64_t dim, float eps,
                   bf16* out, cudaStream_t stream) {
    if (rows == 0) return;
    if (norm8_fits(dim)) {
        rms_norm8_bf16_kernel<<<static_cast<unsigned>(rows), norm8_threads(dim), 0, stream>>>(
            x, weight, static_cast<int>(dim), eps, out);
    } else {
        rms_norm_kernel<bf16, bf16>
            <<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(x, weight, dim, eps, out);
    }
    AUTOGLM_LAUNCH_CHECK();
}

void rope_kv_write(bf16* qkv, int64_t n, const int32_t* positions, const MropeParams& rope,
                   int64_t heads, int64_t kv_heads, int64_t head_dim, const int64_t* slots,
                   bf16* k_cache, bf16* v_cache, const Fp8Products& products, cudaStream_t stream) {
    CHECK(head_dim % 8 == 0) << "rope_kv_write of FP8 products needs head_dim % 8 == 0";
    if (n == 0) return;
    const int64_t width = (heads + 2 * kv_heads) * head_dim;
    const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>((width / 8 + 127) / 128));
    launch_pdl(rope_kv_write8_kernel, grid, dim3(128), 0, stream, qkv, positions, rope,
               static_cast<int>(heads), static_cast<int>(kv_heads), static_cast<int>(head_dim),
               slots, k_cache, v_cache, products);
    AUTOGLM_LAUNCH_CHECK();
}

void rope_kv_write(bf16* qkv, int64_t n, const int32_t* positions, const MropeParams& rope,
                   int64_t heads, int64_t kv_heads, int64_t head_dim, const int64_t* slots,
                   bf16* k_cache, bf16* v_cache, cudaStream_t stream) {
    if (head_dim % 8 == 0) {
        rope_kv_write(qkv, n, positions, rope, heads, kv_heads, head_dim, slots, k_cache, v_cache,
                      Fp8Products{}, stream);
        return;
    }
    if (n == 0) return;
    const dim3 grid(static_cast<unsigned>(n),
                    static_cast<unsigned>((heads + 2 * kv_heads + 3) / 4));
    launch_pdl(rope_kv_write_kernel, grid, dim3(128), 0, stream, qkv, positions, rope,
               static_cast<int>(heads), static_cast<int>(kv_heads), static_cast<int>(head_dim),
               slots, k_cache, v_cache);
    AUTOGLM_LAUNCH_CHECK();
}

void silu_mul_grouped4(const bf16* gate_up, int64_t rows, int64_t width, bf16* out,
                       cudaStream_t stream) {
    CHECK(width % 4 == 0) << "silu_mul_grouped4 needs width % 4 == 0, got " << width;
    const int64_t groups = rows * width / 4;
    if (groups == 0) return;
    silu_mul_grouped4_kernel<<<grid_for(groups, 256), 256, 0, stream>>>(gate_up, groups, out);
    AUTOGLM_LAUNCH_CHECK();
}

void silu_mul_grouped4_fp8(const bf16* gate_up, const Fp8Products& products, int64_t rows,
                           int64_t width, const Fp8Rows& out, cudaStream_t stream) {
    CHECK(width % 4 == 0 && width <= kSiluMulFp8MaxWidth)
        << "silu_mul_grouped4_fp8: width " << width;
    if (rows == 0) return;
    launch_pdl(silu_mul_grouped4_fp8_kernel, dim3(static_cast<unsigned>(rows)),
               dim3(kSiluQuantThreads), 0, stream, gate_up, products, static_cast<int>(width), out);
    AUTOGLM_LAUNCH_CHECK();
}

void silu_mul(const bf16* gate_up, int64_t rows, int64_t width, bf16* out, cudaStream_t stream) {
    if (rows == 0) return;
    if (width % 8 == 0) {
        const int64_t n = rows * width / 8;
        launch_pdl(silu_mul_vec_kernel, dim3(grid_for(n, 256)), dim3(256), 0, stream, gate_up, rows,
                   width, out);
    } else {
        silu_mul_kernel<<<grid_for(rows * width, 256), 256, 0, stream>>>(gate_up, rows, width, out);
    }
    AUTOGLM_LAUNCH_CHECK();
}

void f32_to_bf16(const float* in, int64_t n, bf16* out, cudaStream_t stream) {
    if (n == 0) return;
    f32_to_bf16_kernel<<<grid_for(n, 256), 256, 0, stream>>>(in, n, out);
    AUTOGLM_LAUNCH_CHECK();
}

void bf16_to_f32(const bf16* in, int64_t n, float* out, cudaStream_t stream) {
    if (n == 0) return;
    bf16_to_f32_kernel<<<grid_for(n, 256), 256, 0, stream>>>(in, n, out);
    AUTOGLM_LAUNCH_CHECK();
}

size_t argmax_scratch_bytes(int64_t rows) {
    return static_cast<size_t>(rows) * kArgmaxParts * (sizeof(float) + sizeof(int64_t));
}

void argmax_rows(const float* logits, int64_t rows, int64_t vocab, int32_t* ids, void* scratch,
                 cudaStream_t stream) {
    if (rows == 0) return;
    auto* part_i = static_cast<int64_t*>(scratch);
    auto* part_v = reinterpret_cast<float*>(part_i + rows * kArgmaxParts);
    launch_pdl(argmax_part_kernel, dim3(static_cast<unsigned>(rows), kArgmaxParts), dim3(256), 0,
               stream, logits, vocab, part_v, part_i);
    launch_pdl(argmax_final_kernel, dim3(static_cast<unsigned>(rows)), dim3(kArgmaxParts), 0,
               stream, static_cast<const float*>(part_v), static_cast<const int64_t*>(part_i), ids);
    AUTOGLM_LAUNCH_CHECK();
}

void fill_uniform(bf16* out, int64_t n, uint64_t seed, float offset, float scale,
                  cudaStream_t stream) {
    if (n == 0) return;
    fill_uniform_kernel<<<grid_for(n, 256), 256, 0, stream>>>(out, n, seed, offset, scale);
    AUTOGLM_LAUNCH_CHECK();
}

}  // namespace autoglm::cuda
