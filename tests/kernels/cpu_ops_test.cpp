// CPU reference ops against straightforward double-precision formulas over ragged shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "kernels/kv_fp8.h"
#include "kernels/ops.h"

namespace autoglm {
namespace {

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = dist(gen);
    return v;
}

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
    std::vector<uint16_t> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = f32_to_bf16(v[i]);
    return out;
}

TEST(CpuOps, LinearMatchesNaiveForF32AndBf16Weights) {
    for (auto [m, n, k] : {std::tuple{1, 1, 1}, {3, 17, 33}, {5, 40, 64}, {2, 100, 7}}) {
        const auto x = random_vec(static_cast<size_t>(m * k), 1);
        const auto wf = random_vec(static_cast<size_t>(n * k), 2);
        const auto bias = random_vec(static_cast<size_t>(n), 3);
        const auto wb = to_bf16(wf);
        const TensorView b{DType::kF32, {n}, bias.data()};
        for (bool bf16 : {false, true}) {
            const TensorView w{bf16 ? DType::kBF16 : DType::kF32,
                               {n, k},
                               bf16 ? static_cast<const void*>(wb.data()) : wf.data()};
            std::vector<float> y(static_cast<size_t>(m * n));
            cpu::linear(x.data(), m, w, &b, y.data());
            for (int i = 0; i < m; ++i)
                for (int j = 0; j < n; ++j) {
                    double ref = bias[j];
                    for (int t = 0; t < k; ++t) {
                        const float wv = bf16 ? bf16_to_f32(wb[j * k + t]) : wf[j * k + t];
                        ref += static_cast<double>(x[i * k + t]) * wv;
                    }
                    EXPECT_NEAR(y[i * n + j], ref, 1e-4 * (1 + std::fabs(ref))) << m << n << k;
                }
        }
    }
}

TEST(CpuOps, RmsNormMatchesFormula) {
    const int rows = 3, dim = 37;
    const auto x = random_vec(rows * dim, 4, 3.0f);
    const auto w = random_vec(dim, 5);
    std::vector<float> y(x.size());
    cpu::rms_norm(x.data(), TensorView{DType::kF32, {dim}, w.data()}, rows, dim, 1e-5f, y.data());
    for (int r = 0; r < rows; ++r) {
        double ss = 0;
        for (int j = 0; j < dim; ++j) ss += x[r * dim + j] * x[r * dim + j];
        const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
        for (int j = 0; j < dim; ++j)
            EXPECT_NEAR(y[r * dim + j], w[j] * x[r * dim + j] * inv, 1e-5);
    }
}

TEST(CpuOps, RopeInterleavedRotatesOnlyLeadingPairs) {
    const int rows = 2, heads = 3, head_dim = 8, rotary = 4;
    auto x = random_vec(rows * heads * head_dim, 6);
    const auto orig = x;
    const std::vector<float> cos = {0.5f, 1.0f, -1.0f, 0.0f};  // [rows, rotary / 2]
    const std::vector<float> sin = {0.8660254f, 0.0f, 0.0f, 1.0f};
    cpu::rope_interleaved(x.data(), rows, heads, head_dim, rotary, cos.data(), sin.data());
    for (int r = 0; r < rows; ++r)
        for (int h = 0; h < heads; ++h) {
            const float* o = orig.data() + (r * heads + h) * head_dim;
            const float* v = x.data() + (r * heads + h) * head_dim;
            for (int i = 0; i < rotary / 2; ++i) {
                const float c = cos[r * 2 + i], s = sin[r * 2 + i];
                EXPECT_NEAR(v[2 * i], o[2 * i] * c - o[2 * i + 1] * s, 1e-6);
                EXPECT_NEAR(v[2 * i + 1], o[2 * i + 1] * c + o[2 * i] * s, 1e-6);
            }
            for (int j = rotary; j < head_dim; ++j) EXPECT_EQ(v[j], o[j]);
        }
}

