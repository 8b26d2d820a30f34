// The GPU's linear layers against their CPU twins: the GEMV and cuBLASLt paths in bf16 and with
// FP8 weights (the quantizer bit for bit), and the decode GEMVs with their fused epilogues (SwiGLU,
// the sandwich norm, M-RoPE + the paged KV write; the FP8 MLP in one launch) against the unfused
// ops (the FP8 prefill passes folded into their neighbours: cuda_fp8_passes_test.cpp). Skipped
// without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <tuple>
#include <vector>

#include "core/cuda_check.h"
#include "core/device_buffer.h"
#include "core/dtype.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda_test_util.h"
#include "kernels/ops.h"

namespace autoglm {
namespace {

using namespace cuda_test;
using cuda::bf16;

TEST(CudaOps, LinearGemvAndCublasLtMatchCpu) {
    REQUIRE_GPU();
    cuda::Gemm gemm;
    // Short rows (k <= 4096: 8 columns a block) and long ones (the MLP's down projection).
    for (auto [m, n, k] : {std::tuple{1, 96, 64},
                           {3, 1000, 4096},
                           {8, 257, 1176},
                           {5, 77, 320},
                           {1, 300, 13696},
                           {6, 129, 4104},
                           {37, 300, 128},
                           {256, 4608, 4096}}) {
        auto x = random_bf16_values(static_cast<size_t>(m * k), 10);
        auto w = random_bf16_values(static_cast<size_t>(n * k), 11, 0.05f);
        auto bias = random_bf16_values(static_cast<size_t>(n), 12);
        std::vector<float> want(static_cast<size_t>(m * n));
        const TensorView wv = f32_view(w, {n, k}), bv = f32_view(bias, {n});
        cpu::linear(x.data(), m, wv, &bv, want.data());
        DeviceBuffer dx = upload_bf16(x), dw = upload_bf16(w), db = upload_bf16(bias);
        for (int path = 0; path < 2; ++path) {
            if (path == 0 && m > cuda::kGemvMaxRows) continue;
            DeviceBuffer dy = poisoned(want.size() * 2);
            cuda::LinearArgs a;
            a.x = dx.as<bf16>(), a.m = m, a.w = dw.as<bf16>(), a.n = n, a.k = k;
            a.bias = db.as<bf16>(), a.y = dy.data();
            if (path == 0)
                cuda::gemv(a, nullptr);
            else
                gemm.lt_linear(a, nullptr);
            EXPECT_LE(rel_error(download_bf16(dy, want.size()), want), 8e-3)
                << (path ? "cublasLt" : "gemv") << " m=" << m << " n=" << n << " k=" << k;
        }
        // f32 output accumulated onto what is there (the vision residual adds).
        std::vector<float> base = random_bf16_values(want.size(), 13), want_acc(want.size());
        std::vector<float> plain(want.size());
        cpu::linear(x.data(), m, wv, nullptr, plain.data());
        for (size_t i = 0; i < want.size(); ++i) want_acc[i] = base[i] + plain[i];
        DeviceBuffer dy = upload(base);
        cuda::LinearArgs a;
        a.x = dx.as<bf16>(), a.m = m, a.w = dw.as<bf16>(), a.n = n, a.k = k, a.y = dy.data();
        a.out_type = cuda::OutType::kF32, a.accumulate = true;
        gemm.linear(a, nullptr);
        EXPECT_LE(rel_error(download_f32(dy, want.size()), want_acc), 1e-4)
            << "accumulate m=" << m << " n=" << n << " k=" << k;
    }
}

// The CPU twin of quantize_rows_fp8: codes and scales, and the rows they stand for.
struct CpuFp8Rows {
    std::vector<uint8_t> q;
    std::vector<float> scale, dequantized;
};
CpuFp8Rows quantize_rows_cpu(const std::vector<float>& x, int64_t rows, int64_t cols) {
    CpuFp8Rows r;
    r.q.resize(x.size()), r.dequantized.resize(x.size());
    for (int64_t i = 0; i < rows; ++i) {
        float amax = 0.0f;
        for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(x[i * cols + c]));
        const float inv = amax > 0.0f ? 448.0f / amax : 1.0f;
        r.scale.push_back(amax > 0.0f ? amax / 448.0f : 1.0f);
        for (int64_t c = 0; c < cols; ++c) {
            const auto at = static_cast<size_t>(i * cols + c);
            r.q[at] = f32_to_e4m3_sat(x[at] * inv);
            r.dequantized[at] = e4m3_to_f32(r.q[at]) * r.scale.back();
        }
    }
    return r;
}

TEST(CudaOps, Fp8QuantizeAndLinearMatchCpu) {
    REQUIRE_GPU();
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    if (prop.major * 10 + prop.minor < 89) GTEST_SKIP() << prop.name << " has no FP8 tensor cores";
    cuda::Gemm gemm, fast;  // fast: cuBLASLt's FP8 fast accumulation
    gemm.reserve_fp8(256, 13696);
    fast.set_fp8_fast_accumulation(true);
    fast.reserve_fp8(256, 13696);
    for (auto [m, n, k] : {std::tuple{1, 96, 64},
                           {3, 1008, 4096},
                           {8, 256, 1184},
                           {5, 80, 320},
                           {1, 304, 13696},
                           {6, 128, 4112},
                           {37, 304, 128},
                           {256, 4608, 4096}}) {
        auto x = random_bf16_values(static_cast<size_t>(m * k), 40, 2.0f);
        auto w = random_bf16_values(static_cast<size_t>(n * k), 41, 0.05f);
        std::fill(w.begin() + k, w.begin() + 2 * k, 0.0f);  // a row of zeros: scale 1
        auto bias = random_bf16_values(static_cast<size_t>(n), 42);
        const CpuFp8Rows wq = quantize_rows_cpu(w, n, k);
        DeviceBuffer dx = upload_bf16(x), dw = upload_bf16(w), db = upload_bf16(bias);
        DeviceBuffer dq = poisoned(wq.q.size()), ds = poisoned(wq.scale.size() * 4);
        cuda::quantize_rows_fp8(dw.as<bf16>(), n, k, dq.as<uint8_t>(), ds.as<float>(), nullptr);
        CUDA_CHECK(cudaDeviceSynchronize());
        std::vector<uint8_t> got_q(wq.q.size());
        std::vector<float> got_s(wq.scale.size());
        dq.copy_to_host(got_q.data(), got_q.size());
        ds.copy_to_host(got_s.data(), got_s.size() * 4);
        EXPECT_EQ(got_q, wq.q) << "codes, n=" << n << " k=" << k;
        EXPECT_EQ(got_s, wq.scale) << "scales, n=" << n << " k=" << k;
        const TensorView bv = f32_view(bias, {n});
        // GEMV: x stays bf16 against the dequantized weights.
        std::vector<float> want16(static_cast<size_t>(m * n));
        cpu::linear(x.data(), m, f32_view(wq.dequantized, {n, k}), &bv, want16.data());
        // cuBLASLt: x quantized per row as well.
        const CpuFp8Rows xq = quantize_rows_cpu(x, m, k);
        std::vector<float> want8(want16.size());
        cpu::linear(xq.dequantized.data(), m, f32_view(wq.dequantized, {n, k}), &bv, want8.data());
        for (int path = 0; path < 2; ++path) {
            if (path == 0 && m > cuda::kGemvMaxRows) continue;
            DeviceBuffer dy = poisoned(want16.size() * 2);
            cuda::LinearArgs a;
            a.x = dx.as<bf16>(), a.m = m, a.n = n, a.k = k;
            a.w_fp8 = dq.as<uint8_t>(), a.w_scale = ds.as<float>();
            a.bias = db.as<bf16>(), a.y = dy.data();
            if (path == 0)
                gemm.linear(a, nullptr);
            else
                gemm.lt_linear(a, nullptr);
            EXPECT_LE(rel_error(download_bf16(dy, want16.size()), path ? want8 : want16), 8e-3)
                << (path ? "cublasLt" : "gemv") << " m=" << m << " n=" << n << " k=" << k;
            if (path == 0) continue;
            // Fast accumulation keeps fewer bits in the tensor cores' partial sums: 2e-2.
            DeviceBuffer dyf = poisoned(want16.size() * 2);
            a.y = dyf.data();
            fast.lt_linear(a, nullptr);
            EXPECT_LE(rel_error(download_bf16(dyf, want16.size()), want8), 2e-2)
                << "cublasLt fast accumulation m=" << m << " n=" << n << " k=" << k;
        }
    }
}

// Weights quantized on the GPU (quantize_rows_fp8) for the FP8 GEMV.
struct Fp8Weights {
    DeviceBuffer q, scale;
    Fp8Weights(const DeviceBuffer& w, int64_t n, int64_t k)
        : q(static_cast<size_t>(n * k)), scale(static_cast<size_t>(n) * 4) {
        cuda::quantize_rows_fp8(w.as<bf16>(), n, k, q.as<uint8_t>(), scale.as<float>(), nullptr);
        // The GEMV reads weights before its wait for the previous kernel (weights are constant
        // in the model): they must be written before it launches.
        CUDA_CHECK(cudaDeviceSynchronize());
    }
    void set(cuda::LinearArgs& a) const {
        a.w = nullptr, a.w_fp8 = q.as<uint8_t>(), a.w_scale = scale.as<float>();
    }
};

// The FP8 GEMV takes x as bf16 whatever its range: each 64-element block of a row is scaled by
// a power of two into f16 for the tensor cores, so magnitudes beyond f16's 65,504 and far below
// its normal range keep their bits. Against the CPU (double sums) on the dequantized weights,
// f32 output accumulated onto half the expected sums: within 1e-4 of each row's largest output
// (f32 sums in another order; an unscaled f16 input gives inf, a scale applied to the wrong
// block or token errors of order 1). Each token has one magnitude across its row (so every
// block counts), 2 and 8 tokens at once; k = 1232 ends in a partial k-block, n = 40 in a
// partial block of columns.
TEST(CudaOps, Fp8GemvKeepsWideRangeInputs) {
    REQUIRE_GPU();
    if (!has_fp8_tensor_cores()) GTEST_SKIP() << "no FP8 tensor cores: " << cuda_device_summary();
    const int64_t n = 40, k = 1232;
    const float magnitude[8] = {3e5f, 1e-7f, 1.0f, 1e30f, 1e-35f, 7e4f, 2.0f, 0.01f};
    auto w = random_bf16_values(static_cast<size_t>(n * k), 81, 0.05f);
    DeviceBuffer dw = upload_bf16(w);
    const Fp8Weights w8(dw, n, k);
    std::vector<uint8_t> codes(static_cast<size_t>(n * k));
    std::vector<float> scales(static_cast<size_t>(n)), deq(codes.size());
    w8.q.copy_to_host(codes.data(), codes.size());
    w8.scale.copy_to_host(scales.data(), scales.size() * 4);
    for (size_t i = 0; i < codes.size(); ++i)
        deq[i] = e4m3_to_f32(codes[i]) * scales[i / static_cast<size_t>(k)];
    for (const int64_t m : {2, 8}) {
        auto x = random_bf16_values(static_cast<size_t>(m * k), 80);
        for (int64_t i = 0; i < m; ++i)
            for (int64_t c = 0; c < k; ++c) {
                float& v = x[static_cast<size_t>(i * k + c)];
                v = bf16_to_f32(f32_to_bf16(v * magnitude[(i + m) % 8]));
            }
        std::fill(x.begin() + 128, x.begin() + 256, 0.0f);  // two k-blocks of zeros
        std::vector<double> want(static_cast<size_t>(m * n));
        std::vector<float> base(want.size());
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double sum = 0;
                for (int64_t c = 0; c < k; ++c)
                    sum += static_cast<double>(x[i * k + c]) * deq[j * k + c];
                base[i * n + j] = static_cast<float>(sum / 2);
                want[i * n + j] = sum + base[i * n + j];
            }
        DeviceBuffer dx = upload_bf16(x), dy = upload(base);
        cuda::LinearArgs a;
        a.x = dx.as<bf16>(), a.m = m, a.n = n, a.k = k, a.y = dy.data();
        a.out_type = cuda::OutType::kF32, a.accumulate = true;
        w8.set(a);
        cuda::gemv(a, nullptr);
        const auto got = download_f32(dy, static_cast<size_t>(m * n));
        for (int64_t i = 0; i < m; ++i) {
            double worst = 0, top = 0;
            for (int64_t j = 0; j < n; ++j) {
                const float g = got[static_cast<size_t>(i * n + j)];
                const double t = want[static_cast<size_t>(i * n + j)];
                worst = std::isfinite(g) ? std::max(worst, std::fabs(g - t)) : INFINITY;
                top = std::max(top, std::fabs(t));
            }
            EXPECT_LE(worst, 1e-4 * top)
                << "m=" << m << " token " << i << " (largest output " << top << ")";
        }
    }
}

