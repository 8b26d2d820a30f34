// The GLM-4.1V weights list (names as in the Hugging Face checkpoint) and binding from a source.
#include "model/glm4v/weights.h"

#include <algorithm>
#include <set>
#include <type_traits>

#include "core/check.h"

namespace autoglm {
namespace {

using Visit = std::function<void(const WeightSpec&, TensorView&)>;
using ConstVisit = std::function<void(const WeightSpec&, const TensorView&)>;

// add(name, shape, init, slot[, required[, packed[, layout]]]) for either constness of weights.
template <typename Slot, typename V>
struct Lister {
    const V& visit;
    void operator()(const std::string& name, Shape shape, WeightInit init, Slot& slot,
                    bool required = true, std::string packed = {},
                    PackLayout layout = PackLayout::kRows) const {
        if (packed.empty()) packed = name;
        visit(WeightSpec{TensorRequest{name, std::move(shape), init}, required, std::move(packed),
                         layout},
              slot);
    }
};

template <typename Vec>
void size_to(Vec& v, int64_t n) {
    if constexpr (std::is_const_v<Vec>) {
        CHECK(static_cast<int64_t>(v.size()) == n)
            << "weights hold " << v.size() << ", config " << n;
    } else {
        v.resize(static_cast<size_t>(n));
    }
}

template <typename W, typename Add>
void list_text(const Glm4vTextConfig& t, bool tied, W& w, const Add& add) {
    const int64_t h = t.hidden_size;
    const int64_t q = t.num_attention_heads * t.head_dim();
    const int64_t kv = t.num_key_value_heads * t.head_dim();
    const int64_t inter = t.intermediate_size;
    const std::string lm = "model.language_model.";
    add(lm + "embed_tokens.weight", {t.vocab_size, h}, WeightInit::kEmbedding, w.embed_tokens);
    size_to(w.layers, t.num_hidden_layers);
    for (int64_t i = 0; i < t.num_hidden_layers; ++i) {
        auto& l = w.layers[static_cast<size_t>(i)];
        const std::string p = lm + "layers." + std::to_string(i) + ".";
        const std::string qkv_w = p + "self_attn.qkv.weight", qkv_b = p + "self_attn.qkv.bias";
        add(p + "input_layernorm.weight", {h}, WeightInit::kNorm, l.input_layernorm);
        add(p + "self_attn.q_proj.weight", {q, h}, WeightInit::kLinear, l.q_proj_weight, true,
            qkv_w);
        add(p + "self_attn.q_proj.bias", {q}, WeightInit::kBias, l.q_proj_bias, true, qkv_b);
        add(p + "self_attn.k_proj.weight", {kv, h}, WeightInit::kLinear, l.k_proj_weight, true,
            qkv_w);
        add(p + "self_attn.k_proj.bias", {kv}, WeightInit::kBias, l.k_proj_bias, true, qkv_b);
        add(p + "self_attn.v_proj.weight", {kv, h}, WeightInit::kLinear, l.v_proj_weight, true,
            qkv_w);
        add(p + "self_attn.v_proj.bias", {kv}, WeightInit::kBias, l.v_proj_bias, true, qkv_b);
        add(p + "self_attn.o_proj.weight", {h, q}, WeightInit::kLinear, l.o_proj_weight);
        add(p + "post_self_attn_layernorm.weight", {h}, WeightInit::kNorm,
            l.post_self_attn_layernorm);
        add(p + "post_attention_layernorm.weight", {h}, WeightInit::kNorm,
            l.post_attention_layernorm);
        add(p + "mlp.gate_up_proj.weight", {2 * inter, h}, WeightInit::kLinear,
            l.gate_up_proj_weight, true, "", PackLayout::kGateUpGroups);
        add(p + "mlp.down_proj.weight", {h, inter}, WeightInit::kLinear, l.down_proj_weight);
        add(p + "post_mlp_layernorm.weight", {h}, WeightInit::kNorm, l.post_mlp_layernorm);
    }
    add(lm + "norm.weight", {h}, WeightInit::kNorm, w.norm);
    add("lm_head.weight", {t.vocab_size, h}, WeightInit::kLinear, w.lm_head, !tied);
}

template <typename W, typename Add>
void list_vision(const Glm4vVisionConfig& v, W& w, const Add& add) {
    const int64_t h = v.hidden_size;
    const int64_t out = v.out_hidden_size;
    const int64_t m = v.spatial_merge_size;
    const std::string p = "model.visual.";
    add(p + "patch_embed.proj.weight",
        {h, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size}, WeightInit::kLinear,
        w.patch_embed_weight);
    add(p + "patch_embed.proj.bias", {h}, WeightInit::kBias, w.patch_embed_bias);
    add(p + "post_conv_layernorm.weight", {h}, WeightInit::kNorm, w.post_conv_layernorm);
    add(p + "embeddings.position_embedding.weight", {v.num_position_embeddings(), h},
        WeightInit::kEmbedding, w.position_embedding);
    size_to(w.blocks, v.depth);
    for (int64_t j = 0; j < v.depth; ++j) {
        auto& b = w.blocks[static_cast<size_t>(j)];
        const std::string bp = p + "blocks." + std::to_string(j) + ".";
        const std::string gate_up = bp + "mlp.gate_up.weight";
        add(bp + "norm1.weight", {h}, WeightInit::kNorm, b.norm1);
        add(bp + "norm2.weight", {h}, WeightInit::kNorm, b.norm2);
        add(bp + "attn.qkv.weight", {3 * h, h}, WeightInit::kLinear, b.qkv_weight);
        add(bp + "attn.proj.weight", {h, h}, WeightInit::kLinear, b.proj_weight);
        add(bp + "mlp.gate_proj.weight", {out, h}, WeightInit::kLinear, b.gate_proj_weight, true,
            gate_up);
        add(bp + "mlp.up_proj.weight", {out, h}, WeightInit::kLinear, b.up_proj_weight, true,
            gate_up);
        add(bp + "mlp.down_proj.weight", {h, out}, WeightInit::kLinear, b.down_proj_weight);
    }
    const std::string merger_gate_up = p + "merger.gate_up.weight";
    add(p + "post_layernorm.weight", {h}, WeightInit::kNorm, w.post_layernorm);
    add(p + "downsample.weight", {out, h, m, m}, WeightInit::kLinear, w.downsample_weight, true, "",
        PackLayout::kMergeColumns);
    add(p + "downsample.bias", {out}, WeightInit::kBias, w.downsample_bias);
    add(p + "merger.proj.weight", {out, out}, WeightInit::kLinear, w.merger_proj_weight);
    add(p + "merger.post_projection_norm.weight", {out}, WeightInit::kNorm, w.merger_norm_weight);
    add(p + "merger.post_projection_norm.bias", {out}, WeightInit::kBias, w.merger_norm_bias);
    add(p + "merger.gate_proj.weight", {v.intermediate_size, out}, WeightInit::kLinear,
        w.merger_gate_proj_weight, true, merger_gate_up);
    add(p + "merger.up_proj.weight", {v.intermediate_size, out}, WeightInit::kLinear,
        w.merger_up_proj_weight, true, merger_gate_up);
    add(p + "merger.down_proj.weight", {out, v.intermediate_size}, WeightInit::kLinear,
        w.merger_down_proj_weight);
}

bool is_vision(const std::string& name) {
    return name.rfind("model.visual.", 0) == 0;
}

}  // namespace

void for_each_tensor(const Glm4vConfig& config, Glm4vWeights& weights, const Visit& visit) {
    const Lister<TensorView, Visit> add{visit};
    list_text(config.text, config.tie_word_embeddings, weights, add);
    list_vision(config.vision, weights.vision, add);
}

void for_each_tensor(const Glm4vConfig& config, const Glm4vWeights& weights,
                     const ConstVisit& visit) {
    const Lister<const TensorView, ConstVisit> add{visit};
    list_text(config.text, config.tie_word_embeddings, weights, add);
    list_vision(config.vision, weights.vision, add);
}

WeightReport plan_weights(const Glm4vConfig& config, double bytes_per_param) {
    WeightReport report;
    Glm4vWeights scratch;
    for_each_tensor(config, scratch, [&](const WeightSpec& spec, TensorView&) {
        const int64_t n = shape_numel(spec.request.shape);
        ++report.num_tensors;
        (is_vision(spec.request.name) ? report.vision_params : report.text_params) += n;
    });
    report.text_bytes =
        static_cast<uint64_t>(static_cast<double>(report.text_params) * bytes_per_param);
    report.vision_bytes =
        static_cast<uint64_t>(static_cast<double>(report.vision_params) * bytes_per_param);
    return report;
}

Result<Glm4vWeights> bind_weights(const Glm4vConfig& config, WeightSource& source,
                                  WeightReport* report, const BindProgress& progress) {
    Glm4vWeights weights;
    WeightReport local;
    int64_t num_total = 0, num_done = 0;
    if (progress) {
        Glm4vWeights scratch;
        for_each_tensor(config, scratch, [&](const WeightSpec&, TensorView&) { ++num_total; });
    }
    std::set<std::string> used;
    Status status;
    for_each_tensor(config, weights, [&](const WeightSpec& spec, TensorView& slot) {
        if (!status.ok()) return;
        if (!spec.required && !source.contains(spec.request.name)) return;
        auto view = source.get(spec.request);
        if (!view) {
            status = view.error();
            return;
        }
        slot = view.value();
        used.insert(spec.request.name);
        ++local.num_tensors;
        const bool vision = is_vision(spec.request.name);
        (vision ? local.vision_bytes : local.text_bytes) += slot.nbytes();
        (vision ? local.vision_params : local.text_params) += slot.numel();
        if (progress) progress(++num_done, num_total);
    });
    if (!status.ok()) return Error{status.error_message()};
    if (weights.lm_head.empty()) weights.lm_head = weights.embed_tokens;  // tied embeddings
    for (const std::string& name : source.names())
        if (!used.count(name)) local.unused.push_back(name);
    if (report) *report = std::move(local);
    return weights;
}

}  // namespace autoglm
