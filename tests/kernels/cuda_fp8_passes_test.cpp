// The FP8 path's folded passes against the separate ones: the text decoder's (the sandwich norm,
// M-RoPE + KV write and SwiGLU reading FP8 products and writing the next GEMM's FP8 rows) and the
// vision blocks' (the 2-D rotary on products, the bf16-residual step), bit for bit, and against
// the CPU within e4m3's half step. Skipped without a GPU or FP8 tensor cores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/cuda_check.h"
#include "core/device_buffer.h"
#include "core/dtype.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda_test_util.h"
#include "kernels/ops.h"

namespace autoglm {
namespace {

using namespace cuda_test;
using cuda::bf16;

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

}  // namespace
}  // namespace autoglm
