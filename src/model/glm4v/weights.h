// GLM-4.1V weights: one struct per layer kind and a single for_each_tensor list (name, shape,
// required, init) that loading, shape checks and the memory report all walk.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/tensor.h"
#include "loader/weight_source.h"
#include "model/glm4v/config.h"

namespace autoglm {

struct TextLayerWeights {
    TensorView input_layernorm;             // [hidden]
    TensorView q_proj_weight, q_proj_bias;  // [heads*head_dim, hidden], [heads*head_dim]
    TensorView k_proj_weight, k_proj_bias;  // [kv_heads*head_dim, hidden], [kv_heads*head_dim]
    TensorView v_proj_weight, v_proj_bias;
    TensorView o_proj_weight;             // [hidden, heads*head_dim], no bias
    TensorView post_self_attn_layernorm;  // norm of the attention output
    TensorView post_attention_layernorm;  // pre-MLP norm (despite its name)
    TensorView gate_up_proj_weight;       // [2*intermediate, hidden]: gate rows, then up rows
    TensorView down_proj_weight;          // [hidden, intermediate]
    TensorView post_mlp_layernorm;        // norm of the MLP output
};

struct VisionBlockWeights {
    TensorView norm1, norm2;      // RMSNorm [hidden]
    TensorView qkv_weight;        // [3*hidden, hidden], no bias
    TensorView proj_weight;       // [hidden, hidden]
    TensorView gate_proj_weight;  // [out_hidden, hidden]
    TensorView up_proj_weight;    // [out_hidden, hidden]
    TensorView down_proj_weight;  // [hidden, out_hidden]
};

struct VisionWeights {
    TensorView patch_embed_weight, patch_embed_bias;  // [hidden, C, T, P, P], [hidden]
    TensorView post_conv_layernorm;                   // RMSNorm [hidden]
    TensorView position_embedding;                    // [(image/patch)^2, hidden]
    std::vector<VisionBlockWeights> blocks;
    TensorView post_layernorm;                                  // RMSNorm [hidden]
    TensorView downsample_weight, downsample_bias;              // [out, hidden, m, m], [out]
    TensorView merger_proj_weight;                              // [out, out]
    TensorView merger_norm_weight, merger_norm_bias;            // LayerNorm [out]
    TensorView merger_gate_proj_weight, merger_up_proj_weight;  // [intermediate, out]
    TensorView merger_down_proj_weight;                         // [out, intermediate]
};

struct Glm4vWeights {
    TensorView embed_tokens;  // [vocab, hidden]
    std::vector<TextLayerWeights> layers;
    TensorView norm;     // final RMSNorm [hidden]
    TensorView lm_head;  // [vocab, hidden]; aliases embed_tokens when tied
    VisionWeights vision;
};

// How a checkpoint tensor lands in a backend's packed weights (the GPU's): its rows go, in list
// order, into the packed tensor `WeightSpec::packed` names (q, k and v weights into one, their
// biases into another, gate and up side by side), laid out as:
enum class PackLayout : uint8_t {
    kRows,          // as stored
    kGateUpGroups,  // [2 * I, K], gate rows then up rows: interleaved in groups of the backend's
                    // choosing (its decode GEMV applies SwiGLU to a block's own rows)
    kMergeColumns,  // [out, hidden, m, m] -> column (p * hidden + c) holds source (c * m*m + p)
};

struct WeightSpec {
    TensorRequest request;  // checkpoint name, expected shape, dummy init
    bool required = true;
    std::string packed;  // the packed tensor it goes to (its own name when alone)
    PackLayout layout = PackLayout::kRows;
};

// Calls visit(spec, slot) for every tensor of the model, in checkpoint order; sizes the layer and
// block vectors of `weights` first. The one list of names, shapes and packing rules.
void for_each_tensor(const Glm4vConfig& config, Glm4vWeights& weights,
                     const std::function<void(const WeightSpec&, TensorView&)>& visit);
// The same list over bound weights (their layer and block counts must match the config).
void for_each_tensor(const Glm4vConfig& config, const Glm4vWeights& weights,
                     const std::function<void(const WeightSpec&, const TensorView&)>& visit);

struct WeightReport {
    uint64_t text_bytes = 0;
    uint64_t vision_bytes = 0;
    int64_t num_tensors = 0;
    int64_t text_params = 0;
    int64_t vision_params = 0;
    std::vector<std::string> unused;  // names the source holds that the model does not use
};

// Bytes and parameter counts the weights list needs at `bytes_per_param` (no source needed).
WeightReport plan_weights(const Glm4vConfig& config, double bytes_per_param);

// Called after each tensor is bound: (tensors done, tensors in all).
using BindProgress = std::function<void(int64_t, int64_t)>;
// Binds every tensor from `source`; errors name the tensor (missing, wrong shape, bad dtype).
Result<Glm4vWeights> bind_weights(const Glm4vConfig& config, WeightSource& source,
                                  WeightReport* report = nullptr,
                                  const BindProgress& progress = {});

}  // namespace autoglm
