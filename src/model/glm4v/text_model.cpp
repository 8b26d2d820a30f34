// Glm4vTextModel::forward on the CPU ops, one layer at a time over all tokens of the step.
#include "model/glm4v/text_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/ops.h"
#include "model/glm4v/tensor_parallel.h"

namespace autoglm {

Glm4vTextModel::Glm4vTextModel(const Glm4vTextConfig& config, const Glm4vWeights& weights,
                               const TextShardDims& shard)
    : config_(config), weights_(weights), shard_(shard), rope_(config) {
    if (shard_.heads == 0) shard_.heads = config.num_attention_heads;
    if (shard_.kv_heads == 0) shard_.kv_heads = config.num_key_value_heads;
    if (shard_.intermediate == 0) shard_.intermediate = config.intermediate_size;
    if (shard_.vocab_end == 0) shard_.vocab_end = config.vocab_size;
    CHECK(shard_.size == 1 || shard_.group)
        << "a text shard of " << shard_.size << " needs a collective group";
}

void Glm4vTextModel::attention_block(int64_t layer, const float* x, const ForwardBatch& batch,
                                     const float* cos, const float* sin, PagedKvCache& cache,
                                     float* out) const {
    const TextLayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const auto n = static_cast<int64_t>(batch.token_ids.size());
    const int64_t d = config_.head_dim();
    const int64_t heads = shard_.heads, kv_heads = shard_.kv_heads;
    std::vector<float> q(static_cast<size_t>(n * heads * d));
    std::vector<float> k(static_cast<size_t>(n * kv_heads * d)), v(k.size());
    cpu::linear(x, n, w.q_proj_weight, &w.q_proj_bias, q.data());
    cpu::linear(x, n, w.k_proj_weight, &w.k_proj_bias, k.data());
    cpu::linear(x, n, w.v_proj_weight, &w.v_proj_bias, v.data());
    cpu::rope_interleaved(q.data(), n, heads, d, config_.rotary_dim(), cos, sin);
    cpu::rope_interleaved(k.data(), n, kv_heads, d, config_.rotary_dim(), cos, sin);
    cache.write(cache.k(layer), batch.slot_mapping.data(), k.data(), n);
    cache.write(cache.v(layer), batch.slot_mapping.data(), v.data(), n);
    std::vector<float> attn(q.size());
    cpu::PagedAttentionArgs args;
    args.q = q.data(), args.k_cache = cache.k(layer), args.v_cache = cache.v(layer);
    args.out = attn.data();
    args.query_start = batch.query_start.data(), args.seq_lens = batch.seq_lens.data();
    args.block_tables = batch.block_tables.data();
    args.num_seqs = static_cast<int64_t>(batch.seq_lens.size());
    args.max_blocks_per_seq = batch.max_blocks_per_seq, args.block_size = cache.block_size();
    args.num_heads = heads, args.num_kv_heads = kv_heads, args.head_dim = d;
    args.scale = 1.0f / std::sqrt(static_cast<float>(d));
    cpu::paged_attention(args);
    cpu::linear(attn.data(), n, w.o_proj_weight, nullptr, out);
}

void Glm4vTextModel::mlp_block(int64_t layer, const float* x, int64_t n, float* out) const {
    const TextLayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
    const int64_t inter = shard_.intermediate;
    std::vector<float> gate_up(static_cast<size_t>(n * 2 * inter));
    cpu::linear(x, n, w.gate_up_proj_weight, nullptr, gate_up.data());
    std::vector<float> act(static_cast<size_t>(n * inter));
    cpu::silu_mul(gate_up.data(), n, inter, act.data());
    cpu::linear(act.data(), n, w.down_proj_weight, nullptr, out);
}

void Glm4vTextModel::scatter_image_embeds(const ForwardBatch& args, float* x) const {
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

SingleSequenceBatch::SingleSequenceBatch(const TextForwardArgs& args, int64_t cached) {
    const auto n = static_cast<int64_t>(args.token_ids.size());
    for (int64_t i = 0; i < n; ++i) slots_.push_back(cached + i);
    for (int64_t i = args.all_logits ? 0 : n - 1; i < n; ++i)
        logits_rows_.push_back(static_cast<int32_t>(i));
    query_start_[1] = static_cast<int32_t>(n);
    seq_len_[0] = static_cast<int32_t>(cached + n);
    batch = ForwardBatch{args.token_ids,
                         args.positions,
                         slots_,
                         query_start_,
                         seq_len_,
                         block_table_,
                         1,
                         logits_rows_,
                         args.image_embeds,
                         args.image_token_id,
                         args.observer};
}

std::vector<float> Glm4vTextModel::forward(const TextForwardArgs& args, DenseKvCache& cache) const {
    const auto n = static_cast<int64_t>(args.token_ids.size());
    CHECK(n > 0) << "empty forward";
    CHECK(cache.length() + n <= cache.capacity())
        << "KV cache full: " << cache.length() << " + " << n << " > " << cache.capacity();
    const SingleSequenceBatch one(args, cache.length());
    auto logits = forward_batch(one.batch, cache.paged());
    cache.advance(n);
    return logits;
}

std::vector<float> Glm4vTextModel::forward_batch(const ForwardBatch& batch,
                                                 PagedKvCache& cache) const {
    const auto n = static_cast<int64_t>(batch.token_ids.size());
    CHECK(n > 0) << "empty forward";
    CHECK(batch.positions.size() == batch.token_ids.size() &&
          batch.slot_mapping.size() == batch.token_ids.size())
        << "one position and one slot per token";
    CHECK(batch.query_start.size() == batch.seq_lens.size() + 1 && batch.query_start.back() == n)
        << "query_start must cover every token";
    const int64_t hidden = config_.hidden_size;
    const auto eps = static_cast<float>(config_.rms_norm_eps);
    // Under tensor parallelism every shard holds the same residual stream; the first reports it.
    LayerObserver* obs = shard_.rank == 0 ? batch.observer : nullptr;
    auto all_reduce = [&](float* data, int64_t count) {
        if (shard_.size > 1) shard_.group->all_reduce_sum(shard_.rank, data, count);
    };

    std::vector<float> x(static_cast<size_t>(n * hidden));  // residual stream [n, hidden]
    if (shard_.size == 1) {
        cpu::embedding(weights_.embed_tokens, batch.token_ids, x.data());
    } else {
        // The shard's rows of the table: its tokens' rows, zeros for the others, then the sum.
        std::vector<int32_t> local(batch.token_ids.begin(), batch.token_ids.end());
        for (int32_t& id : local)
            id = id >= shard_.vocab_begin && id < shard_.vocab_end
                     ? static_cast<int32_t>(id - shard_.vocab_begin)
                     : 0;
        cpu::embedding(weights_.embed_tokens, local, x.data());
        for (int64_t i = 0; i < n; ++i) {
            const int32_t id = batch.token_ids[static_cast<size_t>(i)];
            if (id < shard_.vocab_begin || id >= shard_.vocab_end)
                std::fill_n(x.data() + i * hidden, hidden, 0.0f);
        }
        all_reduce(x.data(), n * hidden);
    }
    scatter_image_embeds(batch, x.data());
    if (obs) obs->on_tensor("embeddings", x.data(), n, hidden);

    const int64_t pairs = rope_.num_pairs();
    std::vector<float> cos(static_cast<size_t>(n * pairs)), sin(cos.size());
    rope_.compute(batch.positions, cos.data(), sin.data());

    std::vector<float> normed(x.size()), branch(x.size());
    for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
        const TextLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
        cpu::rms_norm(x.data(), w.input_layernorm, n, hidden, eps, normed.data());
        attention_block(l, normed.data(), batch, cos.data(), sin.data(), cache, branch.data());
        all_reduce(branch.data(), n * hidden);  // the o projection's partial sums
        cpu::rms_norm(branch.data(), w.post_self_attn_layernorm, n, hidden, eps, branch.data());
        cpu::add_inplace(x.data(), branch.data(), n * hidden);
        cpu::rms_norm(x.data(), w.post_attention_layernorm, n, hidden, eps, normed.data());
        mlp_block(l, normed.data(), n, branch.data());
        all_reduce(branch.data(), n * hidden);  // the down projection's partial sums
        cpu::rms_norm(branch.data(), w.post_mlp_layernorm, n, hidden, eps, branch.data());
        cpu::add_inplace(x.data(), branch.data(), n * hidden);
        if (obs) obs->on_tensor(("layer." + std::to_string(l)).c_str(), x.data(), n, hidden);
    }

    // Only the rows whose logits are wanted go through the final norm and lm_head.
    const auto rows = static_cast<int64_t>(batch.logits_indices.size());
    std::vector<float> picked(static_cast<size_t>(rows * hidden));
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t t = batch.logits_indices[static_cast<size_t>(r)];
        CHECK(t >= 0 && t < n) << "logits index " << t << " outside the batch";
        std::copy_n(x.data() + t * hidden, hidden, picked.data() + r * hidden);
    }
    cpu::rms_norm(picked.data(), weights_.norm, rows, hidden, eps, picked.data());
    if (obs) obs->on_tensor("final_norm", picked.data(), rows, hidden);
    std::vector<float> logits(static_cast<size_t>(rows * config_.vocab_size));
    if (shard_.size == 1) {
        cpu::linear(picked.data(), rows, weights_.lm_head, nullptr, logits.data());
    } else {  // the shard's columns of the vocabulary, gathered
        const int64_t cols = shard_.vocab_end - shard_.vocab_begin;
        std::vector<float> part(static_cast<size_t>(rows * cols));
        cpu::linear(picked.data(), rows, weights_.lm_head, nullptr, part.data());
        shard_.group->all_gather_columns(shard_.rank, part.data(), rows, shard_.vocab_begin, cols,
                                         config_.vocab_size, logits.data());
    }
    if (obs) obs->on_tensor("logits", logits.data(), rows, config_.vocab_size);
    return logits;
}

}  // namespace autoglm