// A row's FP8 GEMV result does not depend on the rows beside it: m rows at once equal m
// one-row launches bit for bit (batched decode equals single); n = 40 ends in a partial block
// of columns, k = 1,232 in a partial k-block.
TEST(CudaOps, Fp8GemvRowsEqualSingleRows) {
    REQUIRE_GPU();
    if (!has_fp8_tensor_cores()) GTEST_SKIP() << "no FP8 tensor cores: " << cuda_device_summary();
    for (auto [m, n, k] :
         {std::tuple{2, 96, 4096}, {3, 304, 13696}, {8, 4608, 4096}, {2, 40, 1232}}) {
        auto x = random_bf16_values(static_cast<size_t>(m * k), 82, 3.0f);
        for (size_t e = 0; e < x.size(); ++e)  // row i times 16^i: scales of their own
            x[e] = std::ldexp(x[e], static_cast<int>(4 * (static_cast<int64_t>(e) / k)));
        auto w = random_bf16_values(static_cast<size_t>(n * k), 83, 0.05f);
        DeviceBuffer dx = upload_bf16(x), dw = upload_bf16(w);
        const Fp8Weights w8(dw, n, k);
        DeviceBuffer all = poisoned(static_cast<size_t>(m * n) * 2);
        cuda::LinearArgs a;
        a.x = dx.as<bf16>(), a.m = m, a.n = n, a.k = k, a.y = all.data();
        w8.set(a);
        cuda::gemv(a, nullptr);
        const auto together = download_bf16(all, static_cast<size_t>(m * n));
        for (int64_t i = 0; i < m; ++i) {
            DeviceBuffer one = poisoned(static_cast<size_t>(n) * 2);
            a.x = dx.as<bf16>() + i * k, a.m = 1, a.y = one.data();
            cuda::gemv(a, nullptr);
            const auto alone = download_bf16(one, static_cast<size_t>(n));
            EXPECT_TRUE(std::equal(alone.begin(), alone.end(), together.begin() + i * n))
                << "row " << i << " of m=" << m << " n=" << n << " k=" << k;
        }
    }
}

