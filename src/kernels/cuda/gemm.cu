// Gemm: the GEMV kernel for decode-sized m and cuBLASLt (bias epilogue, f32 accumulate) above.
#include "kernels/cuda/gemm.h"

#include <algorithm>
#include <string>
#include <type_traits>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/fp8.cuh"
#include "kernels/cuda/gemv_epilogue.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/smem_opt_in.h"

#define CUBLAS_CHECK(expr)                                                              \
    do {                                                                                \
        const cublasStatus_t autoglm_cublas_status_ = (expr);                           \
        CHECK(autoglm_cublas_status_ == CUBLAS_STATUS_SUCCESS)                          \
            << #expr << ": cuBLAS status " << static_cast<int>(autoglm_cublas_status_); \
    } while (0)

namespace autoglm::cuda {
namespace {

using gemv_detail::EpilogueArgs;
using gemv_detail::GemvEpilogue;
using gemv_detail::NoEpilogueArgs;
using gemv_detail::RopeKvTarget;
constexpr int kGemvThreads = gemv_detail::kThreads;

__device__ __forceinline__ float dot8(const uint4& a, const uint4& b) {
    const auto* ah = reinterpret_cast<const __nv_bfloat162*>(&a);
    const auto* bh = reinterpret_cast<const __nv_bfloat162*>(&b);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 x = __bfloat1622float2(ah[i]);
        const float2 y = __bfloat1622float2(bh[i]);
        s = fmaf(x.x, y.x, s);
        s = fmaf(x.y, y.y, s);
    }
    return s;
}

// The bf16-weight GEMV (FP8 weights: gemv_fp8.cu).
// A block owns kRows output columns; its 256 threads split k, each keeping kRows x kUnroll
// 16-byte weight loads in flight (the first ones before waiting for the kernel that writes x),
// dot them with the (L1-resident) rows of x, and the partial sums meet in shared memory.
// kStaged > 0 (rows of k <= kGemvThreads * kUnroll * 8, one round): the block owns kStaged more
// columns, whose weights are copied into shared memory before the wait, so that a one-wave grid
// has all of its weights requested before it waits.
template <int MR, int kRows, int kUnroll, GemvEpilogue kEpi, int kStaged>
__global__ void __launch_bounds__(kGemvThreads)
    gemv_kernel(const bf16* __restrict__ x, int m, const bf16* __restrict__ w, int64_t n, int64_t k,
                const bf16* __restrict__ bias, void* __restrict__ y, bool f32_out, bool accumulate,
                const EpilogueArgs<kEpi> rk) {
    if (gemv_detail::run_norm_block<kEpi>(m, n, y, rk)) return;
    constexpr int kCols = kRows + kStaged;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kCols;
    const int64_t chunks = k / 8;
    const uint4* wr[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
        wr[r] = reinterpret_cast<const uint4*>(w + min(col0 + r, n - 1) * k);
    float acc[kCols][MR];
#pragma unroll
    for (int r = 0; r < kCols; ++r)
#pragma unroll
        for (int i = 0; i < MR; ++i) acc[r][i] = 0.0f;
    uint4 wv[kUnroll][kRows];
    auto load = [&](int64_t c0) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t c = c0 + u * kGemvThreads;
#pragma unroll
            for (int r = 0; r < kRows; ++r)
                wv[u][r] = c < chunks ? __ldcs(wr[r] + c) : make_uint4(0, 0, 0, 0);
        }
    };
    load(tid);
    // Staged columns: each thread copies the chunks it will read itself, [u][s][thread].
    extern __shared__ uint4 gemv_stage[];
    if constexpr (kStaged > 0) {
#pragma unroll
        for (int s = 0; s < kStaged; ++s) {
            const uint4* ws = reinterpret_cast<const uint4*>(w + min(col0 + kRows + s, n - 1) * k);
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int64_t c = tid + u * kGemvThreads;
                cp_async16(&gemv_stage[(u * kStaged + s) * kGemvThreads + tid],
                           ws + min(c, chunks - 1), c < chunks);
            }
        }
        cp_async_commit();
    }
    pdl_trigger();
    pdl_wait();
    if constexpr (kStaged > 0) cp_async_wait<0>();
    for (int64_t c0 = tid; c0 < chunks; c0 += kGemvThreads * kUnroll) {
        if (c0 != tid) load(c0);
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t c = c0 + u * kGemvThreads;
            if (c >= chunks) break;
#pragma unroll
            for (int i = 0; i < MR; ++i) {
                if (i >= m) break;
                // Not __ldg: x is the previous kernel's output (see stage_x in gemv_fp8.cu).
                const uint4 xv = __ldca(reinterpret_cast<const uint4*>(x + i * k) + c);
#pragma unroll
                for (int r = 0; r < kRows; ++r) acc[r][i] += dot8(wv[u][r], xv);
#pragma unroll
                for (int s = 0; s < kStaged; ++s)
                    acc[kRows + s][i] +=
                        dot8(gemv_stage[(u * kStaged + s) * kGemvThreads + tid], xv);
            }
        }
    }
    __shared__ float partial[gemv_detail::kWarps][kCols][MR];
