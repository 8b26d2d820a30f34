// Gemm: the GEMV kernel for decode-sized m and cuBLASLt (bias epilogue, f32 accumulate) above.
#include "kernels/cuda/gemm.h"

#include <string>
#include <type_traits>

#include "core/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/norm_pieces.cuh"
#include "kernels/cuda/rope_kv.cuh"

#define CUBLAS_CHECK(expr)                                                              \
    do {                                                                                \
        const cublasStatus_t autoglm_cublas_status_ = (expr);                           \
        CHECK(autoglm_cublas_status_ == CUBLAS_STATUS_SUCCESS)                          \
            << #expr << ": cuBLAS status " << static_cast<int>(autoglm_cublas_status_); \
    } while (0)

namespace autoglm::cuda {
namespace {

constexpr int kGemvThreads = 256;

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

// What the GEMV does with a finished output value (bias added).
enum class GemvEpilogue {
    kStore,     // y[i, col] (bf16 or f32, optionally accumulated)
    kSiluPair,  // columns come in groups of kRows: gate rows, then up rows (half each);
                // y[i, group * kRows / 2 + r] = silu(gate) * up, both rounded to bf16 first
    kRopeKv,    // fused qkv: M-RoPE on adjacent pairs of q and k, bf16 out, k and v also to the
                // paged pool (the rope_kv_write op, bit for bit)
    kNorm,      // bf16 out into rows that hold kEmpty until written; one extra block per row
                // waits for it to fill and runs add_rms_norm on it (then empties it again)
};

// A bf16 that no GEMV output takes (a NaN result is stored as the canonical 0x7fff instead).
constexpr uint16_t kEmpty = 0xffff;

struct NoEpilogueArgs {};

struct RopeKvTarget {
    const int32_t* positions = nullptr;  // [m, 3]
    MropeParams rope;
    int heads = 0, kv_heads = 0, head_dim = 0;
    const int64_t* slots = nullptr;  // [m], < 0: no write
    bf16* k_cache = nullptr;
    bf16* v_cache = nullptr;
};

__device__ __forceinline__ float round_bf16(float v) {
    return __bfloat162float(__float2bfloat16(v));
}

// A block owns kRows output columns; its 256 threads split k, each keeping kRows x kUnroll
// 16-byte weight loads in flight (the first ones before waiting for the kernel that writes x),
// dot them with the (L1-resident) rows of x, and the partial sums meet in shared memory.
// kStaged > 0 (rows of k <= kGemvThreads * kUnroll * 8, one round): the block owns kStaged more
// columns, whose weights are copied into shared memory before the wait, so that a one-wave grid
// has all of its weights requested before it waits.
// Only the fused kernels carry their epilogue's arguments (small parameter blocks launch faster).
template <GemvEpilogue kEpi>
using EpilogueArgs =
    std::conditional_t<kEpi == GemvEpilogue::kRopeKv, RopeKvTarget,
                       std::conditional_t<kEpi == GemvEpilogue::kNorm, NormTarget, NoEpilogueArgs>>;

__device__ __forceinline__ uint4 load_relaxed16(const void* p) {
    uint4 v;
    asm volatile("ld.relaxed.gpu.global.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

__device__ __forceinline__ bool has_empty(const uint4& v) {
    const unsigned w[4] = {v.x, v.y, v.z, v.w};
    bool e = false;
#pragma unroll
    for (int i = 0; i < 4; ++i) e |= (w[i] & 0xffffu) == kEmpty || (w[i] >> 16) == kEmpty;
    return e;
}

// kNorm's extra blocks, one per row of y: the sandwich-norm step (add_rms_norm) on the row as
// soon as every GEMV block has stored into it — no fence or counter in the GEMV blocks, each
// value is stored once and watched for. The row is emptied again for the next launch; the
// kernel's end publishes residual and out to the next kernel.
__device__ void norm_when_filled(const NormTarget& nt, bf16* row, int dim) {
    __shared__ float scratch[32];
    constexpr int kPieces = 2;  // dim <= kGemvNormMaxDim = 2 pieces x 8 x 256 threads
    NormPieces<kPieces> v;
    load_norm_pieces(v, nt.residual, nt.w_branch, nt.out ? nt.w_out : nullptr, dim);
    uint4 raw[kPieces];
#pragma unroll
    for (int p = 0; p < kPieces; ++p)
        if (norm_piece(p) < dim) raw[p] = load_relaxed16(row + norm_piece(p));
#pragma unroll
    for (int p = 0; p < kPieces; ++p) {
        const int c = norm_piece(p);
        if (c >= dim) continue;
        while (has_empty(raw[p])) raw[p] = load_relaxed16(row + c);
        unpack8(*reinterpret_cast<const Bf16x8*>(&raw[p]), v.b[p]);
        *reinterpret_cast<uint4*>(row + c) = make_uint4(~0u, ~0u, ~0u, ~0u);
    }
    finish_add_rms_norm(v, true, nt.residual, nt.out, dim, nt.eps, scratch);
}

template <int MR, int kRows, int kUnroll, GemvEpilogue kEpi, int kStaged>
__global__ void __launch_bounds__(kGemvThreads)
    gemv_kernel(const bf16* __restrict__ x, int m, const bf16* __restrict__ w, int64_t n, int64_t k,
                const bf16* __restrict__ bias, void* __restrict__ y, bool f32_out, bool accumulate,
                const EpilogueArgs<kEpi> rk) {
    if constexpr (kEpi == GemvEpilogue::kNorm) {
        const int row = static_cast<int>(blockIdx.x) - (static_cast<int>(gridDim.x) - m);
        if (row >= 0) {  // the last m blocks: one norm each
            pdl_trigger();
            pdl_wait();
            NormTarget nt = rk;
            nt.residual += static_cast<int64_t>(row) * n;
            if (nt.out) nt.out += static_cast<int64_t>(row) * n;
            norm_when_filled(nt, static_cast<bf16*>(y) + static_cast<int64_t>(row) * n,
                             static_cast<int>(n));
            return;
        }
    }
    constexpr int kCols = kRows + kStaged;
    static_assert(kCols * MR <= kGemvThreads, "one epilogue thread per output");
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
                const uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + i * k) + c);
#pragma unroll
                for (int r = 0; r < kRows; ++r) acc[r][i] += dot8(wv[u][r], xv);
#pragma unroll
                for (int s = 0; s < kStaged; ++s)
                    acc[kRows + s][i] +=
                        dot8(gemv_stage[(u * kStaged + s) * kGemvThreads + tid], xv);
            }
        }
    }
    __shared__ float partial[kGemvThreads / 32][kCols][MR];
