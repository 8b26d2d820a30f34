// Linear layers on the GPU: y[m, n] = x[m, k] . w[n, k]^T (+ bias[n]) (+ y when accumulating),
// bf16 operands, f32 accumulation. Small m (decode) runs a bandwidth-bound GEMV kernel; larger m
// runs cuBLASLt with the bias in its epilogue. One Gemm per stream (it owns a workspace).
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

namespace autoglm::cuda {

enum class OutType { kBf16, kF32 };

struct LinearArgs {
    const __nv_bfloat16* x = nullptr;  // [m, k]
    int64_t m = 0;
    const __nv_bfloat16* w = nullptr;  // [n, k]
    int64_t n = 0;
    int64_t k = 0;
    const __nv_bfloat16* bias = nullptr;  // [n] or null
    void* y = nullptr;                    // [m, n] of out_type
    OutType out_type = OutType::kBf16;
    bool accumulate = false;  // y += x . w^T (no bias allowed then)
};

// Largest m the GEMV path takes (above it: cuBLASLt).
constexpr int64_t kGemvMaxRows = 8;

// The GEMV kernel on its own (m <= kGemvMaxRows), for tests and benchmarks.
void gemv(const LinearArgs& a, cudaStream_t stream);

class Gemm {
  public:
    Gemm();
    ~Gemm();
    Gemm(const Gemm&) = delete;
    Gemm& operator=(const Gemm&) = delete;

    void linear(const LinearArgs& a, cudaStream_t stream);
    // cuBLASLt regardless of m (tests, benchmarks).
    void lt_linear(const LinearArgs& a, cudaStream_t stream);
    // GEMV for m <= this, cuBLASLt above (0 = cuBLASLt always).
    void set_gemv_max_rows(int64_t rows) { gemv_max_rows_ = rows; }

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
    std::map<std::tuple<int64_t, int64_t, int64_t, bool, int, bool>, Plan> plans_;
};

}  // namespace autoglm::cuda