#pragma unroll
    for (int r = 0; r < kCols; ++r)
#pragma unroll
        for (int i = 0; i < MR; ++i) {
            const float v = warp_sum(acc[r][i]);
            if (lane == 0) partial[warp][r][i] = v;
        }
    __syncthreads();
    gemv_detail::finish<MR, kRows, kStaged, kEpi>(
        partial, col0, m, n, y, f32_out, accumulate, rk,
        gemv_detail::load_col_consts<MR, kCols>(col0, n, nullptr, bias));
}

template <int kUnroll, int kStaged>
constexpr size_t gemv_stage_bytes() {
    return size_t{kUnroll} * kStaged * kGemvThreads * sizeof(uint4);
}

// The shared memory limit of a variant with staged columns, raised on each device it runs on.
template <int MR, int kRows, int kUnroll, GemvEpilogue kEpi, int kStaged>
cudaError_t gemv_staged_opt_in() {
    static SmemOptIn opt_in;
    return opt_in.ensure(gemv_kernel<MR, kRows, kUnroll, kEpi, kStaged>,
                         static_cast<int>(gemv_stage_bytes<kUnroll, kStaged>()));
}

// Whether a variant with staged columns fits two blocks on an SM (sm_89's 100 KiB of shared
// memory holds one; the plain variant runs there). Asked once per process (its GPUs are alike).
template <int MR, int kRows, int kUnroll, GemvEpilogue kEpi, int kStaged>
bool gemv_staged_fits() {
    static const bool fits = [] {
        auto* kernel = gemv_kernel<MR, kRows, kUnroll, kEpi, kStaged>;
        const auto bytes = static_cast<int>(gemv_stage_bytes<kUnroll, kStaged>());
        if (gemv_staged_opt_in<MR, kRows, kUnroll, kEpi, kStaged>() != cudaSuccess) {
            (void)cudaGetLastError();
            return false;
        }
        int blocks = 0;
        CUDA_CHECK(
            cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kGemvThreads, bytes));
        return blocks >= 2;
    }();
    return fits;
}

template <int MR, int kRows, int kUnroll, GemvEpilogue kEpi, int kStaged = 0>
void launch_gemv_variant(const LinearArgs& a, const EpilogueArgs<kEpi>& rk, cudaStream_t stream) {
    constexpr int kCols = kRows + kStaged;
    const auto blocks = static_cast<unsigned>((a.n + kCols - 1) / kCols) +
                        (kEpi == GemvEpilogue::kNorm ? static_cast<unsigned>(a.m) : 0u);
    if constexpr (kStaged > 0) {
        CHECK(a.k / 8 <= int64_t{kGemvThreads} * kUnroll &&
              (gemv_staged_fits<MR, kRows, kUnroll, kEpi, kStaged>()))
            << "staged gemv: k " << a.k << " too long or no room for two blocks an SM";
        CUDA_CHECK((gemv_staged_opt_in<MR, kRows, kUnroll, kEpi, kStaged>()));
    }
    launch_pdl(gemv_kernel<MR, kRows, kUnroll, kEpi, kStaged>, dim3(blocks), dim3(kGemvThreads),
               gemv_stage_bytes<kUnroll, kStaged>(), stream, a.x, static_cast<int>(a.m), a.w, a.n,
               a.k, a.bias, a.y, a.out_type == OutType::kF32, a.accumulate, rk);
}

