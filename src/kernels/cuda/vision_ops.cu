// The vision tower's elementwise CUDA kernels: the 2-D rotary, patch rows cut from an image's
// bytes, the bicubic position-embedding resample, the merger's LayerNorm + GELU, and the FP8
// path's residual step (bf16 residual, products scaled on load, the normed row quantized).
#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/fp8.cuh"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/ops.h"

namespace autoglm::cuda {
namespace {

constexpr int kRowThreads = 256;

// One block per token. The angles of the token's 2-D position first (shared), then each thread
// rotates kVec adjacent pairs (i, i + d/2) of one q or k head: kVec = 8 loads and stores 16 bytes
// at a time (needs d % 32 == 0, so no vector straddles the row / column quarter), kVec = 1 any d.
// With FP8 products (kVec = 8 only), every value of the row gets its scales first, rounded to
// bf16 as the scale pass would store it, and the v heads are written back scaled.
template <int kVec>
__global__ void vision_rope_kernel(bf16* __restrict__ qkv, int heads, int head_dim,
                                   const int32_t* __restrict__ coords, float theta,
                                   Fp8Products pp) {
    extern __shared__ float angles[];  // [half] cos, then [half] sin
    const int64_t t = blockIdx.x;
    const int half = head_dim / 2, quarter = half / 2;
    bf16* row = qkv + t * 3 * heads * head_dim;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const int k = i < quarter ? i : i - quarter;
        const float inv_freq =
            1.0f / powf(theta, static_cast<float>(2 * k) / static_cast<float>(half));
        const float coord = static_cast<float>(coords[2 * t + (i < quarter ? 0 : 1)]);
        sincosf(coord * inv_freq, &angles[half + i], &angles[i]);
    }
    __syncthreads();
    const int units = half / kVec;
    // h < 2 * heads: q heads, then k; the v heads only with products to scale.
    const int count = (pp.x_scale ? 3 : 2) * heads * units;
    for (int idx = threadIdx.x; idx < count; idx += blockDim.x) {
        const int h = idx / units, i0 = idx % units * kVec;
        bf16* x = row + h * head_dim + i0;
        float a[kVec], b[kVec];
        if constexpr (kVec == 8) {
            unpack8(*reinterpret_cast<const Bf16x8*>(x), a);
            unpack8(*reinterpret_cast<const Bf16x8*>(x + half), b);
            if (pp.x_scale) {
                const int64_t col = h * head_dim + i0;
                apply_fp8_products(pp, t, col, a);
                apply_fp8_products(pp, t, col + half, b);
                round_to_bf16(a);
                round_to_bf16(b);
                if (h >= 2 * heads) {  // a v head: scaled, not rotated
                    *reinterpret_cast<Bf16x8*>(x) = pack8(a);
                    *reinterpret_cast<Bf16x8*>(x + half) = pack8(b);
                    continue;
                }
            }
        } else {
            a[0] = bf(x[0]), b[0] = bf(x[half]);
        }
        float ya[kVec], yb[kVec];
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
            const float c = angles[i0 + e], sn = angles[half + i0 + e];
            ya[e] = a[e] * c - b[e] * sn;
            yb[e] = b[e] * c + a[e] * sn;
        }
        if constexpr (kVec == 8) {
            *reinterpret_cast<Bf16x8*>(x) = pack8(ya);
            *reinterpret_cast<Bf16x8*>(x + half) = pack8(yb);
        } else {
            x[0] = __float2bfloat16(ya[0]), x[half] = __float2bfloat16(yb[0]);
        }
    }
}

__device__ __forceinline__ void cubic_weights(float t, float* w) {
    constexpr float A = -0.75f;
    auto near = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
    auto far = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
    w[0] = far(t + 1);
    w[1] = near(t);
    w[2] = near(1 - t);
    w[3] = far(2 - t);
}

// One thread per output value; consecutive threads take consecutive columns of a row.
__global__ void vision_patchify_kernel(const uint8_t* __restrict__ rgb, int width,
                                       const float* __restrict__ table, int grid_w, int patch,
                                       int merge, int temporal, int64_t total,
                                       bf16* __restrict__ out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= total) return;
    const int pp = patch * patch, patch_dim = 3 * temporal * pp;
    const int64_t row = i / patch_dim;
    const int col = static_cast<int>(i - row * patch_dim);
    const int c = col / (temporal * pp), k = col % pp;  // the frame (col / pp % temporal) repeats
    const int y = k / patch, x = k % patch;
    const int mm = merge * merge;
    const int64_t window = row / mm;
    const int d = static_cast<int>(row % mm);
    const int windows_w = grid_w / merge;
    const int64_t ph = window / windows_w * merge + d / merge;
    const int64_t pw = window % windows_w * merge + d % merge;
    const uint8_t v = rgb[((ph * patch + y) * width + pw * patch + x) * 3 + c];
    out[i] = __float2bfloat16(table[c * 256 + v]);
}

