// Linear layers on the GPU: y[m, n] = x[m, k] . w[n, k]^T (+ bias[n]) (+ y when accumulating),
// bf16 operands (or FP8 e4m3 weights with a scale per output row), f32 accumulation. Small m
// (decode) runs a bandwidth-bound GEMV kernel; larger m runs cuBLASLt with the bias in its
// epilogue. One Gemm per stream (it owns a workspace).
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "kernels/cuda/ops.h"

namespace autoglm::cuda {

enum class OutType { kBf16, kF32 };

struct LinearArgs {
    const __nv_bfloat16* x = nullptr;  // [m, k]
    int64_t m = 0;
    const __nv_bfloat16* w = nullptr;  // [n, k], or null with FP8 weights:
    const uint8_t* w_fp8 = nullptr;    // [n, k] FP8 e4m3, row j standing for w_scale[j] * row
    const float* w_scale = nullptr;    // [n]
    int64_t n = 0;
    int64_t k = 0;
    const __nv_bfloat16* bias = nullptr;  // [n] or null
    void* y = nullptr;                    // [m, n] of out_type
    OutType out_type = OutType::kBf16;
    bool accumulate = false;  // y += x . w^T (no bias allowed then)
};

// FP8 e4m3 rows with a scale each (weights at load, activations per token before an FP8 GEMM):
// scale[r] = amax_r / 448 (1 for a row of zeros), q[r, c] = e4m3(x[r, c] * (448 / amax_r)),
// rounded to nearest even and saturated to ±448. cols % 8 == 0.
void quantize_rows_fp8(const __nv_bfloat16* x, int64_t rows, int64_t cols, uint8_t* q, float* scale,
                       cudaStream_t stream);

// After an FP8 GEMM that wrote the plain products' sums into a.y: a.y[i, j] *= x_scale[i] *
// a.w_scale[j], then + a.bias[j].
void scale_fp8_products(const LinearArgs& a, const float* x_scale, cudaStream_t stream);

// Largest m the GEMV path takes (above it: cuBLASLt).
constexpr int64_t kGemvMaxRows = 8;

// The GEMV kernel on its own (m <= kGemvMaxRows), for tests and benchmarks.
void gemv(const LinearArgs& a, cudaStream_t stream);

// Decode GEMVs with the next op in their epilogue (m <= kGemvMaxRows, bf16 out):
// gemv_silu_pairs: w's rows come in groups of 2 * kGemvSiluGroup, the group's gate rows then its
// up rows (gate row j of the MLP at 2g * G + j % G with g = j / G, G = kGemvSiluGroup, its up row
// G further), and y [m, n / 2] = silu(gate) * up — the silu_mul op without the [m, n] round trip.
constexpr int64_t kGemvSiluGroup = 4;
void gemv_silu_pairs(const LinearArgs& a, cudaStream_t stream);
// gemv_rope_kv: the fused qkv projection followed by rope_kv_write (same arguments), in one kernel.
void gemv_rope_kv(const LinearArgs& a, const int32_t* positions, const MropeParams& rope,
                  int64_t heads, int64_t kv_heads, int64_t head_dim, const int64_t* slots,
                  bf16* k_cache, bf16* v_cache, cudaStream_t stream);

// gemv_add_rms_norm: the o / down projection (bf16 out, no bias) followed by the add_rms_norm op
// on its rows, in one launch: residual[m, n] += w_branch * rmsnorm(y); then, when out is given,
// out[m, n] = w_out * rmsnorm(residual). y is the kernel's own scratch: it must hold the empty
// pattern before the first call (gemv_norm_rows_empty), and is left so after each call.
constexpr int64_t kGemvNormMaxDim = 4096;
struct NormTarget {
    float* residual = nullptr;
    const bf16* w_branch = nullptr;
    const bf16* w_out = nullptr;  // with out, or both null
    float eps = 0.0f;
    bf16* out = nullptr;
};
void gemv_add_rms_norm(const LinearArgs& a, const NormTarget& norm, cudaStream_t stream);
// Fills `count` bf16 of a gemv_add_rms_norm output with the empty pattern.
void gemv_norm_rows_empty(bf16* y, int64_t count, cudaStream_t stream);

// gemv_mlp_fp8: the decode MLP with FP8 weights in one launch, gemv_silu_pairs(gate_up) into
// gate_up.y then gemv_add_rms_norm(down, norm) on it, the same bits as the two launches: the down
// projection's blocks read each piece of gate_up.y as soon as the gate/up block writing it has
// stored it. gate_up.y (= down.x) is the launch's own, like down.y: both must hold the empty
// pattern before the first call (gemv_norm_rows_empty) and are left so after each call.
// norm.out must be another buffer than gate_up.x: the launch would rewrite its own input, whose
// lines its blocks may have left in L1.
bool gemv_mlp_fp8_supported(const LinearArgs& gate_up, const LinearArgs& down);
void gemv_mlp_fp8(const LinearArgs& gate_up, const LinearArgs& down, const NormTarget& norm,
                  cudaStream_t stream);

class Gemm {
  public:
    Gemm();
    ~Gemm();
    Gemm(const Gemm&) = delete;
    Gemm& operator=(const Gemm&) = delete;