// Rows of up to 4096 (two pieces per thread): 8 columns per block so that every thread has 16
// loads in flight; longer rows: 4 columns, 4 pieces each per round (measured best of 2/4/8 on
// the H200, docs/PERFORMANCE.md) — except SwiGLU, whose blocks need 8 columns (4 gate, 4 up).
// The one-token qkv GEMV stages 10 more columns a block in shared memory: its 4,608 columns then
// take 256 blocks, one wave of two an SM on 132 SMs, and all of its weights are requested before
// its wait (measured faster than 8 staged or none at batch 1; not measured above it).
// Every variant sums each column in the same order, so the choice does not change a bit.
constexpr int kGemvStagedCols = 10;

template <int MR, GemvEpilogue kEpi>
void launch_gemv(const LinearArgs& a, const EpilogueArgs<kEpi>& rk, cudaStream_t stream) {
    const bool short_rows = a.k / 8 <= int64_t{kGemvThreads} * 2;
    if constexpr (kEpi == GemvEpilogue::kSiluPair) {
        launch_gemv_variant<MR, 2 * kGemvSiluGroup, 2, kEpi>(a, rk, stream);
    } else {
        if constexpr (kEpi == GemvEpilogue::kRopeKv && MR == 1) {
            if (short_rows && gemv_staged_fits<MR, 8, 2, kEpi, kGemvStagedCols>()) {
                launch_gemv_variant<MR, 8, 2, kEpi, kGemvStagedCols>(a, rk, stream);
                return;
            }
        }
        if (short_rows)
            launch_gemv_variant<MR, 8, 2, kEpi>(a, rk, stream);
        else
            launch_gemv_variant<MR, 4, 4, kEpi>(a, rk, stream);
    }
}

template <GemvEpilogue kEpi>
void dispatch_gemv(const LinearArgs& a, const EpilogueArgs<kEpi>& rk, cudaStream_t stream) {
    CHECK(a.m >= 1 && a.m <= kGemvMaxRows) << "gemv takes 1.." << kGemvMaxRows << " rows";
    CHECK(!a.w != !a.w_fp8) << "gemv: give bf16 or FP8 weights";
    CHECK(!a.w_fp8 || a.w_scale) << "gemv: FP8 weights without their scales";
    const int64_t per_load = a.w_fp8 ? 16 : 8;
    CHECK(a.k % per_load == 0) << "gemv needs k % " << per_load << " == 0, got " << a.k;
    if (a.w_fp8)
        gemv_detail::launch_fp8<kEpi>(a, rk, stream);
    else
        gemv_detail::with_rows(
            a.m, [&](auto mr) { launch_gemv<decltype(mr)::value, kEpi>(a, rk, stream); });
}

// One block a row: its absolute maximum, then the row scaled into e4m3 (16-byte loads).
constexpr int kQuantThreads = 256;
__global__ void __launch_bounds__(kQuantThreads)
    quantize_rows_fp8_kernel(const bf16* __restrict__ x, int64_t cols, uint8_t* __restrict__ q,
                             float* __restrict__ scale) {
    __shared__ float scratch[32];
    const int64_t row = blockIdx.x;
    const uint4* in = reinterpret_cast<const uint4*>(x + row * cols);
    const int64_t chunks = cols / 8;
    pdl_trigger();
    pdl_wait();
    float amax = 0.0f;
    for (int64_t c = threadIdx.x; c < chunks; c += kQuantThreads) {
        const uint4 v = in[c];
        const auto* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const float2 f = __bfloat1622float2(h[i]);
            amax = fmaxf(amax, fmaxf(fabsf(f.x), fabsf(f.y)));
        }
    }
    amax = block_max(amax, scratch);
    const float inv = fp8_row_inv_scale(amax);
    if (threadIdx.x == 0) scale[row] = fp8_row_scale(amax);
    auto* out = reinterpret_cast<uint2*>(q + row * cols);
    for (int64_t c = threadIdx.x; c < chunks; c += kQuantThreads) {
        float f[8];
        unpack8(*reinterpret_cast<const Bf16x8*>(in + c), f);
        out[c] = pack8_e4m3(f, inv);
    }
}