__global__ void vision_pos_embed_kernel(float* __restrict__ x, const bf16* __restrict__ table,
                                        int side, int64_t hidden,
                                        const int32_t* __restrict__ coords,
                                        const int32_t* __restrict__ grid_hw) {
    const int64_t t = blockIdx.x;
    const float ph = static_cast<float>(coords[2 * t]), pw = static_cast<float>(coords[2 * t + 1]);
    const float gh = static_cast<float>(grid_hw[2 * t]),
                gw = static_cast<float>(grid_hw[2 * t + 1]);
    const float u = (pw + 0.5f) / gw * static_cast<float>(side) - 0.5f;
    const float v = (ph + 0.5f) / gh * static_cast<float>(side) - 0.5f;
    const float fx = floorf(u), fy = floorf(v);
    float wx[4], wy[4];
    cubic_weights(u - fx, wx);
    cubic_weights(v - fy, wy);
    const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
    int rows[4][4];
    for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i) {
            const int yy = min(max(y0 - 1 + j, 0), side - 1);
            const int xx = min(max(x0 - 1 + i, 0), side - 1);
            rows[j][i] = yy * side + xx;
        }
    float* out = x + t * hidden;
    for (int64_t c = threadIdx.x; c < hidden; c += blockDim.x) {
        float acc = out[c];
        for (int j = 0; j < 4; ++j)
            for (int i = 0; i < 4; ++i) acc += wy[j] * wx[i] * bf(table[rows[j][i] * hidden + c]);
        out[c] = acc;
    }
}

__global__ void layer_norm_gelu_kernel(bf16* __restrict__ x, const bf16* __restrict__ gamma,
                                       const bf16* __restrict__ beta, int64_t dim, float eps) {
    __shared__ float scratch[32];
    bf16* row = x + blockIdx.x * dim;
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) sum += bf(row[j]);
    const float mean = block_sum(sum, scratch) / static_cast<float>(dim);
    float var = 0.0f;
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const float d = bf(row[j]) - mean;
        var += d * d;
    }
    const float inv = rsqrtf(block_sum(var, scratch) / static_cast<float>(dim) + eps);
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) {
        const float y = (bf(row[j]) - mean) * inv * bf(gamma[j]) + bf(beta[j]);
        row[j] = __float2bfloat16(0.5f * y * (1.0f + erff(y * 0.70710678118654752f)));
    }
}

// One block a row, 8 consecutive values a thread (dim % 8 == 0): the branch's products scaled
// and rounded to bf16 (as the scale pass stores them), added into the bf16 residual (rounded, as
// the bf16 path's GEMM adds into it), then the row's RMSNorm rounded to bf16 and either stored
// or quantized (its absolute maximum over the block, then 8 bytes a thread), so the codes equal
// rms_norm_bf16 + quantize_rows_fp8's.
__global__ void add_rms_norm_bf16_fp8_kernel(bf16* __restrict__ residual,
                                             const bf16* __restrict__ branch, Fp8Products bp,
                                             const bf16* __restrict__ w_out, int dim, float eps,
                                             Fp8Rows out, bf16* __restrict__ out_bf16) {
    __shared__ float scratch[32];
    const int64_t r = blockIdx.x;
    const int c = static_cast<int>(threadIdx.x) * 8;
    float x[8] = {}, w[8] = {};
    if (c < dim) {
        unpack8(*reinterpret_cast<const Bf16x8*>(residual + r * dim + c), x);
        unpack8(*reinterpret_cast<const Bf16x8*>(w_out + c), w);
        if (branch) {
            float b[8];
            unpack8(*reinterpret_cast<const Bf16x8*>(branch + r * dim + c), b);
            apply_fp8_products(bp, r, c, b);
            round_to_bf16(b);
#pragma unroll
            for (int e = 0; e < 8; ++e) x[e] += b[e];
            round_to_bf16(x);
            *reinterpret_cast<Bf16x8*>(residual + r * dim + c) = pack8(x);
        }
    }
    float ss = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) ss += x[e] * x[e];
    // block_sum synchronizes: every thread has read bp.x_scale[r] before out.scale[r] is written.
    const float inv = rsqrtf(block_sum(ss, scratch) / static_cast<float>(dim) + eps);
    float y[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) y[e] = w[e] * (x[e] * inv);
    if (!out.q) {
        if (c < dim) *reinterpret_cast<Bf16x8*>(out_bf16 + r * dim + c) = pack8(y);
        return;
    }
    round_to_bf16(y);
    float amax = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) amax = fmaxf(amax, fabsf(y[e]));
    amax = block_max(amax, scratch);
    if (threadIdx.x == 0) out.scale[r] = fp8_row_scale(amax);
    if (c < dim)
        *reinterpret_cast<uint2*>(out.q + r * dim + c) = pack8_e4m3(y, fp8_row_inv_scale(amax));
}

}  // namespace

