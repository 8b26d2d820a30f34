// CudaGlm4vModel::run_layers: one step of the text decoder on the GPU, from the embeddings to
// the logits: per layer the qkv projection with M-RoPE and the KV write, attention (decode,
// prefill, or over the FP8 pool), the o projection and its norm, the MLP, the down projection's
// norm; the fused decode GEMVs, the FP8 GEMMs' folded passes and a tensor-parallel rank's
// all-reduces chosen per step. The rest of the forward is in cuda_model.cpp.
#include <cmath>
#include <string>

#include "core/cuda_check.h"
#include "model/glm4v/cuda_model.h"
#include "model/glm4v/cuda_model_internal.h"
#include "model/glm4v/tensor_parallel.h"

namespace autoglm {

void CudaGlm4vModel::run_layers(const Inputs& in, int64_t n, bool decode, LayerObserver* obs) {
    const auto& t = config_.text;
    const int64_t H = t.hidden_size, hd = t.head_dim();
    const int64_t heads = dims_.heads, kvh = dims_.kv_heads;
    const int64_t wqkv = (heads + 2 * kvh) * hd, I = dims_.inter;
    // Tensor parallelism: this rank's share is summed over the ranks after the o and down
    // projections (before the norm that follows each, so those are not fused into the GEMVs)
    // and after the embeddings; the logits are gathered.
    const bool tp = options_.tp_size > 1;
    cuda::Collectives* const coll = options_.collectives;
    const int rank = options_.tp_rank;
    const auto eps = static_cast<float>(t.rms_norm_eps);
    const int64_t slots = num_kv_blocks_ * options_.block_size;
    const int64_t layer_stride = 2 * slots * kvh * hd;
    const bool kv8 = options_.fp8_kv;
    // Where this step's K/V rows go first: the pool, or (FP8 pool) the staging rows.
    const int64_t* write_slots = kv8 ? kv_stage_slots_ : in.slots;
    cudaStream_t st = stream_;
    auto linear = [&](const bf16* x, int64_t m, const LinearWeight& w, int64_t out, int64_t k,
                      const bf16* bias, void* y, cuda::OutType type = cuda::OutType::kBf16) {
        cuda::LinearArgs a;
        a.x = x, a.m = m, a.n = out, a.k = k, a.bias = bias, a.y = y, a.out_type = type;
        w.set(a);
        gemm_->linear(a, st);
    };
    // Decode-sized steps (the GEMV path) fuse M-RoPE and the KV write into the qkv GEMV's
    // epilogue, SwiGLU into the gate/up GEMV's, and each sandwich norm into an extra block of the
    // o / down GEMV before it (norms folded into the GEMV prologues were measured slower: every
    // block repeats the reduction, docs/PERFORMANCE.md).
    const bool fuse = !obs && gemm_->uses_gemv(n, H);
    const bool fuse_norm = fuse && !tp && gemm_->uses_gemv(n, heads * hd) &&
                           gemm_->uses_gemv(n, I) && H % 8 == 0 && H <= cuda::kGemvNormMaxDim;
    // FP8 weights on steps the GEMMs take: each GEMM's input is quantized by the kernel that
    // writes it (the norms, SwiGLU; attention's output by a pass of its own) and its products
    // are scaled by the kernel that reads them (M-RoPE + KV write, the norms, SwiGLU), so the
    // FP8 GEMM adds no pass over memory of its own.
    const bool fp8_act = options_.fp8_weights && !gemm_->uses_gemv(n, H) && gate_up_grouped_ &&
                         H % 8 == 0 && H <= 8192 && hd % 8 == 0 && I <= cuda::kSiluMulFp8MaxWidth;
    const cuda::Fp8Rows xq = fp8_act ? gemm_->fp8_input() : cuda::Fp8Rows{};
    auto products = [&](const LinearWeight& w, int64_t out, int64_t k, const bf16* bias, bf16* y) {
        cuda::LinearArgs a;
        a.m = n, a.n = out, a.k = k, a.bias = bias, a.y = y;
        w.set(a);
        gemm_->fp8_products(a, st);
        return gemm_->products_of(a);
    };
    // The input norm of a layer (residual_ -> normed_, or its FP8 rows).
    auto input_norm = [&](const bf16* w_ln) {
        if (fp8_act)
            cuda::add_rms_norm_fp8(residual_, nullptr, {}, nullptr, w_ln, n, H, eps, xq, st);
        else
            cuda::add_rms_norm(residual_, nullptr, nullptr, w_ln, nullptr, n, H, eps, normed_, st);
    };
    // The o / down projection, then add_rms_norm(branch -> residual_, -> out): out is normed_
    // (or, on the FP8 path, its FP8 rows) or null.
    auto project_then_norm = [&](const bf16* x, const LinearWeight& w, int64_t k,
                                 const bf16* w_branch, const bf16* w_out, bf16* out) {
        if (fp8_act && tp) {
            // Each rank's products carry its own input scales: final values first, then the sum.
            const cuda::Fp8Products pr = products(w, H, k, nullptr, branch_);
            cuda::LinearArgs a;
            a.m = n, a.n = H, a.k = k, a.y = branch_;
            w.set(a);
            cuda::scale_fp8_products(a, pr.x_scale, st);
            coll->all_reduce_sum_bf16(rank, branch_, n * H, st);
            cuda::add_rms_norm_fp8(residual_, branch_, {}, w_branch, w_out, n, H, eps,
                                   out ? xq : cuda::Fp8Rows{}, st);
        } else if (fp8_act) {
            const cuda::Fp8Products pr = products(w, H, k, nullptr, branch_);
            cuda::add_rms_norm_fp8(residual_, branch_, pr, w_branch, w_out, n, H, eps,
                                   out ? xq : cuda::Fp8Rows{}, st);
        } else if (fuse_norm) {
            cuda::LinearArgs a;
            a.x = x, a.m = n, a.n = H, a.k = k, a.y = norm_branch_;
            w.set(a);
            cuda::NormTarget nt;
            nt.residual = residual_, nt.w_branch = w_branch, nt.w_out = w_out, nt.eps = eps;
            nt.out = out;
            cuda::gemv_add_rms_norm(a, nt, st);
        } else {
            linear(x, n, w, H, k, nullptr, branch_);
            if (tp) coll->all_reduce_sum_bf16(rank, branch_, n * H, st);
            cuda::add_rms_norm(residual_, branch_, w_branch, w_out, nullptr, n, H, eps, out, st);
        }
    };

    if (tp)
        cuda::embedding_slice(w_->embed, in.tokens, n, H, dims_.vocab_begin, dims_.vocab, residual_,
                              st);
    else
        cuda::embedding(w_->embed, in.tokens, n, H, residual_, st);
    if (in.num_image_rows > 0)
        cuda::scatter_rows(in.image_rows, in.image_dst, in.num_image_rows, H, residual_, st);
    if (tp) coll->all_reduce_sum_f32(rank, residual_, n * H, st);
    if (obs) detail::tap(obs, "embeddings", residual_, n, H, st);
    input_norm(w_->layers[0].input_ln);
    const int64_t layers = t.num_hidden_layers;
    for (int64_t l = 0; l < layers; ++l) {
        const Layer& L = w_->layers[static_cast<size_t>(l)];
        bf16* k_cache = kv8 ? kv_stage_ : static_cast<bf16*>(kv_pool_) + l * layer_stride;
        bf16* v_cache =
            kv8 ? kv_stage_ + options_.max_num_tokens * kvh * hd : k_cache + slots * kvh * hd;
        if (fuse) {
            cuda::LinearArgs a;
            a.x = normed_, a.m = n, a.n = wqkv, a.k = H, a.bias = L.qkv_b, a.y = qkv_;
            L.qkv.set(a);
            cuda::gemv_rope_kv(a, in.positions, rope_, heads, kvh, hd, write_slots, k_cache,
                               v_cache, st);
        } else if (fp8_act) {
            const cuda::Fp8Products pr = products(L.qkv, wqkv, H, L.qkv_b, qkv_);
            cuda::rope_kv_write(qkv_, n, in.positions, rope_, heads, kvh, hd, write_slots, k_cache,
                                v_cache, pr, st);
        } else {
            linear(normed_, n, L.qkv, wqkv, H, L.qkv_b, qkv_);
            cuda::rope_kv_write(qkv_, n, in.positions, rope_, heads, kvh, hd, write_slots, k_cache,
                                v_cache, st);
        }
        const cuda::KvFp8Layer pool8 = kv8 ? kv_fp8_layer(l) : cuda::KvFp8Layer{};
        if (kv8) cuda::quantize_kv_fp8(k_cache, v_cache, n, kvh, hd, in.slots, pool8, st);
        cuda::AttentionParams p;
        p.q = qkv_, p.q_stride = wqkv, p.k = k_cache, p.v = v_cache, p.kv_stride = kvh * hd;
        p.out = attn_, p.out_stride = heads * hd;
        p.q_start = in.q_start, p.kv_len = in.kv_len, p.block_tables = in.tables;
        p.max_blocks_per_seq = in.max_blocks, p.block_size = options_.block_size;
        p.num_seqs = in.num_seqs, p.heads = heads, p.kv_heads = kvh, p.head_dim = hd;
        p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
        p.causal = true;
        if (kv8) {
            cuda::AttentionParams d = p;  // decodes read the FP8 pool
            d.kv8 = pool8, d.k = nullptr, d.v = nullptr;
            d.q_start = decode ? nullptr : in.q_start;
            if (decode || in.decode_rows)
                cuda::decode_attention(d, in.max_kv_len, decode_partial_, st);
            const int64_t scratch_slots = kv_scratch_blocks_ * options_.block_size;
            cuda::AttentionParams f = p;  // the rest read their pages converted to bf16
            f.k = kv_scratch_, f.v = kv_scratch_ + scratch_slots * kvh * hd;
            f.block_tables = in.scratch_tables;
            for (const AttentionStepPlan::Group& g : in.kv_groups) {
                cuda::dequantize_kv_pages(pool8, in.pages + 2 * g.page0, g.pages,
                                          options_.block_size, kvh, hd, kv_scratch_,
                                          kv_scratch_ + scratch_slots * kvh * hd, st);
                if (cuda::hopper_causal_attention_supported(f))
                    cuda::prefill_attention_sm90_causal(f, in.work + g.work0, g.works, n,
                                                        scratch_slots, st);
                else
                    cuda::prefill_attention(f, in.work + g.work0, g.works, st);
            }
        } else if (decode) {
            cuda::AttentionParams d = p;
            d.q_start = nullptr;  // token s is sequence s
            cuda::decode_attention(d, in.max_kv_len, decode_partial_, st);
        } else if (cuda::hopper_causal_attention_supported(p)) {
            cuda::prefill_attention_sm90_causal(p, in.work, in.num_work, n, slots, st);
        } else {
            cuda::prefill_attention(p, in.work, in.num_work, st);
        }
        if (fp8_act) cuda::quantize_rows_fp8(attn_, n, heads * hd, xq.q, xq.scale, st);
        const bool next = l + 1 < layers;
        const bf16* next_ln = next ? w_->layers[static_cast<size_t>(l) + 1].input_ln : nullptr;
        // The MLP in one launch (FP8 GEMVs): the down projection stages act's values as the
        // gate/up blocks store them (into mlp_act_, the launch's own, empty between launches).
        // Its input comes in mlp_in_, not normed_, which the launch rewrites with the next
        // layer's input: no buffer is both read and written by it.
        cuda::LinearArgs mlp_gu, mlp_down;
        if (fuse_norm && gate_up_grouped_ && options_.fp8_weights) {
            mlp_gu.x = mlp_in_, mlp_gu.m = n, mlp_gu.n = 2 * I, mlp_gu.k = H, mlp_gu.y = mlp_act_;
            L.gate_up.set(mlp_gu);
            mlp_down.x = mlp_act_, mlp_down.m = n, mlp_down.n = H, mlp_down.k = I;
            mlp_down.y = norm_branch_;
            L.down.set(mlp_down);
        }
        const bool mlp_fused = mlp_gu.w_fp8 && cuda::gemv_mlp_fp8_supported(mlp_gu, mlp_down);
        project_then_norm(attn_, L.o, heads * hd, L.post_self_attn, L.post_attention,
                          mlp_fused ? mlp_in_ : normed_);
        if (mlp_fused) {
            cuda::NormTarget nt;
            nt.residual = residual_, nt.w_branch = L.post_mlp, nt.eps = eps;
            nt.w_out = next ? next_ln : nullptr, nt.out = next ? normed_ : nullptr;
            cuda::gemv_mlp_fp8(mlp_gu, mlp_down, nt, st);
            continue;
        }
        if (fuse && gate_up_grouped_) {
            cuda::LinearArgs a;
            a.x = normed_, a.m = n, a.n = 2 * I, a.k = H, a.y = act_;
            L.gate_up.set(a);
            cuda::gemv_silu_pairs(a, st);
        } else if (fp8_act) {
            const cuda::Fp8Products pr = products(L.gate_up, 2 * I, H, nullptr, gate_up_);
            cuda::silu_mul_grouped4_fp8(gate_up_, pr, n, I, xq, st);
        } else {
            linear(normed_, n, L.gate_up, 2 * I, H, nullptr, gate_up_);
            if (gate_up_grouped_)
                cuda::silu_mul_grouped4(gate_up_, n, I, act_, st);
            else
                cuda::silu_mul(gate_up_, n, I, act_, st);
        }
        // The residual after the MLP, then (but after the last layer) the next layer's input
        // norm; the observer's tap wants the residual between the two.
        project_then_norm(act_, L.down, I, L.post_mlp, obs ? nullptr : next_ln,
                          obs || !next ? nullptr : normed_);
        if (obs) {
            detail::tap(obs, ("layer." + std::to_string(l)).c_str(), residual_, n, H, st);
            if (next) input_norm(next_ln);
        }
    }
    cuda::add_rms_norm(residual_, nullptr, nullptr, w_->norm, in.logits_rows, in.num_logits, H, eps,
                       rows_normed_, st);
    if (obs) detail::tap_bf16(obs, "final_norm", rows_normed_, in.num_logits, H, st);
    if (tp) {  // this rank's vocabulary columns, then everyone's side by side
        const int64_t rows = in.num_logits, part = rows * dims_.vocab;
        linear(rows_normed_, rows, w_->lm_head, dims_.vocab, H, nullptr, logits_part_,
               cuda::OutType::kF32);
        if (rows > 0) coll->all_gather_f32(rank, logits_part_, logits_gather_, part, st);
        for (int r = 0; rank == 0 && rows > 0 && r < options_.tp_size; ++r)
            CUDA_CHECK(
                cudaMemcpy2DAsync(logits_ + r * dims_.vocab, static_cast<size_t>(t.vocab_size) * 4,
                                  logits_gather_ + r * part, static_cast<size_t>(dims_.vocab) * 4,
                                  static_cast<size_t>(dims_.vocab) * 4, static_cast<size_t>(rows),
                                  cudaMemcpyDeviceToDevice, st));
    } else {
        linear(rows_normed_, in.num_logits, w_->lm_head, t.vocab_size, H, nullptr, logits_,
               cuda::OutType::kF32);
    }
    if (obs) detail::tap(obs, "logits", logits_, in.num_logits, t.vocab_size, st);
}

}  // namespace autoglm