// y[i, j] = y[i, j] * x_scale[i] * w_scale[j] (+ bias[j]), bf16 or f32, in place; 8 a thread.
template <typename T>
__global__ void scale_fp8_products_kernel(T* __restrict__ y, int64_t m, int64_t n,
                                          const float* __restrict__ x_scale,
                                          const float* __restrict__ w_scale,
                                          const bf16* __restrict__ bias) {
    const int64_t groups = n / 8;
    const int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    pdl_trigger();
    pdl_wait();
    if (g >= m * groups) return;
    const int64_t i = g / groups, j0 = (g % groups) * 8;
    T* row = y + i * n + j0;
    if constexpr (std::is_same_v<T, bf16>) {  // 16-byte accesses (n % 8 == 0, aligned rows)
        float v[8];
        unpack8(*reinterpret_cast<const Bf16x8*>(row), v);
        apply_fp8_products(Fp8Products{x_scale, w_scale, bias}, i, j0, v);
        *reinterpret_cast<Bf16x8*>(row) = pack8(v);
    } else {
        const float sx = x_scale[i];
#pragma unroll
        for (int c = 0; c < 8; ++c)
            row[c] = row[c] * sx * w_scale[j0 + c] + (bias ? __bfloat162float(bias[j0 + c]) : 0.0f);
    }
}

cudaDataType_t cuda_type(OutType t) {
    return t == OutType::kF32 ? CUDA_R_32F : CUDA_R_16BF;
}

}  // namespace

void quantize_rows_fp8(const bf16* x, int64_t rows, int64_t cols, uint8_t* q, float* scale,
                       cudaStream_t stream) {
    CHECK(cols % 8 == 0) << "quantize_rows_fp8 needs cols % 8 == 0, got " << cols;
    if (rows == 0) return;
    launch_pdl(quantize_rows_fp8_kernel, dim3(static_cast<unsigned>(rows)), dim3(kQuantThreads), 0,
               stream, x, cols, q, scale);
}

void scale_fp8_products(const LinearArgs& a, const float* x_scale, cudaStream_t stream) {
    CHECK(a.n % 8 == 0) << "FP8 GEMM needs n % 8 == 0, got " << a.n;
    const int64_t threads = a.m * (a.n / 8);
    const auto blocks = static_cast<unsigned>((threads + 255) / 256);
    if (a.out_type == OutType::kF32)
        launch_pdl(scale_fp8_products_kernel<float>, dim3(blocks), dim3(256), 0, stream,
                   static_cast<float*>(a.y), a.m, a.n, x_scale, a.w_scale, a.bias);
    else
        launch_pdl(scale_fp8_products_kernel<bf16>, dim3(blocks), dim3(256), 0, stream,
                   static_cast<bf16*>(a.y), a.m, a.n, x_scale, a.w_scale, a.bias);
}

void gemv(const LinearArgs& a, cudaStream_t stream) {
    dispatch_gemv<GemvEpilogue::kStore>(a, NoEpilogueArgs{}, stream);
}

void gemv_silu_pairs(const LinearArgs& a, cudaStream_t stream) {
    CHECK(a.n % (2 * kGemvSiluGroup) == 0)
        << "gemv_silu_pairs needs n % " << 2 * kGemvSiluGroup << " == 0, got " << a.n;
    CHECK(a.out_type == OutType::kBf16 && !a.accumulate) << "gemv_silu_pairs writes bf16";
    dispatch_gemv<GemvEpilogue::kSiluPair>(a, NoEpilogueArgs{}, stream);
}

void gemv_rope_kv(const LinearArgs& a, const int32_t* positions, const MropeParams& rope,
                  int64_t heads, int64_t kv_heads, int64_t head_dim, const int64_t* slots,
                  bf16* k_cache, bf16* v_cache, cudaStream_t stream) {
    CHECK(a.n == (heads + 2 * kv_heads) * head_dim) << "gemv_rope_kv: n is not the qkv width";
    CHECK(head_dim % 2 == 0 && a.out_type == OutType::kBf16 && !a.accumulate)
        << "gemv_rope_kv writes bf16 pairs";
    RopeKvTarget rk;
    rk.positions = positions, rk.rope = rope, rk.heads = static_cast<int>(heads);
    rk.kv_heads = static_cast<int>(kv_heads), rk.head_dim = static_cast<int>(head_dim);
    rk.slots = slots, rk.k_cache = k_cache, rk.v_cache = v_cache;
    dispatch_gemv<GemvEpilogue::kRopeKv>(a, rk, stream);
}