// The decode GEMVs with SwiGLU in their epilogue equal GEMV + silu_mul bit for bit (and the CPU
// twin within bf16 tolerance); the grouped-layout silu_mul does too.
TEST(CudaOps, GemvWithSiluEqualsGemvThenSiluMul) {
    REQUIRE_GPU();
    const int64_t G = cuda::kGemvSiluGroup;
    for (auto [m, inter, k] : {std::tuple{1, 13696, 4096}, {3, 100, 320}, {8, 36, 4104}}) {
        auto x = random_bf16_values(static_cast<size_t>(m * k), 50);
        auto w = random_bf16_values(static_cast<size_t>(2 * inter * k), 51, 0.05f);
        std::vector<float> grouped(w.size());  // gate row j -> 2G * (j / G) + j % G, up: + G
        for (int64_t j = 0; j < inter; ++j) {
            const int64_t row = 2 * G * (j / G) + j % G;
            std::copy_n(w.begin() + j * k, k, grouped.begin() + row * k);
            std::copy_n(w.begin() + (inter + j) * k, k, grouped.begin() + (row + G) * k);
        }
        std::vector<float> gu(static_cast<size_t>(m * 2 * inter)),
            want(static_cast<size_t>(m * inter));
        cpu::linear(x.data(), m, f32_view(w, {2 * inter, k}), nullptr, gu.data());
        cpu::silu_mul(gu.data(), m, inter, want.data());
        DeviceBuffer dx = upload_bf16(x), dw = upload_bf16(w), dg = upload_bf16(grouped);
        DeviceBuffer dgu = poisoned(gu.size() * 2), dref = poisoned(want.size() * 2);
        cuda::LinearArgs a;
        a.x = dx.as<bf16>(), a.m = m, a.w = dw.as<bf16>(), a.n = 2 * inter, a.k = k;
        a.y = dgu.data();
        cuda::gemv(a, nullptr);
        cuda::silu_mul(dgu.as<bf16>(), m, inter, dref.as<bf16>(), nullptr);
        const auto ref = download_bf16(dref, want.size());
        EXPECT_LE(rel_error(ref, want), 1e-2) << "m=" << m << " inter=" << inter;

        DeviceBuffer dfused = poisoned(want.size() * 2);
        a.w = dg.as<bf16>(), a.y = dfused.data();
        cuda::gemv_silu_pairs(a, nullptr);
        EXPECT_EQ(max_abs_diff(download_bf16(dfused, want.size()), ref), 0.0)
            << "fused m=" << m << " inter=" << inter << " k=" << k;

        DeviceBuffer dgu2 = poisoned(gu.size() * 2), dout2 = poisoned(want.size() * 2);
        a.y = dgu2.data();
        cuda::gemv(a, nullptr);
        cuda::silu_mul_grouped4(dgu2.as<bf16>(), m, inter, dout2.as<bf16>(), nullptr);
        EXPECT_EQ(max_abs_diff(download_bf16(dout2, want.size()), ref), 0.0)
            << "grouped silu_mul m=" << m << " inter=" << inter;

        // FP8 weights (rows quantized alike in either order): fused equals GEMV + silu_mul.
        if (k % 16 != 0 || !has_fp8_tensor_cores()) continue;
        const Fp8Weights w8(dw, 2 * inter, k), g8(dg, 2 * inter, k);
        DeviceBuffer dgu8 = poisoned(gu.size() * 2), dref8 = poisoned(want.size() * 2);
        w8.set(a);
        a.y = dgu8.data();
        cuda::gemv(a, nullptr);
        cuda::silu_mul(dgu8.as<bf16>(), m, inter, dref8.as<bf16>(), nullptr);
        const auto ref8 = download_bf16(dref8, want.size());
        EXPECT_LE(rel_error(ref8, want), 0.1) << "FP8 m=" << m << " inter=" << inter;
        DeviceBuffer dfused8 = poisoned(want.size() * 2);
        g8.set(a);
        a.y = dfused8.data();
        cuda::gemv_silu_pairs(a, nullptr);
        EXPECT_EQ(max_abs_diff(download_bf16(dfused8, want.size()), ref8), 0.0)
            << "FP8 fused m=" << m << " inter=" << inter << " k=" << k;
    }
}