#pragma unroll
    for (int r = 0; r < kCols; ++r)
#pragma unroll
        for (int i = 0; i < MR; ++i) {
            const float v = warp_sum(acc[r][i]);
            if (lane == 0) partial[warp][r][i] = v;
        }
    __syncthreads();
    const int r = tid / MR, i = tid % MR;
    const int64_t col = col0 + r;
    float v = 0.0f;
    if (tid < kCols * MR) {
#pragma unroll
        for (int wi = 0; wi < kGemvThreads / 32; ++wi) v += partial[wi][r][i];
        if (bias && col < n) v += __bfloat162float(bias[col]);
    }
    if constexpr (kEpi == GemvEpilogue::kStore) {
        if (tid >= kCols * MR || i >= m || col >= n) return;
        if (f32_out) {
            float* out = static_cast<float*>(y) + i * n + col;
            *out = accumulate ? *out + v : v;
        } else {
            bf16* out = static_cast<bf16*>(y) + i * n + col;
            *out = __float2bfloat16(accumulate ? __bfloat162float(*out) + v : v);
        }
    } else if constexpr (kEpi == GemvEpilogue::kNorm) {
        if (tid >= kCols * MR || i >= m || col >= n) return;
        uint16_t out = __bfloat16_as_ushort(__float2bfloat16(v));
        if (out == kEmpty) out = 0x7fff;
        // A strong store: the norm block reads it while this kernel runs.
        asm volatile(
            "st.relaxed.gpu.global.b16 [%0], %1;\n" ::"l"(static_cast<bf16*>(y) + i * n + col),
            "h"(out)
            : "memory");
    } else {
        __shared__ float res[kCols][MR];
        if (tid < kCols * MR) res[r][i] = round_bf16(v);
        __syncthreads();
        if constexpr (kEpi == GemvEpilogue::kSiluPair) {
            static_assert(kRows == 2 * kGemvSiluGroup && kStaged == 0,
                          "a block holds one gate/up group");
            constexpr int kHalf = kRows / 2;
            if (tid >= kHalf * MR || i >= m) return;
            const int64_t half = n / 2, out_col = static_cast<int64_t>(blockIdx.x) * kHalf + r;
            if (out_col >= half) return;
            const float g = res[r][i], u = res[r + kHalf][i];
            static_cast<bf16*>(y)[i * half + out_col] =
                __float2bfloat16(u * (g / (1.0f + __expf(-g))));
        } else {
            if (tid >= kCols * MR || i >= m || col >= n) return;
            const int hd = rk.head_dim;
            const int h = static_cast<int>(col / hd), d = static_cast<int>(col % hd);
            float out = res[r][i];
            if (h < rk.heads + rk.kv_heads && d / 2 < rk.rope.num_pairs) {
                float s, c;
                mrope_sincos(rk.rope, rk.positions + 3 * i, d / 2, &s, &c);
                out = mrope_rotate(out, res[r ^ 1][i], d, s, c);
            }
            const bf16 ob = __float2bfloat16(out);
            static_cast<bf16*>(y)[i * n + col] = ob;
            if (h < rk.heads) return;
            const int64_t slot = rk.slots[i];
            if (slot < 0) return;
            kv_slot_head(rk.k_cache, rk.v_cache, slot, h, rk.heads, rk.kv_heads, hd)[d] = ob;
        }
    }
}

