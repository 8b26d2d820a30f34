// Glm4vVisionModel::forward on the CPU ops.
#include "model/glm4v/vision_model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/ops.h"

namespace autoglm {
namespace {

// Cubic-convolution weights of PyTorch's bicubic grid_sample (A = -0.75) for taps -1, 0, 1, 2.
std::array<float, 4> cubic_weights(float t) {
    constexpr float A = -0.75f;
    auto near = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };
    auto far = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };
    return {far(t + 1), near(t), near(1 - t), far(2 - t)};
}

}  // namespace

Glm4vVisionModel::Glm4vVisionModel(const Glm4vVisionConfig& config, const VisionWeights& weights)
    : config_(config), weights_(weights) {
    const int64_t dim = config.head_dim() / 2;  // rotary width per axis pair set
    for (int64_t k = 0; k < dim / 2; ++k)
        inv_freq_.push_back(
            1.0f / std::pow(10000.0f, static_cast<float>(2 * k) / static_cast<float>(dim)));
}

std::vector<std::array<int64_t, 2>> vision_patch_coordinates(const ImageGrid& g, int64_t m) {
    std::vector<std::array<int64_t, 2>> out;
    out.reserve(static_cast<size_t>(g.num_patches()));
    for (int64_t t = 0; t < g.t; ++t)
        for (int64_t a = 0; a < g.h / m; ++a)
            for (int64_t b = 0; b < g.w / m; ++b)
                for (int64_t dy = 0; dy < m; ++dy)
                    for (int64_t dx = 0; dx < m; ++dx) out.push_back({a * m + dy, b * m + dx});
    return out;
}

void Glm4vVisionModel::add_position_embeddings(float* x, std::span<const ImageGrid> grids) const {
    const int64_t hidden = config_.hidden_size;
    const int64_t side = config_.image_size / config_.patch_size;  // 24 for the real model
    std::vector<float> table(static_cast<size_t>(side * side * hidden));
    to_f32(weights_.position_embedding.dtype, weights_.position_embedding.data, table.data(),
           table.size());
    auto clamp = [side](int64_t i) { return std::clamp<int64_t>(i, 0, side - 1); };
    for (const ImageGrid& g : grids) {
        for (const auto& [ph, pw] : patch_coordinates(g)) {
            // align_corners = False source coordinates, border padding.
            const float u = (static_cast<float>(pw) + 0.5f) / static_cast<float>(g.w) * side - 0.5f;
            const float v = (static_cast<float>(ph) + 0.5f) / static_cast<float>(g.h) * side - 0.5f;
            const auto x0 = static_cast<int64_t>(std::floor(u));
            const auto y0 = static_cast<int64_t>(std::floor(v));
            const auto wx = cubic_weights(u - static_cast<float>(x0));
            const auto wy = cubic_weights(v - static_cast<float>(y0));
            for (int j = 0; j < 4; ++j)
                for (int i = 0; i < 4; ++i) {
                    const float w = wy[j] * wx[i];
                    const float* row =
                        table.data() + (clamp(y0 - 1 + j) * side + clamp(x0 - 1 + i)) * hidden;
                    for (int64_t c = 0; c < hidden; ++c) x[c] += w * row[c];
                }
            x += hidden;
        }
    }
}

void Glm4vVisionModel::block(int64_t index, float* x, int64_t n, std::span<const ImageGrid> grids,
                             const float* cos, const float* sin) const {
    const VisionBlockWeights& w = weights_.blocks[static_cast<size_t>(index)];
    const int64_t hidden = config_.hidden_size;
    const int64_t heads = config_.num_heads;
    const int64_t d = config_.head_dim();
    const auto eps = static_cast<float>(config_.rms_norm_eps);
    std::vector<float> h(static_cast<size_t>(n * hidden)), qkv(static_cast<size_t>(n * 3 * hidden));
    auto fp8_inputs = [&](float* in, int64_t cols) {
        if (fp8_block_inputs_) cpu::fp8_round_rows(in, n, cols);
    };
    cpu::rms_norm(x, w.norm1, n, hidden, eps, h.data());
    fp8_inputs(h.data(), hidden);
    cpu::linear(h.data(), n, w.qkv_weight, nullptr, qkv.data());
    std::vector<float> q(h.size()), k(h.size()), v(h.size());
    for (int64_t r = 0; r < n; ++r) {
        const float* src = qkv.data() + r * 3 * hidden;
        std::copy(src, src + hidden, q.data() + r * hidden);
        std::copy(src + hidden, src + 2 * hidden, k.data() + r * hidden);
        std::copy(src + 2 * hidden, src + 3 * hidden, v.data() + r * hidden);
    }
    cpu::rope_half_split(q.data(), n, heads, d, cos, sin);
    cpu::rope_half_split(k.data(), n, heads, d, cos, sin);
    int64_t start = 0;
    for (const ImageGrid& g : grids) {  // full attention inside each image only
        cpu::AttentionArgs a;
        a.q = q.data() + start * hidden, a.k_cache = k.data() + start * hidden;
        a.v_cache = v.data() + start * hidden, a.out = h.data() + start * hidden;
        a.num_queries = g.num_patches(), a.num_heads = heads, a.num_kv_heads = heads;
        a.head_dim = d, a.causal = false;
        a.scale = 1.0f / std::sqrt(static_cast<float>(d));
        cpu::attention(a);
        start += g.num_patches();
    }
    std::vector<float> proj(h.size());
    fp8_inputs(h.data(), hidden);
    cpu::linear(h.data(), n, w.proj_weight, nullptr, proj.data());
    cpu::add_inplace(x, proj.data(), n * hidden);
    cpu::rms_norm(x, w.norm2, n, hidden, eps, h.data());
    fp8_inputs(h.data(), hidden);
    const int64_t width = config_.out_hidden_size;
    std::vector<float> gate(static_cast<size_t>(n * width)), up(gate.size());
    cpu::linear(h.data(), n, w.gate_proj_weight, nullptr, gate.data());
    cpu::linear(h.data(), n, w.up_proj_weight, nullptr, up.data());
    cpu::silu_mul_separate(gate.data(), up.data(), n * width, gate.data());
    fp8_inputs(gate.data(), width);
    cpu::linear(gate.data(), n, w.down_proj_weight, nullptr, proj.data());
    cpu::add_inplace(x, proj.data(), n * hidden);
}

