// Glm4v*Config::validate(), fp8_vision_fits, fp8_lm_head_fits and the built-in presets.
#include <algorithm>
#include <filesystem>
#include <sstream>

#include "model/glm4v/config.h"

namespace autoglm {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 20;  // any width or vocab beyond this is a typo
constexpr int64_t kMaxLayers = 1024;

// Collects the first failed requirement as "<what>: <detail>".
class Checker {
  public:
    explicit Checker(std::string scope) : scope_(std::move(scope)) {}
    Checker& require(bool ok, const std::string& what) {
        if (!ok && status_.ok()) status_ = Error{"invalid config: " + scope_ + what};
        return *this;
    }
    Checker& dim(int64_t value, const char* name, int64_t max = kMaxDim) {
        std::ostringstream ss;
        ss << name << " = " << value << " must be in [1, " << max << "]";
        return require(value >= 1 && value <= max, ss.str());
    }
    Status status() const { return status_; }

  private:
    std::string scope_;
    Status status_;
};

}  // namespace

Status Glm4vTextConfig::validate() const {
    Checker c("text_config.");
    c.dim(vocab_size, "vocab_size", int64_t{1} << 24)
        .dim(hidden_size, "hidden_size")
        .dim(intermediate_size, "intermediate_size")
        .dim(num_hidden_layers, "num_hidden_layers", kMaxLayers)
        .dim(num_attention_heads, "num_attention_heads", 1024)
        .dim(num_key_value_heads, "num_key_value_heads", 1024);
    if (!c.status().ok()) return c.status();
    const int64_t rot = rotary_dim();
    const int64_t pairs = mrope_section[0] + mrope_section[1] + mrope_section[2];
    c.require(hidden_size % num_attention_heads == 0,
              "hidden_size must be a multiple of num_attention_heads")
        .require(num_attention_heads % num_key_value_heads == 0,
                 "num_attention_heads must be a multiple of num_key_value_heads")
        .require(head_dim() % 2 == 0, "head_dim must be even")
        .require(partial_rotary_factor > 0.0 && partial_rotary_factor <= 1.0,
                 "partial_rotary_factor must be in (0, 1]")
        .require(
            static_cast<double>(rot) == static_cast<double>(head_dim()) * partial_rotary_factor &&
                rot % 2 == 0,
            "head_dim * partial_rotary_factor must be an even integer")
        .require(mrope_section[0] >= 0 && mrope_section[1] >= 0 && mrope_section[2] >= 0,
                 "mrope_section entries must be >= 0")
        .require(2 * pairs == rot,
                 "2 * sum(mrope_section) = " + std::to_string(2 * pairs) +
                     " must equal head_dim * partial_rotary_factor = " + std::to_string(rot))
        .require(rms_norm_eps > 0.0 && rms_norm_eps < 1.0, "rms_norm_eps must be in (0, 1)")
        .require(rope_theta > 1.0, "rope_theta must be > 1")
        .require(hidden_act == "silu", "hidden_act '" + hidden_act + "' is not supported (silu)");
    return c.status();
}

Status Glm4vVisionConfig::validate() const {
    Checker c("vision_config.");
    c.dim(depth, "depth", kMaxLayers)
        .dim(hidden_size, "hidden_size")
        .dim(num_heads, "num_heads", 1024)
        .dim(patch_size, "patch_size", 1024)
        .dim(temporal_patch_size, "temporal_patch_size", 16)
        .dim(spatial_merge_size, "spatial_merge_size", 16)
        .dim(out_hidden_size, "out_hidden_size")
        .dim(intermediate_size, "intermediate_size")
        .dim(image_size, "image_size", 65536)
        .dim(in_channels, "in_channels", 4);
    if (!c.status().ok()) return c.status();
    c.require(hidden_size % num_heads == 0, "hidden_size must be a multiple of num_heads")
        .require(head_dim() % 4 == 0, "head_dim must be a multiple of 4 (2-D rotary)")
        .require(image_size % patch_size == 0, "image_size must be a multiple of patch_size")
        .require(rms_norm_eps > 0.0 && rms_norm_eps < 1.0, "rms_norm_eps must be in (0, 1)")
        .require(hidden_act == "silu", "hidden_act '" + hidden_act + "' is not supported (silu)");
    return c.status();
}

bool fp8_vision_fits(const Glm4vVisionConfig& v) {
    return v.hidden_size % 16 == 0 && v.hidden_size <= 8192 && v.out_hidden_size % 16 == 0 &&
           v.out_hidden_size <= kFp8VisionMaxMlpWidth;
}

bool fp8_lm_head_fits(int64_t vocab_rows) {
    return vocab_rows % 16 == 0;
}

Status Glm4vConfig::validate() const {
    if (Status s = text.validate(); !s) return s;
    if (Status s = vision.validate(); !s) return s;
    Checker c("");
    c.require(vision.out_hidden_size == text.hidden_size,
              "vision_config.out_hidden_size must equal text_config.hidden_size");
    const std::pair<const char*, int64_t> ids[] = {{"image_token_id", image_token_id},
                                                   {"image_start_token_id", image_start_token_id},
                                                   {"image_end_token_id", image_end_token_id},
                                                   {"video_token_id", video_token_id},
                                                   {"video_start_token_id", video_start_token_id},
                                                   {"video_end_token_id", video_end_token_id}};
    for (const auto& [name, id] : ids)
        c.require(id >= 0 && id < text.vocab_size,
                  std::string(name) + " = " + std::to_string(id) + " is outside the vocabulary");
    for (int64_t id : eos_token_ids)
        c.require(id >= 0, "eos_token_id " + std::to_string(id) + " is negative");
    return c.status();
}

std::vector<std::string> glm4v_preset_names() {
    return {"autoglm-phone-9b", "demo"};
}

bool is_glm4v_preset(const std::string& model) {
    const auto names = glm4v_preset_names();
    return std::find(names.begin(), names.end(), model) != names.end() &&
           !std::filesystem::is_directory(model);
}

Result<Glm4vConfig> glm4v_preset(const std::string& name) {
    Glm4vConfig cfg;  // the struct defaults are the released GLM-4.1V-9B / AutoGLM-Phone-9B shape
    cfg.eos_token_ids = {151329, 151336, 151338, 151348};
    if (name == "autoglm-phone-9b") return cfg;
    if (name == "demo") {
        // Tiny shapes with the real vocabulary and token ids, so the real tokenizer works on it.
        cfg.text.hidden_size = 128;
        cfg.text.intermediate_size = 384;
        cfg.text.num_hidden_layers = 2;
        cfg.text.num_attention_heads = 4;
        cfg.text.num_key_value_heads = 2;
        cfg.text.mrope_section = {2, 3, 3};  // head_dim 32, rotary 16 = 8 pairs
        cfg.text.max_position_embeddings = 8192;
        cfg.vision.depth = 2;
        cfg.vision.hidden_size = 64;
        cfg.vision.num_heads = 2;
        cfg.vision.out_hidden_size = 128;
        cfg.vision.intermediate_size = 256;
        return cfg;
    }
    std::string known;
    for (const auto& n : glm4v_preset_names()) known += (known.empty() ? "" : ", ") + n;
    return Error{"unknown model preset '" + name + "' (known: " + known + ")"};
}

}  // namespace autoglm
