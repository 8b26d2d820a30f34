// Glm4vTextModel::forward on the CPU ops, one layer at a time over all tokens of the step.
#include "model/glm4v/text_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/ops.h"

namespace autoglm {

DenseKvCache::DenseKvCache(const Glm4vTextConfig& config, int64_t capacity)
    : capacity_(capacity), row_floats_(config.num_key_value_heads * config.head_dim()) {
    const size_t layers = static_cast<size_t>(config.num_hidden_layers);
    k_.assign(layers, std::vector<float>(static_cast<size_t>(capacity * row_floats_)));
    v_.assign(layers, std::vector<float>(static_cast<size_t>(capacity * row_floats_)));
}

Glm4vTextModel::Glm4vTextModel(const Glm4vTextConfig& config, const Glm4vWeights& weights)
    : config_(config), weights_(weights), rope_(config) {}

void Glm4vTextModel::attention_block(int64_t layer, const float* x, int64_t n, const float* cos,
                                     const float* sin, DenseKvCache& cache, float* out) const {
    const TextLayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const int64_t d = config_.head_dim();
    const int64_t heads = config_.num_attention_heads;
    const int64_t kv_heads = config_.num_key_value_heads;
    const int64_t start = cache.length();
    std::vector<float> q(static_cast<size_t>(n * heads * d));
    float* k = cache.k(layer) + start * cache.row_floats();  // written in place
    float* v = cache.v(layer) + start * cache.row_floats();
    cpu::linear(x, n, w.q_proj_weight, &w.q_proj_bias, q.data());
    cpu::linear(x, n, w.k_proj_weight, &w.k_proj_bias, k);
    cpu::linear(x, n, w.v_proj_weight, &w.v_proj_bias, v);
    cpu::rope_interleaved(q.data(), n, heads, d, config_.rotary_dim(), cos, sin);
    cpu::rope_interleaved(k, n, kv_heads, d, config_.rotary_dim(), cos, sin);
    std::vector<float> attn(static_cast<size_t>(n * heads * d));
    cpu::AttentionArgs args;
    args.q = q.data();
    args.k_cache = cache.k(layer);
    args.v_cache = cache.v(layer);
    args.out = attn.data();
    args.num_queries = n;
    args.q_start = start;
    args.num_heads = heads;
    args.num_kv_heads = kv_heads;
    args.head_dim = d;
    args.scale = 1.0f / std::sqrt(static_cast<float>(d));
    cpu::attention(args);
    cpu::linear(attn.data(), n, w.o_proj_weight, nullptr, out);
}

void Glm4vTextModel::mlp_block(int64_t layer, const float* x, int64_t n, float* out) const {
    const TextLayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const int64_t inter = config_.intermediate_size;
    std::vector<float> gate_up(static_cast<size_t>(n * 2 * inter));
    cpu::linear(x, n, w.gate_up_proj_weight, nullptr, gate_up.data());
    std::vector<float> act(static_cast<size_t>(n * inter));
    cpu::silu_mul(gate_up.data(), n, inter, act.data());
    cpu::linear(act.data(), n, w.down_proj_weight, nullptr, out);
}

void Glm4vTextModel::scatter_image_embeds(const TextForwardArgs& args, float* x) const {
    const int64_t hidden = config_.hidden_size;
    size_t next = 0;
    for (size_t i = 0; i < args.token_ids.size(); ++i) {
        if (args.token_ids[i] != args.image_token_id || args.image_embeds.empty()) continue;
        CHECK((next + 1) * static_cast<size_t>(hidden) <= args.image_embeds.size())
            << "more image tokens than image embeddings";
        std::copy_n(args.image_embeds.data() + next * hidden, hidden, x + i * hidden);
        ++next;
    }
    CHECK(next * static_cast<size_t>(hidden) == args.image_embeds.size())
        << "image embeddings for " << args.image_embeds.size() / hidden << " tokens, prompt has "
        << next;
}

std::vector<float> Glm4vTextModel::forward(const TextForwardArgs& args, DenseKvCache& cache) const {
    const auto n = static_cast<int64_t>(args.token_ids.size());
    CHECK(n > 0) << "empty forward";
    CHECK(args.positions.size() == args.token_ids.size()) << "one position per token";
    CHECK(cache.length() + n <= cache.capacity())
        << "KV cache full: " << cache.length() << " + " << n << " > " << cache.capacity();
    const int64_t hidden = config_.hidden_size;
    const auto eps = static_cast<float>(config_.rms_norm_eps);
    LayerObserver* obs = args.observer;

    std::vector<float> x(static_cast<size_t>(n * hidden));  // residual stream [n, hidden]
    cpu::embedding(weights_.embed_tokens, args.token_ids, x.data());
    scatter_image_embeds(args, x.data());
    if (obs) obs->on_tensor("embeddings", x.data(), n, hidden);

    const int64_t pairs = rope_.num_pairs();
    std::vector<float> cos(static_cast<size_t>(n * pairs)), sin(cos.size());
    rope_.compute(args.positions, cos.data(), sin.data());

    std::vector<float> normed(x.size()), branch(x.size());
    for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
        const TextLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
        cpu::rms_norm(x.data(), w.input_layernorm, n, hidden, eps, normed.data());
        attention_block(l, normed.data(), n, cos.data(), sin.data(), cache, branch.data());
        cpu::rms_norm(branch.data(), w.post_self_attn_layernorm, n, hidden, eps, branch.data());
        cpu::add_inplace(x.data(), branch.data(), n * hidden);
        cpu::rms_norm(x.data(), w.post_attention_layernorm, n, hidden, eps, normed.data());
        mlp_block(l, normed.data(), n, branch.data());
        cpu::rms_norm(branch.data(), w.post_mlp_layernorm, n, hidden, eps, branch.data());
        cpu::add_inplace(x.data(), branch.data(), n * hidden);
        if (obs) obs->on_tensor(("layer." + std::to_string(l)).c_str(), x.data(), n, hidden);
    }
    cache.advance(n);

    // Only the rows whose logits are wanted go through the final norm and lm_head.
    const int64_t first = args.all_logits ? 0 : n - 1;
    const int64_t rows = n - first;
    cpu::rms_norm(x.data() + first * hidden, weights_.norm, rows, hidden, eps, normed.data());
    if (obs) obs->on_tensor("final_norm", normed.data(), rows, hidden);
    std::vector<float> logits(static_cast<size_t>(rows * config_.vocab_size));
    cpu::linear(normed.data(), rows, weights_.lm_head, nullptr, logits.data());
    if (obs) obs->on_tensor("logits", logits.data(), rows, config_.vocab_size);
    return logits;
}

}  // namespace autoglm
