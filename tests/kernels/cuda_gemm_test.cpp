// The GPU's linear layers against their CPU twins: the GEMV and cuBLASLt paths in bf16 and with
// FP8 weights (the quantizer bit for bit), and the decode GEMVs with their fused epilogues (SwiGLU,
// the sandwich norm, M-RoPE + the paged KV write) against the unfused ops. Skipped without a GPU.
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

std::vector<uint8_t> download_bytes(const DeviceBuffer& d, int64_t n) {
    std::vector<uint8_t> out(static_cast<size_t>(n));
    CUDA_CHECK(cudaDeviceSynchronize());
    d.copy_to_host(out.data(), out.size());
    return out;
}

bool has_fp8_tensor_cores() {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    return prop.major * 10 + prop.minor >= 89;
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
// one-row launches bit for bit (batched decode equals single).
TEST(CudaOps, Fp8GemvRowsEqualSingleRows) {
    REQUIRE_GPU();
    if (!has_fp8_tensor_cores()) GTEST_SKIP() << "no FP8 tensor cores: " << cuda_device_summary();
    for (auto [m, n, k] : {std::tuple{2, 96, 4096}, {3, 304, 13696}, {8, 4608, 4096}}) {
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
        // With an L2 prefetch of another weight (the decode steps' next layer; more bytes than
        // the blocks' shares divide evenly, and 16 bytes: block 0's only): the same bits. (On
        // sm_89 the prefetch is compiled out.)
        for (const int64_t bytes : {int64_t{n * k / 3 / 16 * 16}, int64_t{16}}) {
            DeviceBuffer pre = poisoned(static_cast<size_t>(m * n) * 2);
            a.x = dx.as<bf16>(), a.m = m, a.y = pre.data();
            a.prefetch = dw.data(), a.prefetch_bytes = bytes;
            cuda::gemv(a, nullptr);
            EXPECT_EQ(download_bf16(pre, static_cast<size_t>(m * n)), together)
                << "prefetching " << bytes << " bytes, m=" << m << " n=" << n << " k=" << k;
            a.prefetch = nullptr, a.prefetch_bytes = 0;
        }
    }
}

// Dequantized FP8 rows from the device: q * scale per row.
std::vector<float> download_fp8_rows(const DeviceBuffer& q, const DeviceBuffer& scale, int64_t rows,
                                     int64_t cols) {
    std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
    std::vector<float> s(static_cast<size_t>(rows)), out(codes.size());
    CUDA_CHECK(cudaDeviceSynchronize());
    q.copy_to_host(codes.data(), codes.size());
    scale.copy_to_host(s.data(), s.size() * 4);
    for (size_t i = 0; i < codes.size(); ++i)
        out[i] = e4m3_to_f32(codes[i]) * s[i / static_cast<size_t>(cols)];
    return out;
}

// The FP8 path with its passes folded into the neighbouring kernels (Gemm::fp8_products, the
// scales applied by the readers, the inputs quantized by the writers) against the separate
// passes (quantize_rows_fp8, lt_linear, scale_fp8_products) and the CPU. Quantized rows are
// compared dequantized against the unquantized CPU value: e4m3 keeps 3 mantissa bits, so an
// element is off by at most half a step, 16 / 448 = 3.6 % of its row's maximum (tolerance 4 %);
// their scales (amax / 448, amax of the bf16-rounded row) to bf16 rounding of the CPU's. And the
// folded kernels give the separate passes' codes and scales bit for bit: they round to bf16
// wherever those passes store a bf16 tensor.
// H and I pick the kernels' block shapes: rows of H as 1, 2 or 4 pieces of 8 a thread, SwiGLU
// rows of I on 384 or 512 threads.
void check_fp8_folded_passes(int64_t H, int64_t I) {
    SCOPED_TRACE("H " + std::to_string(H) + ", I " + std::to_string(I));
    const int64_t m = 37, heads = 4, kvh = 2, hd = 32;
    const int64_t W = (heads + 2 * kvh) * hd;
    const float eps = 1e-5f;
    cuda::Gemm gemm;
    gemm.reserve_fp8(m, I);
    auto x_scale = random_bf16_values(static_cast<size_t>(m), 70, 0.01f);
    for (float& v : x_scale) v = std::fabs(v) + 0.002f;
    DeviceBuffer dxs = upload(x_scale);
    auto products_for = [&](int64_t cols, uint32_t seed, bool bias, DeviceBuffer& dws,
                            DeviceBuffer& db) {
        auto ws = random_bf16_values(static_cast<size_t>(cols), seed, 0.01f);
        for (float& v : ws) v = std::fabs(v) + 0.001f;
        dws = upload(ws);
        cuda::Fp8Products p{dxs.as<float>(), dws.as<float>(), nullptr};
        if (bias)
            db = upload_bf16(random_bf16_values(static_cast<size_t>(cols), seed + 1)),
            p.bias = db.as<bf16>();
        return std::make_pair(p, ws);
    };
    auto scaled = [&](const std::vector<float>& raw, int64_t cols, const std::vector<float>& ws,
                      const std::vector<float>* bias) {
        std::vector<float> v(raw.size());
        for (int64_t r = 0; r < m; ++r)
            for (int64_t c = 0; c < cols; ++c)
                v[r * cols + c] =
                    raw[r * cols + c] * x_scale[r] * ws[c] + (bias ? (*bias)[c] : 0.0f);
        return v;
    };
    auto expect_scales = [&](const DeviceBuffer& ds, const std::vector<float>& want_rows,
                             int64_t cols, const char* what, double tol) {
        std::vector<float> got(static_cast<size_t>(m));
        ds.copy_to_host(got.data(), got.size() * 4);
        for (int64_t r = 0; r < m; ++r) {
            float amax = 0.0f;
            for (int64_t c = 0; c < cols; ++c)
                amax = std::max(amax, std::fabs(want_rows[r * cols + c]));
            EXPECT_NEAR(got[r], amax / 448.0f, tol * amax / 448.0f) << what << " row " << r;
        }
    };
    {  // The products' plumbing: quantize + fp8_products + scale pass == lt_linear, bit for bit.
        auto x = random_bf16_values(static_cast<size_t>(m * H), 71, 2.0f);
        auto w = random_bf16_values(static_cast<size_t>(W * H), 72, 0.05f);
        DeviceBuffer dx = upload_bf16(x), dw = upload_bf16(w),
                     db = upload_bf16(random_bf16_values(static_cast<size_t>(W), 73));
        DeviceBuffer dq(static_cast<size_t>(W * H)), dsw(static_cast<size_t>(W) * 4);
        cuda::quantize_rows_fp8(dw.as<bf16>(), W, H, dq.as<uint8_t>(), dsw.as<float>(), nullptr);
        DeviceBuffer y1 = poisoned(static_cast<size_t>(m * W) * 2),
                     y2 = poisoned(static_cast<size_t>(m * W) * 2);
        cuda::LinearArgs a;
        a.x = dx.as<bf16>(), a.m = m, a.n = W, a.k = H, a.w_fp8 = dq.as<uint8_t>();
        a.w_scale = dsw.as<float>(), a.bias = db.as<bf16>(), a.y = y1.data();
        gemm.lt_linear(a, nullptr);
        const cuda::Fp8Rows in = gemm.fp8_input();
        cuda::quantize_rows_fp8(dx.as<bf16>(), m, H, in.q, in.scale, nullptr);
        a.y = y2.data();
        gemm.fp8_products(a, nullptr);
        const cuda::Fp8Products p = gemm.products_of(a);
        EXPECT_EQ(p.x_scale, in.scale);
        cuda::scale_fp8_products(a, p.x_scale, nullptr);
        EXPECT_EQ(max_abs_diff(download_bf16(y2, static_cast<size_t>(m * W)),
                               download_bf16(y1, static_cast<size_t>(m * W))),
                  0.0);
    }
    {  // The sandwich norm reading products and writing FP8 rows.
        auto raw = random_bf16_values(static_cast<size_t>(m * H), 74, 300.0f);
        auto res = random_bf16_values(static_cast<size_t>(m * H), 75, 3.0f);
        auto wb = random_bf16_values(static_cast<size_t>(H), 76),
             wo = random_bf16_values(static_cast<size_t>(H), 77);
        DeviceBuffer dws, dnb;
        auto [p, ws] = products_for(H, 78, false, dws, dnb);
        std::vector<float> want_res(res.size()), branch = scaled(raw, H, ws, nullptr),
                                                 want(res.size());
        cpu::rms_norm(branch.data(), f32_view(wb, {H}), m, H, eps, want_res.data());
        for (size_t i = 0; i < res.size(); ++i) want_res[i] += res[i];
        cpu::rms_norm(want_res.data(), f32_view(wo, {H}), m, H, eps, want.data());
        DeviceBuffer draw = upload_bf16(raw), dres = upload(res), dwb = upload_bf16(wb),
                     dwo = upload_bf16(wo);
        // The separate passes: scale pass, add_rms_norm to bf16, quantize_rows_fp8.
        DeviceBuffer dbr = upload_bf16(raw), dres2 = upload(res);
        DeviceBuffer d16 = poisoned(static_cast<size_t>(m * H) * 2);
        DeviceBuffer dq2 = poisoned(static_cast<size_t>(m * H)), ds2 = poisoned(x_scale.size() * 4);
        cuda::LinearArgs a;
        a.m = m, a.n = H, a.w_scale = p.w_scale, a.y = dbr.data();
        cuda::scale_fp8_products(a, p.x_scale, nullptr);
        cuda::add_rms_norm(dres2.as<float>(), dbr.as<bf16>(), dwb.as<bf16>(), dwo.as<bf16>(),
                           nullptr, m, H, eps, d16.as<bf16>(), nullptr);
        cuda::quantize_rows_fp8(d16.as<bf16>(), m, H, dq2.as<uint8_t>(), ds2.as<float>(), nullptr);
        // Folded, with the scales read and then overwritten in place (as the model runs it).
        DeviceBuffer dq = poisoned(static_cast<size_t>(m * H)), ds = upload(x_scale);
        p.x_scale = ds.as<float>();
        cuda::add_rms_norm_fp8(dres.as<float>(), draw.as<bf16>(), p, dwb.as<bf16>(), dwo.as<bf16>(),
                               m, H, eps, {dq.as<uint8_t>(), ds.as<float>()}, nullptr);
        // The branch is rounded to bf16 before its norm, as the scale pass stores it.
        EXPECT_LE(rel_error(download_f32(dres, res.size()), want_res), 8e-3);
        EXPECT_LE(rel_error(download_fp8_rows(dq, ds, m, H), want), 0.04);
        expect_scales(ds, want, H, "norm", 8e-3);
        EXPECT_EQ(max_abs_diff(download_f32(dres, res.size()), download_f32(dres2, res.size())),
                  0.0);
        EXPECT_EQ(download_bytes(dq, m * H), download_bytes(dq2, m * H)) << "norm codes";
        EXPECT_EQ(download_f32(ds, x_scale.size()), download_f32(ds2, x_scale.size()));
    }
    {  // M-RoPE + KV write reading products (with the qkv bias) == scale pass + rope_kv_write.
        auto raw = random_bf16_values(static_cast<size_t>(m * W), 80, 200.0f);
        DeviceBuffer dws, dqb;
        auto [p, ws] = products_for(W, 81, true, dws, dqb);
        std::vector<int32_t> pos(static_cast<size_t>(m * 3));
        for (int64_t i = 0; i < m; ++i)
            pos[3 * i] = static_cast<int32_t>(i), pos[3 * i + 1] = static_cast<int32_t>(3 * i % 11),
                    pos[3 * i + 2] = static_cast<int32_t>(50 - i);
        std::vector<int64_t> slots(static_cast<size_t>(m));
        for (int64_t i = 0; i < m; ++i) slots[i] = i == 4 ? -1 : (7 * i + 1) % 64;
        cuda::MropeParams rp;
        rp.num_pairs = 8;  // a partial rotary: half the head's 16 pairs
        for (int i = 0; i < rp.num_pairs; ++i) {
            rp.inv_freq[i] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / 16.0f);
            rp.section[i] = static_cast<int8_t>(i % 3);
        }
        DeviceBuffer dpos = upload(pos), dslots = upload(slots);
        const size_t cache = static_cast<size_t>(64 * kvh * hd);
        std::vector<float> results[2][3];
        for (int folded = 0; folded < 2; ++folded) {
            DeviceBuffer dy = upload_bf16(raw);
            DeviceBuffer dk = upload_bf16(std::vector<float>(cache, 0.0f)),
                         dv = upload_bf16(std::vector<float>(cache, 0.0f));
            if (folded) {
                cuda::rope_kv_write(dy.as<bf16>(), m, dpos.as<int32_t>(), rp, heads, kvh, hd,
                                    dslots.as<int64_t>(), dk.as<bf16>(), dv.as<bf16>(), p, nullptr);
            } else {
                cuda::LinearArgs a;
                a.m = m, a.n = W, a.w_scale = p.w_scale, a.bias = p.bias, a.y = dy.data();
                cuda::scale_fp8_products(a, p.x_scale, nullptr);
                cuda::rope_kv_write(dy.as<bf16>(), m, dpos.as<int32_t>(), rp, heads, kvh, hd,
                                    dslots.as<int64_t>(), dk.as<bf16>(), dv.as<bf16>(), nullptr);
            }
            results[folded][0] = download_bf16(dy, static_cast<size_t>(m * W));
            results[folded][1] = download_bf16(dk, cache);
            results[folded][2] = download_bf16(dv, cache);
        }
        for (int part = 0; part < 3; ++part)
            EXPECT_EQ(max_abs_diff(results[1][part], results[0][part]), 0.0) << "part " << part;
        EXPECT_GT(max_abs_diff(results[1][2], std::vector<float>(cache, 0.0f)), 0.0);
    }
    {  // SwiGLU on grouped gate/up products, written as FP8 rows.
        auto raw = random_bf16_values(static_cast<size_t>(m * 2 * I), 84, 400.0f);
        DeviceBuffer dws, dnb;
        auto [p, ws] = products_for(2 * I, 85, false, dws, dnb);
        const std::vector<float> v = scaled(raw, 2 * I, ws, nullptr);
        std::vector<float> want(static_cast<size_t>(m * I));
        for (int64_t r = 0; r < m; ++r)
            for (int64_t j = 0; j < I; ++j) {
                const float g = v[r * 2 * I + 8 * (j / 4) + j % 4],
                            u = v[r * 2 * I + 8 * (j / 4) + 4 + j % 4];
                want[r * I + j] = u * g / (1.0f + std::exp(-g));
            }
        DeviceBuffer dbr = upload_bf16(raw), d16 = poisoned(static_cast<size_t>(m * I) * 2);
        DeviceBuffer dq2 = poisoned(static_cast<size_t>(m * I)), ds2 = poisoned(x_scale.size() * 4);
        cuda::LinearArgs a;
        a.m = m, a.n = 2 * I, a.w_scale = p.w_scale, a.y = dbr.data();
        cuda::scale_fp8_products(a, p.x_scale, nullptr);
        cuda::silu_mul_grouped4(dbr.as<bf16>(), m, I, d16.as<bf16>(), nullptr);
        cuda::quantize_rows_fp8(d16.as<bf16>(), m, I, dq2.as<uint8_t>(), ds2.as<float>(), nullptr);
        DeviceBuffer draw = upload_bf16(raw), dq = poisoned(static_cast<size_t>(m * I)),
                     ds = upload(x_scale);
        p.x_scale = ds.as<float>();
        cuda::silu_mul_grouped4_fp8(draw.as<bf16>(), p, m, I, {dq.as<uint8_t>(), ds.as<float>()},
                                    nullptr);
        EXPECT_EQ(download_bytes(dq, m * I), download_bytes(dq2, m * I)) << "SwiGLU codes";
        EXPECT_EQ(download_f32(ds, x_scale.size()), download_f32(ds2, x_scale.size()));
        EXPECT_LE(rel_error(download_fp8_rows(dq, ds, m, I), want), 0.04);
        std::vector<float> got(static_cast<size_t>(m));
        ds.copy_to_host(got.data(), got.size() * 4);
        for (int64_t r = 0; r < m; ++r) {
            float amax = 0.0f;
            for (int64_t j = 0; j < I; ++j) amax = std::max(amax, std::fabs(want[r * I + j]));
            EXPECT_NEAR(got[r], amax / 448.0f, 8e-3 * amax / 448.0f) << "silu row " << r;
        }
    }
}