TEST(CpuOps, AttentionIsCausalGqa) {
    const int num_q = 3, q_start = 2, heads = 4, kv_heads = 2, d = 5;
    const int keys = q_start + num_q;
    const auto q = random_vec(num_q * heads * d, 7);
    const auto k = random_vec(keys * kv_heads * d, 8);
    const auto v = random_vec(keys * kv_heads * d, 9);
    std::vector<float> out(num_q * heads * d);
    cpu::AttentionArgs a;
    a.q = q.data(), a.k_cache = k.data(), a.v_cache = v.data(), a.out = out.data();
    a.num_queries = num_q, a.q_start = q_start, a.num_heads = heads, a.num_kv_heads = kv_heads;
    a.head_dim = d, a.scale = 0.3f;
    cpu::attention(a);
    for (int i = 0; i < num_q; ++i)
        for (int h = 0; h < heads; ++h) {
            const int kvh = h / (heads / kv_heads);
            const int visible = q_start + i + 1;
            std::vector<double> p(visible);
            double mx = -1e30, den = 0;
            for (int j = 0; j < visible; ++j) {
                double s = 0;
                for (int t = 0; t < d; ++t)
                    s += q[(i * heads + h) * d + t] * k[(j * kv_heads + kvh) * d + t];
                p[j] = s * 0.3;
                mx = std::max(mx, p[j]);
            }
            for (double& e : p) den += (e = std::exp(e - mx));
            for (int t = 0; t < d; ++t) {
                double o = 0;
                for (int j = 0; j < visible; ++j) o += p[j] / den * v[(j * kv_heads + kvh) * d + t];
                EXPECT_NEAR(out[(i * heads + h) * d + t], o, 1e-5);
            }
        }
}

TEST(CpuOps, SiluMulAndEmbedding) {
    const std::vector<float> gu = {1.0f, -2.0f, 3.0f, 4.0f};  // 1 row, width 2
    std::vector<float> out(2);
    cpu::silu_mul(gu.data(), 1, 2, out.data());
    EXPECT_NEAR(out[0], 3.0 * (1.0 / (1.0 + std::exp(-1.0))), 1e-6);
    EXPECT_NEAR(out[1], 4.0 * (-2.0 / (1.0 + std::exp(2.0))), 1e-6);
    const std::vector<float> table = {0, 1, 10, 11, 20, 21};
    const int32_t ids[] = {2, 0};
    std::vector<float> e(4);
    cpu::embedding(TensorView{DType::kF32, {3, 2}, table.data()}, ids, e.data());
    EXPECT_EQ(e, (std::vector<float>{20, 21, 0, 1}));
}

// The FP8 KV cache's scale: the smallest power of two that brings amax within 448.
// The FP8 linear layers' per-row rounding (weights per output row, inputs per token): scale =
// amax / 448, values rounded to nearest even e4m3 under it; rows of zeros stay zeros.
TEST(Fp8RoundRows, EachRowRoundsUnderItsOwnScale) {
    std::vector<float> x = {448.0f, 1.0f,   -0.3f, 0.0f,  // amax 448: scale 1
                            2.0f,   0.001f, -2.0f, 1.1f,  // amax 2: scale 2 / 448
                            0.0f,   0.0f,   0.0f,  0.0f};
    cpu::fp8_round_rows(x.data(), 3, 4);
    // -0.3 lies between the e4m3 values 0.28125 and 0.3125; 0.3125 is nearer.
    EXPECT_EQ(x[0], 448.0f);
    EXPECT_EQ(x[1], 1.0f);
    EXPECT_EQ(x[2], -0.3125f);
    EXPECT_EQ(x[3], 0.0f);
    // 0.001 * 224 = 0.224 -> 0.21875 (e4m3 step 1/64 there), back: 0.21875 * 2 / 448.
    EXPECT_EQ(x[4], 2.0f);
    EXPECT_FLOAT_EQ(x[5], 0.21875f * 2.0f / 448.0f);
    EXPECT_EQ(x[6], -2.0f);
    // 1.1 * 224 = 246.4 -> 256 or 240 (e4m3 step 16 there): 240, back 240 * 2 / 448.
    EXPECT_FLOAT_EQ(x[7], 240.0f * 2.0f / 448.0f);
    for (int i = 8; i < 12; ++i) EXPECT_EQ(x[i], 0.0f);
}

