// GLM-4.1V configuration: plain structs with Hugging Face field names, parsed from config.json in
// either key format (transformers 4.5x rope_scaling or 5.x rope_parameters), plus validate().
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace autoglm {

struct Glm4vTextConfig {
    int64_t vocab_size = 151552;
    int64_t hidden_size = 4096;
    int64_t intermediate_size = 13696;
    int64_t num_hidden_layers = 40;
    int64_t num_attention_heads = 32;
    int64_t num_key_value_heads = 2;
    double rms_norm_eps = 1e-5;
    double rope_theta = 10000.0;
    double partial_rotary_factor = 0.5;
    std::array<int64_t, 3> mrope_section = {8, 12, 12};  // frequency pairs for (t, h, w)
    int64_t max_position_embeddings = 65536;
    std::string hidden_act = "silu";

    // NOTE: transformers derives head_dim from hidden_size / num_attention_heads and ignores a
    // head_dim key for this model.
    int64_t head_dim() const { return hidden_size / num_attention_heads; }
    // One decoder layer's linear layers (q/k/v, o, gate/up, down): weights and output rows.
    int64_t linear_params_per_layer() const {
        const int64_t q = num_attention_heads * head_dim(), kv = num_key_value_heads * head_dim();
        return hidden_size * (q + 2 * kv) + q * hidden_size + 3 * hidden_size * intermediate_size;
    }
    int64_t linear_rows_per_layer() const {
        const int64_t q = num_attention_heads * head_dim(), kv = num_key_value_heads * head_dim();
        return q + 2 * kv + hidden_size + 2 * intermediate_size + hidden_size;
    }
    int64_t rotary_dim() const {
        return static_cast<int64_t>(static_cast<double>(head_dim()) * partial_rotary_factor);
    }
    Status validate() const;
};

struct Glm4vVisionConfig {
    int64_t depth = 24;
    int64_t hidden_size = 1536;
    int64_t num_heads = 12;
    int64_t patch_size = 14;
    int64_t temporal_patch_size = 2;
    int64_t spatial_merge_size = 2;
    int64_t out_hidden_size = 4096;     // = text hidden size, and the width of each block's MLP
    int64_t intermediate_size = 13696;  // merger MLP width only
    int64_t image_size = 336;
    int64_t in_channels = 3;
    double rms_norm_eps = 1e-5;
    std::string hidden_act = "silu";

    int64_t head_dim() const { return hidden_size / num_heads; }
    int64_t num_position_embeddings() const {
        return (image_size / patch_size) * (image_size / patch_size);
    }
    int64_t patch_input_dim() const {  // 3 * 2 * 14 * 14 = 1176
        return in_channels * temporal_patch_size * patch_size * patch_size;
    }
    Status validate() const;
};

// Whether the CUDA backend's FP8 vision blocks (CudaModelOptions::fp8_vision) take this tower:
// hidden and MLP widths multiples of 16, hidden at most 8,192 (the folded norm kernels), MLP at
// most kFp8VisionMaxMlpWidth (the FP8 SwiGLU kernel).
constexpr int64_t kFp8VisionMaxMlpWidth = 16384;
bool fp8_vision_fits(const Glm4vVisionConfig& v);
// Whether an LM head of this many vocabulary rows (a tensor-parallel rank's share) can be held in
// FP8 (CudaModelOptions::fp8_lm_head): rows a multiple of 16, for the FP8 GEMM's scale pass and
// the GEMV's tiles; others stay bf16.
bool fp8_lm_head_fits(int64_t vocab_rows);

struct Glm4vConfig {
    Glm4vTextConfig text;
    Glm4vVisionConfig vision;
    bool tie_word_embeddings = false;
    int64_t image_token_id = 151343;
    int64_t image_start_token_id = 151339;
    int64_t image_end_token_id = 151340;
    int64_t video_token_id = 151344;
    int64_t video_start_token_id = 151341;
    int64_t video_end_token_id = 151342;
    std::vector<int64_t> eos_token_ids;  // from config.json (generation_config.json may add more)
    std::string dtype = "bfloat16";      // checkpoint dtype as declared
    // quantization_config.quant_method of a pre-quantized checkpoint ("fp8": its e4m3 weights
    // are dequantized to bf16 at load, loader/checkpoint.h), empty for float checkpoints.
    std::string quantization;

    Status validate() const;
};

// Parses config.json text. Errors name the offending key.
Result<Glm4vConfig> parse_glm4v_config(const std::string& json_text);
// Reads <dir>/config.json (and eos ids from <dir>/generation_config.json when present).
Result<Glm4vConfig> load_glm4v_config(const std::string& dir);

// Built-in shapes: "autoglm-phone-9b" (the released model) and "demo" (tiny, real token ids).
Result<Glm4vConfig> glm4v_preset(const std::string& name);
std::vector<std::string> glm4v_preset_names();
// True when `model` names a preset and is not also an existing folder.
bool is_glm4v_preset(const std::string& model);

// One-line human summary, e.g. for start-up logs.
std::string describe(const Glm4vConfig& config);

}  // namespace autoglm