void gemv_add_rms_norm(const LinearArgs& a, const NormTarget& norm, cudaStream_t stream) {
    CHECK(a.out_type == OutType::kBf16 && !a.accumulate && !a.bias)
        << "gemv_add_rms_norm writes bf16 without bias";
    CHECK(a.n % 8 == 0 && a.n <= kGemvNormMaxDim)
        << "gemv_add_rms_norm: rows of " << a.n << " do not fit one block's norm";
    CHECK(norm.residual && norm.w_branch) << "gemv_add_rms_norm: no residual or branch weight";
    CHECK(!norm.out == !norm.w_out) << "gemv_add_rms_norm: out and w_out go together";
    static_assert(kGemvNormMaxDim == 2 * 8 * kGemvThreads, "two pieces of 8 a thread");
    dispatch_gemv<GemvEpilogue::kNorm>(a, norm, stream);
}

bool gemv_mlp_fp8_supported(const LinearArgs& gate_up, const LinearArgs& down) {
    return gate_up.w_fp8 && down.w_fp8 && gate_up.m >= 1 && gate_up.m <= kGemvMaxRows &&
           down.m == gate_up.m && gate_up.n % (2 * kGemvSiluGroup) == 0 &&
           down.k == gate_up.n / 2 && down.n == gate_up.k && gate_up.k % 16 == 0 &&
           down.k % 16 == 0 && down.n % 8 == 0 && down.n <= kGemvNormMaxDim;
}

void gemv_mlp_fp8(const LinearArgs& gate_up, const LinearArgs& down, const NormTarget& norm,
                  cudaStream_t stream) {
    CHECK(gemv_mlp_fp8_supported(gate_up, down))
        << "gemv_mlp_fp8: FP8 gate/up [" << gate_up.n << ", " << gate_up.k << "] and down ["
        << down.n << ", " << down.k << "] for " << gate_up.m << " rows do not chain";
    CHECK(down.x == gate_up.y && gate_up.w_scale && down.w_scale && !gate_up.bias && !down.bias &&
          gate_up.out_type == OutType::kBf16 && down.out_type == OutType::kBf16 &&
          !gate_up.accumulate && !down.accumulate)
        << "gemv_mlp_fp8: down reads what gate/up writes, bf16 without bias";
    CHECK(norm.residual && norm.w_branch && !norm.out == !norm.w_out)
        << "gemv_mlp_fp8: no residual or branch weight";
    CHECK(norm.out != gate_up.x) << "gemv_mlp_fp8: the norm cannot write the launch's own input";
    gemv_detail::launch_mlp_fp8(gate_up, down, norm, stream);
}

void gemv_norm_rows_empty(bf16* y, int64_t count, cudaStream_t stream) {
    CUDA_CHECK(cudaMemsetAsync(y, 0xff, static_cast<size_t>(count) * sizeof(bf16), stream));
}

Gemm::Gemm() {
    CUBLAS_CHECK(cublasLtCreate(&handle_));
    workspace_bytes_ = size_t{32} << 20;
    CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

Gemm::~Gemm() {
    for (auto& [key, p] : plans_) {
        cublasLtMatrixLayoutDestroy(p.a);
        cublasLtMatrixLayoutDestroy(p.b);
        cublasLtMatrixLayoutDestroy(p.c);
        cublasLtMatmulDescDestroy(p.op);
    }
    if (workspace_) cudaFree(workspace_);
    if (fp8_x_) cudaFree(fp8_x_);
    if (fp8_scale_) cudaFree(fp8_scale_);
    if (handle_) cublasLtDestroy(handle_);
}

void Gemm::reserve_fp8(int64_t rows, int64_t cols) {
    if (rows <= fp8_rows_ && cols <= fp8_cols_) return;
    rows = std::max(rows, fp8_rows_), cols = std::max(cols, fp8_cols_);
    if (fp8_x_) CUDA_CHECK(cudaFree(fp8_x_));
    if (fp8_scale_) CUDA_CHECK(cudaFree(fp8_scale_));
    CUDA_CHECK(cudaMalloc(&fp8_x_, static_cast<size_t>(rows * cols)));
    CUDA_CHECK(cudaMalloc(&fp8_scale_, static_cast<size_t>(rows) * sizeof(float)));
    fp8_rows_ = rows, fp8_cols_ = cols;
}

void Gemm::set_fp8_fast_accumulation(bool on) {
    CHECK(plans_.empty()) << "set_fp8_fast_accumulation: set before the first GEMM";
    fp8_fast_accum_ = on;
}

Gemm::Plan& Gemm::plan_for(const LinearArgs& a) {
    const bool fp8 = a.w_fp8 != nullptr;
    const auto key = std::make_tuple(a.m, a.n, a.k, a.bias != nullptr, static_cast<int>(a.out_type),
                                     a.accumulate, fp8);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    Plan p;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    if (fp8 && fp8_fast_accum_) {
        const int8_t on = 1;
        CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &on, sizeof(on)));
    }
    if (a.bias && !fp8) {
        const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
        const cudaDataType_t bt = CUDA_R_16BF;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt,
                                                    sizeof(bt)));
    }
    // Column-major view: W is k x n (transposed to n x k), x is k x m, y is n x m.
    const cudaDataType_t in_type = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, in_type, static_cast<uint64_t>(a.k),
                                            static_cast<uint64_t>(a.n), a.k));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, in_type, static_cast<uint64_t>(a.k),
                                            static_cast<uint64_t>(a.m), a.k));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, cuda_type(a.out_type), static_cast<uint64_t>(a.n),
                                            static_cast<uint64_t>(a.m), a.n));
    cublasLtMatmulPreference_t pref = nullptr;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref,
                                                      CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace_bytes_, sizeof(workspace_bytes_)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_, p.op, p.a, p.b, p.c, p.c, pref, 1, &result,
                                                &found));
    cublasLtMatmulPreferenceDestroy(pref);
    CHECK(found > 0) << "cuBLASLt has no " << (fp8 ? "FP8 " : "") << "algorithm for m=" << a.m
                     << " n=" << a.n << " k=" << a.k;
    p.algo = result.algo;
    return plans_.emplace(key, p).first->second;
}