TEST(KvFp8, ScaleIsTheSmallestPowerOfTwoWithinRange) {
    EXPECT_EQ(kv_fp8_scale(0.0f), 1.0f);
    EXPECT_EQ(kv_fp8_scale(448.0f), 1.0f);
    EXPECT_EQ(kv_fp8_scale(448.5f), 2.0f);
    EXPECT_EQ(kv_fp8_scale(896.0f), 2.0f);
    EXPECT_EQ(kv_fp8_scale(897.0f), 4.0f);
    EXPECT_EQ(kv_fp8_scale(224.0f), 0.5f);
    EXPECT_EQ(kv_fp8_scale(223.0f), 0.5f);
    EXPECT_EQ(kv_fp8_scale(1.0f), std::ldexp(1.0f, -8));  // 1 / 448 in (2^-9, 2^-8]
    EXPECT_EQ(kv_fp8_scale(1e-30f), std::ldexp(1.0f, -60));
    for (float amax : {0.37f, 3.1f, 1000.0f, 65504.0f, 1e-3f}) {
        const float s = kv_fp8_scale(amax);
        EXPECT_LE(amax / s, 448.0f) << amax;
        EXPECT_GT(amax / s, 224.0f) << amax;
    }
}

// write_slots_fp8: per (row, head) values rounded to e4m3 under the head's scale, slots < 0
// skipped, other slots untouched.
TEST(KvFp8, WriteSlotsRoundsEachHeadUnderItsScale) {
    // Two heads of 4: head 0 has amax 500 (scale 2), head 1 amax 1 (scale 2^-8).
    const std::vector<float> rows = {500.0f, 250.0f, -3.3f, 0.01f, 1.0f, -0.3f, 0.0f, 1e-4f,
                                     9.0f,   9.0f,   9.0f,  9.0f,  9.0f, 9.0f,  9.0f, 9.0f};
    const std::vector<int64_t> slots = {2, -1};
    std::vector<float> cache(3 * 8, -7.0f);
    cpu::write_slots_fp8(cache.data(), slots.data(), rows.data(), 2, 2, 4);
    // 500 / 2 = 250 -> 256 (steps of 16 in [128, 256)), times 2: 512; 250 / 2 = 125 -> 128
    // (steps of 8 in [64, 128)), times 2: 256.
    // -3.3 / 2 = -1.65 -> -1.625; 0.01 / 2 = 0.005 -> 3 * 2^-9 (subnormal) -> 0.01171875.
    const std::vector<float> head0 = {512.0f, 256.0f, -3.25f, 0.01171875f};
    // Scale 2^-8: 1 -> 256; -0.3 * 256 = -76.8 -> -80 (steps of 8); 1e-4 * 256 = 0.0256 -> 13
    // steps of 2^-9 = 0.025390625 -> times 2^-8.
    const std::vector<float> head1 = {1.0f, -80.0f / 256.0f, 0.0f, 13.0f / 512.0f / 256.0f};
    for (int e = 0; e < 4; ++e) {
        EXPECT_EQ(cache[16 + e], head0[e]) << e;
        EXPECT_EQ(cache[20 + e], head1[e]) << e;
    }
    for (int i = 0; i < 16; ++i) EXPECT_EQ(cache[i], -7.0f) << i;  // slots 0, 1 untouched
    // Over random rows: within e4m3's half step (2^-4 relative) of the value or of the head's
    // subnormal step, and each value a multiple of its head's scale's smallest step.
    std::mt19937 gen(3);
    std::normal_distribution<float> dist(0.0f, 2.0f);
    std::vector<float> r(64 * 8);
    for (float& x : r) x = dist(gen);
    std::vector<int64_t> all(64);
    for (int64_t i = 0; i < 64; ++i) all[i] = i;
    std::vector<float> c(r.size());
    cpu::write_slots_fp8(c.data(), all.data(), r.data(), 64, 2, 4);
    for (size_t i = 0; i < r.size(); i += 4) {
        float amax = 0;
        for (int e = 0; e < 4; ++e) amax = std::max(amax, std::fabs(r[i + e]));
        const float s = kv_fp8_scale(amax);
        for (int e = 0; e < 4; ++e) {
            EXPECT_LE(std::fabs(c[i + e] - r[i + e]),
                      std::max(std::fabs(r[i + e]) / 16.0f, s * std::ldexp(1.0f, -10)))
                << i + e;
            EXPECT_EQ(e4m3_to_f32(f32_to_e4m3_sat(c[i + e] / s)) * s, c[i + e]);
        }
    }
}

}  // namespace
}  // namespace autoglm