std::vector<float> Glm4vVisionModel::merge(const float* x, int64_t n) const {
    const int64_t hidden = config_.hidden_size;
    const int64_t group = config_.spatial_merge_size * config_.spatial_merge_size;
    const int64_t rows = n / group;
    const int64_t out = config_.out_hidden_size;
    // Downsample conv (k = s = merge) as a GEMM: window rows regrouped to (channel, dy, dx).
    std::vector<float> windows(static_cast<size_t>(n * hidden));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t p = 0; p < group; ++p)
            for (int64_t c = 0; c < hidden; ++c)
                windows[(r * hidden + c) * group + p] = x[(r * group + p) * hidden + c];
    const TensorView down{
        weights_.downsample_weight.dtype, {out, hidden * group}, weights_.downsample_weight.data};
    std::vector<float> z(static_cast<size_t>(rows * out)), t(z.size());
    cpu::linear(windows.data(), rows, down, &weights_.downsample_bias, z.data());
    cpu::linear(z.data(), rows, weights_.merger_proj_weight, nullptr, t.data());
    cpu::layer_norm(t.data(), weights_.merger_norm_weight, weights_.merger_norm_bias, rows, out,
                    1e-5f, t.data());
    cpu::gelu_erf_inplace(t.data(), rows * out);
    const int64_t inter = config_.intermediate_size;
    std::vector<float> gate(static_cast<size_t>(rows * inter)), up(gate.size());
    cpu::linear(t.data(), rows, weights_.merger_gate_proj_weight, nullptr, gate.data());
    cpu::linear(t.data(), rows, weights_.merger_up_proj_weight, nullptr, up.data());
    cpu::silu_mul_separate(gate.data(), up.data(), rows * inter, gate.data());
    cpu::linear(gate.data(), rows, weights_.merger_down_proj_weight, nullptr, z.data());
    return z;
}

std::vector<float> Glm4vVisionModel::forward(std::span<const float> pixel_values,
                                             std::span<const ImageGrid> grids,
                                             LayerObserver* obs) const {
    int64_t n = 0;
    for (const ImageGrid& g : grids) n += g.num_patches();
    const int64_t in_dim = config_.patch_input_dim();
    const int64_t hidden = config_.hidden_size;
    CHECK(static_cast<int64_t>(pixel_values.size()) == n * in_dim)
        << "pixel_values hold " << pixel_values.size() << " floats, grids need " << n * in_dim;
    const auto eps = static_cast<float>(config_.rms_norm_eps);
    const TensorView patch{
        weights_.patch_embed_weight.dtype, {hidden, in_dim}, weights_.patch_embed_weight.data};
    std::vector<float> x(static_cast<size_t>(n * hidden));
    cpu::linear(pixel_values.data(), n, patch, &weights_.patch_embed_bias, x.data());
    cpu::rms_norm(x.data(), weights_.post_conv_layernorm, n, hidden, eps, x.data());
    if (obs) obs->on_tensor("vision.post_conv_norm", x.data(), n, hidden);
    add_position_embeddings(x.data(), grids);
    if (obs) obs->on_tensor("vision.embeddings", x.data(), n, hidden);
    // 2-D rotary angles: first half of the pairs from the patch row, second half from the column.
    const int64_t half = config_.head_dim() / 2, quarter = half / 2;
    std::vector<float> cos(static_cast<size_t>(n * half)), sin(cos.size());
    int64_t r = 0;
    for (const ImageGrid& g : grids)
        for (const auto& [ph, pw] : patch_coordinates(g)) {
            for (int64_t k = 0; k < quarter; ++k) {
                const float row = static_cast<float>(ph) * inv_freq_[k];
                const float col = static_cast<float>(pw) * inv_freq_[k];
                cos[r * half + k] = std::cos(row), sin[r * half + k] = std::sin(row);
                cos[r * half + quarter + k] = std::cos(col),
                                         sin[r * half + quarter + k] = std::sin(col);
            }
            ++r;
        }
    for (int64_t b = 0; b < config_.depth; ++b) {
        block(b, x.data(), n, grids, cos.data(), sin.data());
        if (obs) obs->on_tensor(("vision.block." + std::to_string(b)).c_str(), x.data(), n, hidden);
    }
    cpu::rms_norm(x.data(), weights_.post_layernorm, n, hidden, eps, x.data());
    if (obs) obs->on_tensor("vision.post_norm", x.data(), n, hidden);
    std::vector<float> out = merge(x.data(), n);
    if (obs) obs->on_tensor("vision.merger", out.data(), n / 4, config_.out_hidden_size);
    return out;
}

}  // namespace autoglm