void Gemm::lt_linear(const LinearArgs& a, cudaStream_t stream) {
    CHECK(!(a.accumulate && a.bias)) << "accumulate with a bias is not supported";
    Plan& p = plan_for(a);
    if (a.bias && !a.w_fp8)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                    &a.bias, sizeof(a.bias)));
    const float alpha = 1.0f, beta = a.accumulate ? 1.0f : 0.0f;
    const void* w = a.w;
    const void* x = a.x;
    if (a.w_fp8) {
        CHECK(a.w_scale && !a.accumulate) << "FP8 GEMM: scales needed, no accumulation";
        CHECK(a.m <= fp8_rows_ && a.k <= fp8_cols_)
            << "FP8 GEMM of [" << a.m << ", " << a.k << "] beyond reserve_fp8(" << fp8_rows_ << ", "
            << fp8_cols_ << ")";
        quantize_rows_fp8(a.x, a.m, a.k, fp8_x_, fp8_scale_, stream);
        w = a.w_fp8, x = fp8_x_;
    }
    CUBLAS_CHECK(cublasLtMatmul(handle_, p.op, &alpha, w, p.a, x, p.b, &beta, a.y, p.c, a.y, p.c,
                                &p.algo, workspace_, workspace_bytes_, stream));
    // cuBLASLt on Hopper scales FP8 operands by one number each, not a vector: the products'
    // sums get both scales (and the bias) in a pass of their own.
    if (a.w_fp8) scale_fp8_products(a, fp8_scale_, stream);
}

void Gemm::fp8_products(const LinearArgs& a, cudaStream_t stream) {
    CHECK(a.w_fp8 && a.w_scale && !a.accumulate && a.out_type == OutType::kBf16)
        << "fp8_products: FP8 weights, bf16 products, no accumulation";
    CHECK(a.m <= fp8_rows_ && a.k <= fp8_cols_)
        << "FP8 GEMM of [" << a.m << ", " << a.k << "] beyond reserve_fp8(" << fp8_rows_ << ", "
        << fp8_cols_ << ")";
    if (a.m == 0) return;
    Plan& p = plan_for(a);
    const float alpha = 1.0f, beta = 0.0f;
    CUBLAS_CHECK(cublasLtMatmul(handle_, p.op, &alpha, a.w_fp8, p.a, fp8_x_, p.b, &beta, a.y, p.c,
                                a.y, p.c, &p.algo, workspace_, workspace_bytes_, stream));
}

void Gemm::linear(const LinearArgs& a, cudaStream_t stream) {
    if (a.m == 0) return;
    if (uses_gemv(a.m, a.k))
        gemv(a, stream);
    else
        lt_linear(a, stream);
}

}  // namespace autoglm::cuda
