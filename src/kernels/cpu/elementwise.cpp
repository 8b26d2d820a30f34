// CPU reference: embedding gather, RMSNorm, SiLU-gated multiply, residual add, interleaved rotary.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/ops.h"

namespace autoglm::cpu {

void embedding(const TensorView& table, std::span<const int32_t> ids, float* out) {
    CHECK(table.shape.size() == 2) << "embedding table must be 2-D";
    const int64_t vocab = table.dim(0);
    const int64_t dim = table.dim(1);
    for (size_t i = 0; i < ids.size(); ++i) {
        CHECK(ids[i] >= 0 && ids[i] < vocab) << "token id " << ids[i] << " outside vocab " << vocab;
        to_f32(table.dtype, table.row(ids[i]), out + static_cast<int64_t>(i) * dim,
               static_cast<size_t>(dim));
    }
}

void rms_norm(const float* x, const TensorView& weight, int64_t rows, int64_t dim, float eps,
              float* out) {
    CHECK(weight.numel() == dim) << "rms_norm weight " << shape_to_string(weight.shape)
                                 << " vs dim " << dim;
    std::vector<float> w(static_cast<size_t>(dim));
    to_f32(weight.dtype, weight.data, w.data(), w.size());
    parallel_for(
        rows,
        [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; ++r) {
                const float* xr = x + r * dim;
                float* yr = out + r * dim;
                double sum = 0.0;
                for (int64_t j = 0; j < dim; ++j) sum += static_cast<double>(xr[j]) * xr[j];
                const float inv = 1.0f / std::sqrt(static_cast<float>(sum / dim) + eps);
                for (int64_t j = 0; j < dim; ++j) yr[j] = w[j] * (xr[j] * inv);
            }
        },
        8);
}

void silu_mul(const float* gate_up, int64_t rows, int64_t width, float* out) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* g = gate_up + r * 2 * width;
        const float* u = g + width;
        float* o = out + r * width;
        for (int64_t j = 0; j < width; ++j) o[j] = u[j] * (g[j] / (1.0f + std::exp(-g[j])));
    }
}

void fp8_round_rows(float* x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; ++r) {
        float* row = x + r * cols;
        float amax = 0.0f;
        for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(row[c]));
        const float scale = amax > 0.0f ? amax / 448.0f : 1.0f;
        const float inv = amax > 0.0f ? 448.0f / amax : 1.0f;
        for (int64_t c = 0; c < cols; ++c)
            row[c] = e4m3_to_f32(f32_to_e4m3_sat(row[c] * inv)) * scale;
    }
}

void add_inplace(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void rope_interleaved(float* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t rotary_dim,
                      const float* cos, const float* sin) {
    CHECK(rotary_dim % 2 == 0 && rotary_dim <= head_dim) << "bad rotary_dim " << rotary_dim;
    const int64_t pairs = rotary_dim / 2;
    for (int64_t r = 0; r < rows; ++r) {
        const float* c = cos + r * pairs;
        const float* s = sin + r * pairs;
        for (int64_t h = 0; h < heads; ++h) {
            float* v = x + (r * heads + h) * head_dim;
            for (int64_t i = 0; i < pairs; ++i) {
                const float a = v[2 * i];
                const float b = v[2 * i + 1];
                v[2 * i] = a * c[i] - b * s[i];
                v[2 * i + 1] = b * c[i] + a * s[i];
            }
        }
    }
}

void rope_half_split(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos,
                     const float* sin) {
    const int64_t half = head_dim / 2;
    for (int64_t r = 0; r < rows; ++r) {
        const float* c = cos + r * half;
        const float* s = sin + r * half;
        for (int64_t h = 0; h < heads; ++h) {
            float* v = x + (r * heads + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                const float a = v[i];
                const float b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}

void layer_norm(const float* x, const TensorView& gamma, const TensorView& beta, int64_t rows,
                int64_t dim, float eps, float* out) {
    std::vector<float> g(static_cast<size_t>(dim)), b(static_cast<size_t>(dim));
    to_f32(gamma.dtype, gamma.data, g.data(), g.size());
    to_f32(beta.dtype, beta.data, b.data(), b.size());
    parallel_for(rows, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const float* xr = x + r * dim;
            float* yr = out + r * dim;
            double mean = 0.0, var = 0.0;
            for (int64_t j = 0; j < dim; ++j) mean += xr[j];
            mean /= static_cast<double>(dim);
            for (int64_t j = 0; j < dim; ++j) var += (xr[j] - mean) * (xr[j] - mean);
            const auto inv =
                static_cast<float>(1.0 / std::sqrt(var / static_cast<double>(dim) + eps));
            const auto m = static_cast<float>(mean);
            for (int64_t j = 0; j < dim; ++j) yr[j] = (xr[j] - m) * inv * g[j] + b[j];
        }
    });
}

void gelu_erf_inplace(float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
}

void silu_mul_separate(const float* gate, const float* up, int64_t n, float* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = up[i] * (gate[i] / (1.0f + std::exp(-gate[i])));
}

}  // namespace autoglm::cpu