// The o / down GEMV with the sandwich norm in an extra block equals GEMV + add_rms_norm (its
// sums are grouped differently: residual within 1e-6, normed rows within bf16 rounding), with
// and without the second norm, and gives the same bits launch after launch, its scratch rows
// left empty for the next.
TEST(CudaOps, GemvWithNormMatchesGemvThenAddRmsNorm) {
    REQUIRE_GPU();
    for (auto [m, n, k] : {std::tuple{1, 4096, 4096},
                           {1, 4096, 13696},
                           {3, 64, 320},
                           {8, 4096, 4104},
                           {5, 200, 1024}}) {
        const auto rows = static_cast<size_t>(m * n);
        auto x = random_bf16_values(static_cast<size_t>(m * k), 60);
        auto w = random_bf16_values(static_cast<size_t>(n * k), 61, 0.05f);
        auto residual = random_bf16_values(rows, 62, 3.0f);
        auto wb = random_bf16_values(static_cast<size_t>(n), 63);
        auto wo = random_bf16_values(static_cast<size_t>(n), 64);
        DeviceBuffer dx = upload_bf16(x), dw = upload_bf16(w), dwb = upload_bf16(wb),
                     dwo = upload_bf16(wo), scratch(rows * 2);
        cuda::gemv_norm_rows_empty(scratch.as<bf16>(), static_cast<int64_t>(rows), nullptr);
        std::optional<Fp8Weights> w8;
        if (k % 16 == 0 && has_fp8_tensor_cores()) w8.emplace(dw, n, k);
        for (const int variant : {0, 1, 2, 3}) {  // second norm or not; bf16 or FP8 weights
            const bool second = variant % 2 == 0, fp8 = variant >= 2;
            if (fp8 && !w8) continue;
            DeviceBuffer res_ref = upload(residual), br_ref = poisoned(rows * 2),
                         out_ref = poisoned(rows * 2);
            cuda::LinearArgs a;
            a.x = dx.as<bf16>(), a.m = m, a.w = dw.as<bf16>(), a.n = n, a.k = k;
            if (fp8) w8->set(a);
            a.y = br_ref.data();
            cuda::gemv(a, nullptr);
            cuda::add_rms_norm(res_ref.as<float>(), br_ref.as<bf16>(), dwb.as<bf16>(),
                               second ? dwo.as<bf16>() : nullptr, nullptr, m, n, 1e-5f,
                               second ? out_ref.as<bf16>() : nullptr, nullptr);
            const auto want_res = download_f32(res_ref, rows);
            const auto want_out = download_bf16(out_ref, rows);
            std::vector<float> first_res, first_out;
            for (int launch = 0; launch < 3; ++launch) {
                DeviceBuffer res = upload(residual), out = poisoned(rows * 2);
                a.y = scratch.data();
                cuda::NormTarget nt;
                nt.residual = res.as<float>(), nt.w_branch = dwb.as<bf16>();
                nt.w_out = second ? dwo.as<bf16>() : nullptr, nt.eps = 1e-5f;
                nt.out = second ? out.as<bf16>() : nullptr;
                cuda::gemv_add_rms_norm(a, nt, nullptr);
                const std::string at = "m=" + std::to_string(m) + " n=" + std::to_string(n) +
                                       " k=" + std::to_string(k) +
                                       " second=" + std::to_string(second) + (fp8 ? " FP8" : "") +
                                       " launch " + std::to_string(launch);
                const auto got_res = download_f32(res, rows);
                EXPECT_LE(rel_error(got_res, want_res), 1e-6) << at;
                std::vector<float> got_out;
                if (second) {
                    got_out = download_bf16(out, rows);
                    EXPECT_LE(rel_error(got_out, want_out), 8e-3) << at;
                }
                if (launch == 0) {
                    first_res = got_res, first_out = got_out;
                } else {
                    EXPECT_EQ(got_res, first_res) << at;
                    EXPECT_EQ(got_out, first_out) << at;
                }
                std::vector<uint16_t> left(rows);
                scratch.copy_to_host(left.data(), rows * 2);
                EXPECT_EQ(std::count(left.begin(), left.end(), uint16_t{0xffff}),
                          static_cast<std::ptrdiff_t>(rows))
                    << at << ": the scratch rows are left empty";
            }
        }
    }
}