template <int kUnroll, int kStaged>
constexpr size_t gemv_stage_bytes() {
    return size_t{kUnroll} * kStaged * kGemvThreads * sizeof(uint4);
}

// Whether a variant with staged columns fits two blocks on an SM (sm_89's 100 KiB of shared
// memory holds one; the plain variant runs there). Asked once per process.
template <int MR, int kRows, int kUnroll, GemvEpilogue kEpi, int kStaged>
bool gemv_staged_fits() {
    static const bool fits = [] {
        auto* kernel = gemv_kernel<MR, kRows, kUnroll, kEpi, kStaged>;
        const auto bytes = static_cast<int>(gemv_stage_bytes<kUnroll, kStaged>());
        if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) !=
            cudaSuccess) {
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
    if constexpr (kStaged > 0)
        CHECK(a.k / 8 <= int64_t{kGemvThreads} * kUnroll &&
              (gemv_staged_fits<MR, kRows, kUnroll, kEpi, kStaged>()))
            << "staged gemv: k " << a.k << " too long or no room for two blocks an SM";
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
    CHECK(a.k % 8 == 0) << "gemv needs k % 8 == 0, got " << a.k;
    if (a.m == 1)
        launch_gemv<1, kEpi>(a, rk, stream);
    else if (a.m == 2)
        launch_gemv<2, kEpi>(a, rk, stream);
    else if (a.m <= 4)
        launch_gemv<4, kEpi>(a, rk, stream);
    else
        launch_gemv<8, kEpi>(a, rk, stream);
}

cudaDataType_t cuda_type(OutType t) {
    return t == OutType::kF32 ? CUDA_R_32F : CUDA_R_16BF;
}

}  // namespace

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
    if (handle_) cublasLtDestroy(handle_);
}

Gemm::Plan& Gemm::plan_for(const LinearArgs& a) {
    const auto key = std::make_tuple(a.m, a.n, a.k, a.bias != nullptr, static_cast<int>(a.out_type),
                                     a.accumulate);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    Plan p;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    if (a.bias) {
        const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
        const cudaDataType_t bt = CUDA_R_16BF;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt,
                                                    sizeof(bt)));
    }
    // Column-major view: W is k x n (transposed to n x k), x is k x m, y is n x m.
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, static_cast<uint64_t>(a.k),
                                            static_cast<uint64_t>(a.n), a.k));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, static_cast<uint64_t>(a.k),
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
    CHECK(found > 0) << "cuBLASLt has no algorithm for m=" << a.m << " n=" << a.n << " k=" << a.k;
    p.algo = result.algo;
    return plans_.emplace(key, p).first->second;
}

void Gemm::lt_linear(const LinearArgs& a, cudaStream_t stream) {
    CHECK(!(a.accumulate && a.bias)) << "accumulate with a bias is not supported";
    Plan& p = plan_for(a);
    if (a.bias)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                    &a.bias, sizeof(a.bias)));
    const float alpha = 1.0f, beta = a.accumulate ? 1.0f : 0.0f;
    CUBLAS_CHECK(cublasLtMatmul(handle_, p.op, &alpha, a.w, p.a, a.x, p.b, &beta, a.y, p.c, a.y,
                                p.c, &p.algo, workspace_, workspace_bytes_, stream));
}

void Gemm::linear(const LinearArgs& a, cudaStream_t stream) {
    if (a.m == 0) return;
    if (uses_gemv(a.m, a.k))
        gemv(a, stream);
    else
        lt_linear(a, stream);
}

}  // namespace autoglm::cuda