void vision_rope(bf16* qkv, int64_t n, int64_t heads, int64_t head_dim, const int32_t* coords,
                 float theta, const Fp8Products& products, cudaStream_t stream) {
    if (n == 0) return;
    const auto smem = static_cast<size_t>(head_dim) * sizeof(float);
    if (head_dim % 32 == 0) {
        // 2 (or 3, scaling v too) * heads * (head_dim / 2) / 8 units of 8 pairs.
        const int64_t units = (products.x_scale ? 3 : 2) * heads * head_dim / 16;
        const auto threads = static_cast<unsigned>(std::min<int64_t>((units + 31) / 32 * 32, 512));
        vision_rope_kernel<8><<<static_cast<unsigned>(n), threads, smem, stream>>>(
            qkv, static_cast<int>(heads), static_cast<int>(head_dim), coords, theta, products);
    } else {
        if (products.x_scale) {  // the scale pass first, then the pair-by-pair rotation
            LinearArgs a;
            a.m = n, a.n = 3 * heads * head_dim, a.w_scale = products.w_scale;
            a.bias = products.bias, a.y = qkv;
            scale_fp8_products(a, products.x_scale, stream);
        }
        vision_rope_kernel<1><<<static_cast<unsigned>(n), 256, smem, stream>>>(
            qkv, static_cast<int>(heads), static_cast<int>(head_dim), coords, theta, Fp8Products{});
    }
    AUTOGLM_LAUNCH_CHECK();
}

void vision_rope(bf16* qkv, int64_t n, int64_t heads, int64_t head_dim, const int32_t* coords,
                 float theta, cudaStream_t stream) {
    vision_rope(qkv, n, heads, head_dim, coords, theta, Fp8Products{}, stream);
}

void add_rms_norm_bf16_fp8(bf16* residual, const bf16* branch, const Fp8Products& branch_products,
                           const bf16* w_out, int64_t rows, int64_t dim, float eps,
                           const Fp8Rows& out, bf16* out_bf16, cudaStream_t stream) {
    CHECK(dim % 8 == 0 && dim <= 8192)
        << "add_rms_norm_bf16_fp8 needs dim % 8 == 0 and dim <= 8192, got " << dim;
    CHECK((out.q != nullptr) != (out_bf16 != nullptr))
        << "add_rms_norm_bf16_fp8 writes FP8 rows or bf16 rows";
    if (rows == 0) return;
    const auto threads = static_cast<unsigned>((dim / 8 + 31) / 32 * 32);
    add_rms_norm_bf16_fp8_kernel<<<static_cast<unsigned>(rows), threads, 0, stream>>>(
        residual, branch, branch_products, w_out, static_cast<int>(dim), eps, out, out_bf16);
    AUTOGLM_LAUNCH_CHECK();
}

void vision_pos_embed(float* x, const bf16* table, int64_t side, int64_t hidden,
                      const int32_t* coords, const int32_t* grid_hw, int64_t n,
                      cudaStream_t stream) {
    if (n == 0) return;
    vision_pos_embed_kernel<<<static_cast<unsigned>(n), kRowThreads, 0, stream>>>(
        x, table, static_cast<int>(side), hidden, coords, grid_hw);
    AUTOGLM_LAUNCH_CHECK();
}

void vision_patchify(const uint8_t* rgb, int64_t height, int64_t width, const float* table,
                     int64_t patch, int64_t merge, int64_t temporal, bf16* out,
                     cudaStream_t stream) {
    const int64_t rows = (height / patch) * (width / patch);
    const int64_t total = rows * 3 * temporal * patch * patch;
    if (total == 0) return;
    vision_patchify_kernel<<<grid_for(total, 256), 256, 0, stream>>>(
        rgb, static_cast<int>(width), table, static_cast<int>(width / patch),
        static_cast<int>(patch), static_cast<int>(merge), static_cast<int>(temporal), total, out);
    AUTOGLM_LAUNCH_CHECK();
}

void layer_norm_gelu(bf16* x, const bf16* gamma, const bf16* beta, int64_t rows, int64_t dim,
                     float eps, cudaStream_t stream) {
    if (rows == 0) return;
    layer_norm_gelu_kernel<<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(x, gamma, beta,
                                                                                    dim, eps);
    AUTOGLM_LAUNCH_CHECK();
}

}  // namespace autoglm::cuda