// The decode MLP in one launch (FP8 weights) gives the bits of its two launches
// (gemv_silu_pairs, then gemv_add_rms_norm): the residual and the normed rows. Three launches
// with different inputs run back to back on one stream (each may start while the one before
// ends, as the model's layers do) and share the act rows and the norm's scratch rows, which
// start empty and are left empty: a launch that took a value of the one before would give
// another result. Shapes: the full model's, a last round of 16 columns (two gate/up blocks), a
// few small ones.
TEST(CudaOps, Fp8MlpInOneLaunchEqualsItsTwoLaunches) {
    REQUIRE_GPU();
    if (!has_fp8_tensor_cores()) GTEST_SKIP() << "no FP8 tensor cores: " << cuda_device_summary();
    constexpr int kLaunches = 3;
    cudaStream_t stream = nullptr;
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    for (auto [m, h, inter] : {std::tuple{1, 4096, 13696},
                               {2, 4096, 13696},
                               {8, 4096, 4112},
                               {3, 64, 320},
                               {5, 208, 1040}}) {
        const auto rows = static_cast<size_t>(m * h), acts = static_cast<size_t>(m * inter);
        auto wgu = random_bf16_values(static_cast<size_t>(2 * inter * h), 91, 0.05f);
        auto wd = random_bf16_values(static_cast<size_t>(h * inter), 92, 0.05f);
        auto residual = random_bf16_values(rows, 93, 3.0f);
        auto wb = random_bf16_values(static_cast<size_t>(h), 94);
        auto wo = random_bf16_values(static_cast<size_t>(h), 95);
        std::vector<DeviceBuffer> dx;
        for (int l = 0; l < kLaunches; ++l)
            dx.push_back(upload_bf16(random_bf16_values(rows, static_cast<uint32_t>(90 + 10 * l))));
        DeviceBuffer dgu = upload_bf16(wgu), dd = upload_bf16(wd), dwb = upload_bf16(wb),
                     dwo = upload_bf16(wo), scratch(rows * 2), act(acts * 2);
        cuda::gemv_norm_rows_empty(scratch.as<bf16>(), static_cast<int64_t>(rows), nullptr);
        cuda::gemv_norm_rows_empty(act.as<bf16>(), static_cast<int64_t>(acts), nullptr);
        const Fp8Weights gu8(dgu, 2 * inter, h), d8(dd, h, inter);
        for (const bool second : {true, false}) {
            const std::string at = "m=" + std::to_string(m) + " h=" + std::to_string(h) +
                                   " inter=" + std::to_string(inter) +
                                   " second=" + std::to_string(second);
            cuda::LinearArgs gu, down;
            gu.m = m, gu.n = 2 * inter, gu.k = h;
            gu8.set(gu);
            down.m = m, down.n = h, down.k = inter, down.y = scratch.data();
            d8.set(down);
            auto norm_target = [&](DeviceBuffer& res, DeviceBuffer& out) {
                cuda::NormTarget nt;
                nt.residual = res.as<float>(), nt.w_branch = dwb.as<bf16>();
                nt.w_out = second ? dwo.as<bf16>() : nullptr, nt.eps = 1e-5f;
                nt.out = second ? out.as<bf16>() : nullptr;
                return nt;
            };
            std::vector<std::vector<float>> want_res, want_out;
            for (int l = 0; l < kLaunches; ++l) {
                DeviceBuffer act_ref = poisoned(acts * 2), res_ref = upload(residual),
                             out_ref = poisoned(rows * 2);
                gu.x = dx[l].as<bf16>(), gu.y = act_ref.data(), down.x = act_ref.as<bf16>();
                cuda::gemv_silu_pairs(gu, nullptr);
                cuda::gemv_add_rms_norm(down, norm_target(res_ref, out_ref), nullptr);
                want_res.push_back(download_f32(res_ref, rows));
                want_out.push_back(download_bf16(out_ref, rows));
            }
            ASSERT_NE(want_res[0], want_res[1]) << at << ": the launches' inputs differ";
            gu.y = act.data(), down.x = act.as<bf16>();
            ASSERT_TRUE(cuda::gemv_mlp_fp8_supported(gu, down)) << at;
            std::vector<DeviceBuffer> res, out;
            for (int l = 0; l < kLaunches; ++l)
                res.push_back(upload(residual)), out.push_back(poisoned(rows * 2));
            for (int l = 0; l < kLaunches; ++l) {
                gu.x = dx[l].as<bf16>();
                cuda::gemv_mlp_fp8(gu, down, norm_target(res[l], out[l]), stream);
            }
            CUDA_CHECK(cudaStreamSynchronize(stream));
            for (int l = 0; l < kLaunches; ++l) {
                const std::string where = at + " launch " + std::to_string(l);
                EXPECT_EQ(download_f32(res[l], rows), want_res[l]) << where;
                if (second) {
                    EXPECT_EQ(download_bf16(out[l], rows), want_out[l]) << where;
                }
            }
            auto left_empty = [&](DeviceBuffer& buf, size_t count) {
                std::vector<uint16_t> left(count);
                buf.copy_to_host(left.data(), count * 2);
                return std::count(left.begin(), left.end(), uint16_t{0xffff}) ==
                       static_cast<std::ptrdiff_t>(count);
            };
            EXPECT_TRUE(left_empty(scratch, rows)) << at << ": the scratch rows are left empty";
            EXPECT_TRUE(left_empty(act, acts)) << at << ": act's rows are left empty";
        }
    }
    CUDA_CHECK(cudaStreamDestroy(stream));
}