TEST(CudaOps, Fp8FoldedPassesMatchTheSeparatePasses) {
    REQUIRE_GPU();
    if (!has_fp8_tensor_cores()) GTEST_SKIP() << "no FP8 tensor cores: " << cuda_device_summary();
    for (auto [H, I] : {std::pair<int64_t, int64_t>{256, 512}, {4096, 13696}, {8192, 16384}})
        check_fp8_folded_passes(H, I);
}

// The FP8 vision blocks' folded passes (cuda_vision.cpp) equal the separate ones bit for bit:
// the 2-D rotary reading qkv products (v heads scaled too) == scale pass + vision_rope, on the
// 16-byte path (head_dim 64, 128) and the pair-by-pair one (head_dim 16, the tiny fixtures'); the
// bf16-residual step == scale pass, the bf16 add, rms_norm_bf16 (+ quantize_rows_fp8), with the
// row scales read and then overwritten in place, as the tower runs it.
TEST(CudaOps, Fp8VisionPassesMatchTheSeparatePasses) {
    REQUIRE_GPU();
    if (!has_fp8_tensor_cores()) GTEST_SKIP() << "no FP8 tensor cores: " << cuda_device_summary();
    const int64_t m = 37;
    auto x_scale = random_bf16_values(static_cast<size_t>(m), 90, 0.01f);
    for (float& v : x_scale) v = std::fabs(v) + 0.002f;
    auto col_scales = [](int64_t cols, uint32_t seed) {
        auto ws = random_bf16_values(static_cast<size_t>(cols), seed, 0.01f);
        for (float& v : ws) v = std::fabs(v) + 0.001f;
        return ws;
    };
    // head_dim 16 checks the fallback's wiring (scale pass, then the pair-by-pair rotation).
    for (const int64_t hd : {int64_t{64}, int64_t{128}, int64_t{16}}) {
        SCOPED_TRACE("head_dim " + std::to_string(hd));
        const int64_t heads = 3, W = 3 * heads * hd;
        auto raw = random_bf16_values(static_cast<size_t>(m * W), 91, 300.0f);
        const auto ws = col_scales(W, 92);
        std::vector<int32_t> coords(static_cast<size_t>(2 * m));
        for (int64_t t = 0; t < m; ++t)
            coords[2 * t] = static_cast<int32_t>(t / 6),
                       coords[2 * t + 1] = static_cast<int32_t>(t % 6);
        DeviceBuffer dxs = upload(x_scale), dws = upload(ws), dc = upload(coords);
        const cuda::Fp8Products p{dxs.as<float>(), dws.as<float>(), nullptr};
        DeviceBuffer folded = upload_bf16(raw), separate = upload_bf16(raw);
        cuda::vision_rope(folded.as<bf16>(), m, heads, hd, dc.as<int32_t>(), 10000.0f, p, nullptr);
        cuda::LinearArgs a;
        a.m = m, a.n = W, a.w_scale = p.w_scale, a.y = separate.data();
        cuda::scale_fp8_products(a, p.x_scale, nullptr);
        const auto scaled_only = download_bf16(separate, static_cast<size_t>(m * W));
        cuda::vision_rope(separate.as<bf16>(), m, heads, hd, dc.as<int32_t>(), 10000.0f, nullptr);
        const auto got = download_bf16(folded, static_cast<size_t>(m * W)),
                   want = download_bf16(separate, static_cast<size_t>(m * W));
        EXPECT_EQ(max_abs_diff(got, want), 0.0);
        // The v heads hold their scaled values, not the raw products; q and k rotated.
        double v_raw = 0.0, v_scaled = 0.0, qk_moved = 0.0;
        for (int64_t t = 0; t < m; ++t)
            for (int64_t c = 0; c < W; ++c) {
                const size_t i = static_cast<size_t>(t * W + c);
                if (c >= 2 * heads * hd) {
                    v_raw = std::max(v_raw, static_cast<double>(std::fabs(got[i] - raw[i])));
                    v_scaled =
                        std::max(v_scaled, static_cast<double>(std::fabs(got[i] - scaled_only[i])));
                } else {
                    qk_moved =
                        std::max(qk_moved, static_cast<double>(std::fabs(got[i] - scaled_only[i])));
                }
            }
        EXPECT_GT(v_raw, 0.0);
        EXPECT_EQ(v_scaled, 0.0);
        EXPECT_GT(qk_moved, 0.0);
    }
    for (const int64_t H : {int64_t{1536}, int64_t{32}, int64_t{4096}}) {
        SCOPED_TRACE("H " + std::to_string(H));
        const float eps = 1e-6f;
        auto raw = random_bf16_values(static_cast<size_t>(m * H), 93, 300.0f);
        auto res = random_bf16_values(static_cast<size_t>(m * H), 94, 3.0f);
        auto wo = random_bf16_values(static_cast<size_t>(H), 95);
        const auto ws = col_scales(H, 96);
        DeviceBuffer dws = upload(ws), dwo = upload_bf16(wo);
        // The separate passes: scaled branch in bf16, the bf16 add on the host, then the norm.
        DeviceBuffer dxs0 = upload(x_scale), dbr = upload_bf16(raw);
        cuda::LinearArgs a;
        a.m = m, a.n = H, a.w_scale = dws.as<float>(), a.y = dbr.data();
        cuda::scale_fp8_products(a, dxs0.as<float>(), nullptr);
        const auto branch = download_bf16(dbr, raw.size());
        std::vector<float> want_res(res.size());
        for (size_t i = 0; i < res.size(); ++i)
            want_res[i] = bf16_to_f32(f32_to_bf16(res[i] + branch[i]));
        DeviceBuffer dres_ref = upload_bf16(want_res), d16 = poisoned(res.size() * 2);
        cuda::rms_norm_bf16(dres_ref.as<bf16>(), dwo.as<bf16>(), m, H, eps, d16.as<bf16>(),
                            nullptr);
        DeviceBuffer dq2 = poisoned(static_cast<size_t>(m * H)), ds2 = poisoned(x_scale.size() * 4);
        cuda::quantize_rows_fp8(d16.as<bf16>(), m, H, dq2.as<uint8_t>(), ds2.as<float>(), nullptr);
        // Folded, FP8 rows out, the scales read and overwritten in place.
        DeviceBuffer dres = upload_bf16(res), draw = upload_bf16(raw), ds = upload(x_scale);
        DeviceBuffer dq = poisoned(static_cast<size_t>(m * H));
        const cuda::Fp8Products p{ds.as<float>(), dws.as<float>(), nullptr};
        cuda::add_rms_norm_bf16_fp8(dres.as<bf16>(), draw.as<bf16>(), p, dwo.as<bf16>(), m, H, eps,
                                    {dq.as<uint8_t>(), ds.as<float>()}, nullptr, nullptr);
        EXPECT_EQ(max_abs_diff(download_bf16(dres, res.size()), want_res), 0.0) << "residual";
        EXPECT_EQ(download_bytes(dq, m * H), download_bytes(dq2, m * H)) << "norm codes";
        EXPECT_EQ(download_f32(ds, x_scale.size()), download_f32(ds2, x_scale.size()));
        // Folded, bf16 rows out (the post norm after the last block).
        DeviceBuffer dres_b = upload_bf16(res), draw_b = upload_bf16(raw), dxs_b = upload(x_scale);
        DeviceBuffer dout = poisoned(res.size() * 2);
        const cuda::Fp8Products pb{dxs_b.as<float>(), dws.as<float>(), nullptr};
        cuda::add_rms_norm_bf16_fp8(dres_b.as<bf16>(), draw_b.as<bf16>(), pb, dwo.as<bf16>(), m, H,
                                    eps, {}, dout.as<bf16>(), nullptr);
        EXPECT_EQ(max_abs_diff(download_bf16(dres_b, res.size()), want_res), 0.0);
        EXPECT_EQ(max_abs_diff(download_bf16(dout, res.size()), download_bf16(d16, res.size())),
                  0.0)
            << "bf16 norm";
        // No branch (the first block's norm): the residual untouched, its norm quantized.
        DeviceBuffer dres_n = upload_bf16(res), dq3 = poisoned(static_cast<size_t>(m * H)),
                     ds3 = poisoned(x_scale.size() * 4), d16n = poisoned(res.size() * 2),
                     dq4 = poisoned(static_cast<size_t>(m * H)), ds4 = poisoned(x_scale.size() * 4);
        cuda::add_rms_norm_bf16_fp8(dres_n.as<bf16>(), nullptr, {}, dwo.as<bf16>(), m, H, eps,
                                    {dq3.as<uint8_t>(), ds3.as<float>()}, nullptr, nullptr);
        cuda::rms_norm_bf16(dres_n.as<bf16>(), dwo.as<bf16>(), m, H, eps, d16n.as<bf16>(), nullptr);
        cuda::quantize_rows_fp8(d16n.as<bf16>(), m, H, dq4.as<uint8_t>(), ds4.as<float>(), nullptr);
        EXPECT_EQ(max_abs_diff(download_bf16(dres_n, res.size()), res), 0.0);
        EXPECT_EQ(download_bytes(dq3, m * H), download_bytes(dq4, m * H)) << "first norm codes";
        EXPECT_EQ(download_f32(ds3, x_scale.size()), download_f32(ds4, x_scale.size()));
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

// The qkv GEMV with M-RoPE and the paged KV write in its epilogue equals GEMV + rope_kv_write
// bit for bit: the fused row, and both caches (padding tokens with slot -1 write nothing).
TEST(CudaOps, GemvWithRopeKvEqualsGemvThenRopeKvWrite) {
    REQUIRE_GPU();
    struct Shape {
        int64_t m, heads, kvh, hd, pairs, k;
    };
    // m = 1 takes the variant with staged columns (18 a block; 192 columns leave a ragged last
    // block, k = 256 leaves most threads without a chunk).
    for (const Shape& sh :
         {Shape{1, 32, 2, 128, 32, 4096}, Shape{3, 32, 2, 128, 32, 512}, Shape{8, 4, 1, 32, 8, 256},
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