    void linear(const LinearArgs& a, cudaStream_t stream);
    // Whether linear() takes the GEMV path for this shape.
    bool uses_gemv(int64_t m, int64_t k) const {
        return m >= 1 && m <= gemv_max_rows_ && k % 8 == 0;
    }
    // cuBLASLt regardless of m (tests, benchmarks). With FP8 weights x is first quantized per
    // row (quantize_rows_fp8), the GEMM runs on the FP8 tensor cores, and scale_fp8_products
    // applies both scales and the bias; the GEMV path keeps x in bf16 (weight-only FP8).
    void lt_linear(const LinearArgs& a, cudaStream_t stream);
    // Room for FP8 GEMMs' quantized activations, up to [rows, cols] (allocated here, so that
    // graph captures never allocate).
    void reserve_fp8(int64_t rows, int64_t cols);
    // The FP8 path with the passes folded into neighbours: a kernel before the GEMM writes its
    // input already quantized into fp8_input() (add_rms_norm_fp8, silu_mul_grouped4_fp8,
    // quantize_rows_fp8), fp8_products() runs the FP8 GEMM on it, and the kernel after applies
    // the scales (and a.bias) as it reads the products (Fp8Products in kernels/cuda/ops.h).
    Fp8Rows fp8_input() const { return {fp8_x_, fp8_scale_}; }
    // a.y[m, n] = the plain sums of fp8_input()[m, k] . a.w_fp8[n, k]^T (no scales, no bias;
    // a.x unused), bf16. The scales to apply after: products_of(a).
    void fp8_products(const LinearArgs& a, cudaStream_t stream);
    Fp8Products products_of(const LinearArgs& a) const { return {fp8_scale_, a.w_scale, a.bias}; }
    // GEMV for m <= this, cuBLASLt above (0 = cuBLASLt always).
    void set_gemv_max_rows(int64_t rows) { gemv_max_rows_ = rows; }
    // cuBLASLt's FP8 fast accumulation: the tensor cores' partial sums are not promoted to f32
    // every few k-steps (faster, less exact: their own accumulator keeps fewer bits). Set before
    // the first GEMM.
    void set_fp8_fast_accumulation(bool on);

  private:
    struct Plan {
        cublasLtMatmulDesc_t op = nullptr;
        cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
        cublasLtMatmulAlgo_t algo{};
    };
    Plan& plan_for(const LinearArgs& a);

    cublasLtHandle_t handle_ = nullptr;
    void* workspace_ = nullptr;
    size_t workspace_bytes_ = 0;
    int64_t gemv_max_rows_ = kGemvMaxRows;
    bool fp8_fast_accum_ = false;
    std::map<std::tuple<int64_t, int64_t, int64_t, bool, int, bool, bool>, Plan> plans_;
    uint8_t* fp8_x_ = nullptr;  // quantized activations [rows, cols] and their scales [rows]
    float* fp8_scale_ = nullptr;
    int64_t fp8_rows_ = 0, fp8_cols_ = 0;
};

}  // namespace autoglm::cuda