// The qkv GEMV with M-RoPE and the paged KV write in its epilogue equals GEMV + rope_kv_write
// bit for bit: the fused row, and both caches (padding tokens with slot -1 write nothing).
TEST(CudaOps, GemvWithRopeKvEqualsGemvThenRopeKvWrite) {
    REQUIRE_GPU();
    struct Shape {
        int64_t m, heads, kvh, hd, pairs, k;
    };
    // m = 1 takes the variant with staged columns (18 a block; 192 columns leave a ragged last
    // block, k = 256 leaves most threads without a chunk); m = 1 and 2 the FP8 blocks that load
    // their scale and bias before the wait (token 1 has no slot).
    for (const Shape& sh : {Shape{1, 32, 2, 128, 32, 4096}, Shape{2, 32, 2, 128, 32, 4096},
                            Shape{3, 32, 2, 128, 32, 512}, Shape{8, 4, 1, 32, 8, 256},
                            Shape{5, 4, 2, 16, 8, 64}, Shape{1, 4, 1, 32, 8, 256}}) {
        const int64_t n = (sh.heads + 2 * sh.kvh) * sh.hd, slots_n = 24;
        auto x = random_bf16_values(static_cast<size_t>(sh.m * sh.k), 60);
        auto w = random_bf16_values(static_cast<size_t>(n * sh.k), 61, 0.05f);
        auto bias = random_bf16_values(static_cast<size_t>(n), 62);
        std::vector<int32_t> pos(static_cast<size_t>(sh.m * 3));
        for (int64_t i = 0; i < sh.m; ++i)
            pos[3 * i] = static_cast<int32_t>(40 + i), pos[3 * i + 1] = static_cast<int32_t>(7 * i),
                    pos[3 * i + 2] = static_cast<int32_t>(900 - 3 * i);
        std::vector<int64_t> slots(static_cast<size_t>(sh.m));
        for (int64_t i = 0; i < sh.m; ++i) slots[i] = i == 1 ? -1 : (5 * i + 3) % slots_n;
        cuda::MropeParams rp;
        rp.num_pairs = static_cast<int>(sh.pairs);
        for (int i = 0; i < rp.num_pairs; ++i) {
            rp.inv_freq[i] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / (2 * sh.pairs));
            rp.section[i] = static_cast<int8_t>(i % 3);
        }
        DeviceBuffer dx = upload_bf16(x), dw = upload_bf16(w), db = upload_bf16(bias);
        DeviceBuffer dpos = upload(pos), dslots = upload(slots);
        const size_t cache = static_cast<size_t>(slots_n * sh.kvh * sh.hd);
        std::vector<float> zeros(cache, 0.0f);
        std::optional<Fp8Weights> w8;
        if (sh.k % 16 == 0 && has_fp8_tensor_cores()) w8.emplace(dw, n, sh.k);
        for (const bool fp8 : {false, true}) {
            if (fp8 && !w8) continue;
            std::vector<float> results[2][3];
            for (int fused = 0; fused < 2; ++fused) {
                DeviceBuffer dy = poisoned(static_cast<size_t>(sh.m * n) * 2);
                DeviceBuffer dk = upload_bf16(zeros), dv = upload_bf16(zeros);
                cuda::LinearArgs a;
                a.x = dx.as<bf16>(), a.m = sh.m, a.w = dw.as<bf16>(), a.n = n, a.k = sh.k;
                if (fp8) w8->set(a);
                a.bias = db.as<bf16>(), a.y = dy.data();
                if (fused) {
                    cuda::gemv_rope_kv(a, dpos.as<int32_t>(), rp, sh.heads, sh.kvh, sh.hd,
                                       dslots.as<int64_t>(), dk.as<bf16>(), dv.as<bf16>(), nullptr);
                } else {
                    cuda::gemv(a, nullptr);
                    cuda::rope_kv_write(dy.as<bf16>(), sh.m, dpos.as<int32_t>(), rp, sh.heads,
                                        sh.kvh, sh.hd, dslots.as<int64_t>(), dk.as<bf16>(),
                                        dv.as<bf16>(), nullptr);
                }
                results[fused][0] = download_bf16(dy, static_cast<size_t>(sh.m * n));
                results[fused][1] = download_bf16(dk, cache);
                results[fused][2] = download_bf16(dv, cache);
            }
            for (int part = 0; part < 3; ++part)
                EXPECT_EQ(max_abs_diff(results[1][part], results[0][part]), 0.0)
                    << "part " << part << " m=" << sh.m << " heads " << sh.heads << "/" << sh.kvh
                    << " hd " << sh.hd << (fp8 ? " FP8" : "");
            // The K cache got the rotated keys of the tokens with slots, the V cache their values.
            EXPECT_GT(max_abs_diff(results[1][1], zeros), 0.0);
            EXPECT_GT(max_abs_diff(results[1][2], zeros), 0.0);
        }
    }
}

}  // namespace
}  // namespace autoglm
