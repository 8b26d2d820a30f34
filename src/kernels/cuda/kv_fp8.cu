// The FP8 KV pool's writer and page converter (--kv-cache-dtype fp8, kernels/kv_fp8.h).
#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/fp8.cuh"
#include "kernels/cuda/ops.h"
#include "kernels/kv_fp8.h"

namespace autoglm::cuda {
namespace {

constexpr int kQuantWarps = 4;  // (token, KV head) rows a block

// One warp a (token, KV head): lane c holds values [8c, 8c + 8) of its K row, then of its V row.
// Launched as a dependent (PDL): it waits for the kernel that staged the rows, then lets decode
// attention start requesting its older keys, which this pass does not write (decode waits for
// this pass to finish before it reads the step's own key).
__global__ void __launch_bounds__(kQuantWarps * 32)
    quantize_kv_kernel(const bf16* __restrict__ k, const bf16* __restrict__ v, int64_t n,
                       int kv_heads, int head_dim, const int64_t* __restrict__ slots,
                       KvFp8Layer pool) {
    pdl_wait();
    pdl_trigger();
    const int64_t pair = static_cast<int64_t>(blockIdx.x) * kQuantWarps + threadIdx.x / 32;
    if (pair >= n * kv_heads) return;
    const int64_t t = pair / kv_heads;
    const int h = static_cast<int>(pair % kv_heads), lane = threadIdx.x % 32;
    const int64_t slot = slots[t];
    if (slot < 0) return;
    const int64_t row = static_cast<int64_t>(kv_heads) * head_dim;
    const bool mine = lane * 8 < head_dim;
    for (int side = 0; side < 2; ++side) {
        const bf16* src = (side == 0 ? k : v) + t * row + h * head_dim + lane * 8;
        float f[8] = {};
        if (mine) unpack8(*reinterpret_cast<const Bf16x8*>(src), f);
        float amax = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) amax = fmaxf(amax, fabsf(f[e]));
        amax = warp_max(amax);
        const float scale = kv_fp8_scale(amax), inv = 1.0f / scale;  // exact: powers of two
        if (mine) {
            uint8_t* dst = (side == 0 ? pool.k : pool.v) + slot * row + h * head_dim + lane * 8;
            *reinterpret_cast<uint2*>(dst) = pack8_e4m3(f, inv);
        }
        if (lane == 0) (side == 0 ? pool.k_scale : pool.v_scale)[slot * kv_heads + h] = scale;
    }
}

// Block (page, side): every 8-byte run of the page's bytes to 8 bf16 times its head's scale.
__global__ void __launch_bounds__(256)
    dequantize_pages_kernel(KvFp8Layer pool, const int32_t* __restrict__ pages, int block_size,
                            int kv_heads, int head_dim, bf16* __restrict__ k_out,
                            bf16* __restrict__ v_out) {
    const int side = blockIdx.y;
    const int64_t src = pages[2 * blockIdx.x], dst = pages[2 * blockIdx.x + 1];
    const int64_t row = static_cast<int64_t>(kv_heads) * head_dim;
    const uint8_t* in = (side == 0 ? pool.k : pool.v) + src * block_size * row;
    const float* scales = (side == 0 ? pool.k_scale : pool.v_scale) + src * block_size * kv_heads;
    bf16* out = (side == 0 ? k_out : v_out) + dst * block_size * row;
    const int64_t runs = block_size * row / 8;
    for (int64_t i = threadIdx.x; i < runs; i += blockDim.x) {
        const int64_t r = i * 8 / row;
        const int h = static_cast<int>((i * 8 % row) / head_dim);
        const float scale = scales[r * kv_heads + h];
        *reinterpret_cast<uint4*>(out + i * 8) =
            e4m3x8_to_bf16x8(*reinterpret_cast<const uint2*>(in + i * 8), scale);
    }
}

}  // namespace

void quantize_kv_fp8(const bf16* k, const bf16* v, int64_t n, int64_t kv_heads, int64_t head_dim,
                     const int64_t* slots, const KvFp8Layer& pool, cudaStream_t stream) {
    if (n == 0) return;
    CHECK(head_dim % 8 == 0 && head_dim <= 256) << "FP8 KV: head_dim " << head_dim;
    const int64_t pairs = n * kv_heads;
    launch_pdl(quantize_kv_kernel, dim3(grid_for(pairs, kQuantWarps)), dim3(kQuantWarps * 32), 0,
               stream, k, v, n, static_cast<int>(kv_heads), static_cast<int>(head_dim), slots,
               pool);
    AUTOGLM_LAUNCH_CHECK();
}

void dequantize_kv_pages(const KvFp8Layer& pool, const int32_t* pages, int64_t num_pages,
                         int64_t block_size, int64_t kv_heads, int64_t head_dim, bf16* k_out,
                         bf16* v_out, cudaStream_t stream) {
    if (num_pages == 0) return;
    CHECK(head_dim % 8 == 0) << "FP8 KV: head_dim " << head_dim;
    dequantize_pages_kernel<<<dim3(static_cast<unsigned>(num_pages), 2), 256, 0, stream>>>(
        pool, pages, static_cast<int>(block_size), static_cast<int>(kv_heads),
        static_cast<int>(head_dim), k_out, v_out);
    AUTOGLM_LAUNCH_CHECK();
}

}  // namespace autoglm::cuda
