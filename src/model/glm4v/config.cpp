// config.json -> Glm4vConfig. Accepts transformers 4.5x keys (rope_theta, partial_rotary_factor
// and rope_scaling.mrope_section inside text_config) and 5.x keys (text_config.rope_parameters).
#include "model/glm4v/config.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/file.h"
#include "core/logging.h"

namespace autoglm {
namespace {

using nlohmann::json;

// Reads typed fields of one JSON object; the first type error is kept and reported by key path.
class FieldReader {
  public:
    FieldReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

    void get(const char* key, int64_t& out) {
        const json* v = find(key);
        if (!v) return;
        if (!v->is_number_integer()) return fail(key, "an integer");
        out = v->get<int64_t>();
    }
    void get(const char* key, double& out) {
        const json* v = find(key);
        if (!v) return;
        if (!v->is_number()) return fail(key, "a number");
        out = v->get<double>();
    }
    void get(const char* key, bool& out) {
        const json* v = find(key);
        if (!v) return;
        if (!v->is_boolean()) return fail(key, "true or false");
        out = v->get<bool>();
    }
    void get(const char* key, std::string& out) {
        const json* v = find(key);
        if (!v) return;
        if (!v->is_string()) return fail(key, "a string");
        out = v->get<std::string>();
    }
    // An integer or a list of integers (HF's eos_token_id), appended to `out`.
    void get_id_list(const char* key, std::vector<int64_t>& out) {
        const json* v = find(key);
        if (!v) return;
        if (v->is_number_integer()) return out.push_back(v->get<int64_t>());
        if (!v->is_array()) return fail(key, "an integer or a list of integers");
        for (const json& e : *v) {
            if (!e.is_number_integer()) return fail(key, "a list of integers");
            out.push_back(e.get<int64_t>());
        }
    }
    void get_mrope(const char* key, std::array<int64_t, 3>& out) {
        const json* v = find(key);
        if (!v) return;
        if (!v->is_array() || v->size() != 3) return fail(key, "a list of 3 integers");
        for (size_t i = 0; i < 3; ++i) {
            if (!(*v)[i].is_number_integer()) return fail(key, "a list of 3 integers");
            out[i] = (*v)[i].get<int64_t>();
        }
    }
    const json* find(const char* key) const {
        const auto it = object_.find(key);
        return it == object_.end() || it->is_null() ? nullptr : &*it;
    }
    const Status& status() const { return status_; }

  private:
    void fail(const char* key, const char* expected) {
        if (status_.ok())
            status_ = Error{"config.json: " + path_ + key + " must be " + expected + ", got " +
                            object_.at(key).dump()};
    }
    const json& object_;
    std::string path_;
    Status status_;
};

Status parse_rope(const json& text, Glm4vTextConfig& cfg) {
    FieldReader r(text, "text_config.");
    std::optional<double> partial;
    if (r.find("partial_rotary_factor")) partial = 0.0, r.get("partial_rotary_factor", *partial);
    r.get("rope_theta", cfg.rope_theta);
    std::string rope_type = "default";
    // 5.x: everything in rope_parameters; 4.5x: rope_scaling holds the type and mrope_section.
    for (const char* key : {"rope_parameters", "rope_scaling"}) {
        const json* sub = r.find(key);
        if (!sub) continue;
        if (!sub->is_object())
            return Error{std::string("config.json: text_config.") + key + " must be an object"};
        FieldReader s(*sub, std::string("text_config.") + key + ".");
        s.get("rope_theta", cfg.rope_theta);
        if (s.find("partial_rotary_factor"))
            partial = 0.0, s.get("partial_rotary_factor", *partial);
        s.get_mrope("mrope_section", cfg.mrope_section);
        s.get("type", rope_type);
        s.get("rope_type", rope_type);
        if (!s.status().ok()) return s.status();
    }
    if (!r.status().ok()) return r.status();
    if (rope_type != "default" && rope_type != "mrope")
        return Error{"config.json: unsupported text rope type '" + rope_type +
                     "' (GLM-4.1V uses 'default')"};
    if (partial) {
        cfg.partial_rotary_factor = *partial;
    } else {
        // NOTE: transformers 5 would fall back to 1.0 (rotate all dims); every GLM-4.1V
        // checkpoint rotates half, so that is our default.
        LOG_WARNING << "config.json has no partial_rotary_factor; using 0.5 (GLM-4.1V)";
    }
    return {};
}

Status parse_text(const json& text, Glm4vTextConfig& cfg) {
    FieldReader r(text, "text_config.");
    r.get("vocab_size", cfg.vocab_size);
    r.get("hidden_size", cfg.hidden_size);
    r.get("intermediate_size", cfg.intermediate_size);
    r.get("num_hidden_layers", cfg.num_hidden_layers);
    r.get("num_attention_heads", cfg.num_attention_heads);
    r.get("num_key_value_heads", cfg.num_key_value_heads);
    r.get("rms_norm_eps", cfg.rms_norm_eps);
    r.get("max_position_embeddings", cfg.max_position_embeddings);
    r.get("hidden_act", cfg.hidden_act);
    if (!r.status().ok()) return r.status();
    return parse_rope(text, cfg);
}

Status parse_vision(const json& vision, Glm4vVisionConfig& cfg) {
    FieldReader r(vision, "vision_config.");
    r.get("depth", cfg.depth);
    r.get("hidden_size", cfg.hidden_size);
    r.get("num_heads", cfg.num_heads);
    r.get("patch_size", cfg.patch_size);
    r.get("temporal_patch_size", cfg.temporal_patch_size);
    r.get("spatial_merge_size", cfg.spatial_merge_size);
    r.get("out_hidden_size", cfg.out_hidden_size);
    r.get("intermediate_size", cfg.intermediate_size);
    r.get("image_size", cfg.image_size);
    r.get("in_channels", cfg.in_channels);
    r.get("rms_norm_eps", cfg.rms_norm_eps);
    r.get("hidden_act", cfg.hidden_act);
    return r.status();
}

Status parse_top_level(const json& root, Glm4vConfig& cfg) {
    FieldReader r(root, "");
    std::string model_type = "glm4v";
    r.get("model_type", model_type);
    if (r.status().ok() && model_type != "glm4v")
        return Error{"config.json: model_type '" + model_type +
                     "' is not supported (expected 'glm4v', GLM-4.1V / AutoGLM-Phone-9B)"};
    if (const json* arch = r.find("architectures"); arch && arch->is_array()) {
        bool found = false;
        for (const json& a : *arch)
            found |= a.is_string() && a.get<std::string>() == "Glm4vForConditionalGeneration";
        if (!found)
            return Error{"config.json: architectures " + arch->dump() +
                         " does not include Glm4vForConditionalGeneration"};
    }
    // Pre-quantized checkpoints: FP8 in vLLM's layout (the loader dequantizes its e4m3 weights
    // with their scales, loader/checkpoint.h); other methods are refused here rather than at the
    // first tensor whose dtype they change.
    if (const json* q = r.find("quantization_config")) {
        if (!q->is_object()) return Error{"config.json: quantization_config must be an object"};
        const auto m = q->find("quant_method");
        const std::string method = m != q->end() && m->is_string() ? m->get<std::string>() : "";
        if (method != "fp8")
            return Error{"config.json: quantization_config.quant_method \"" + method +
                         "\" is not supported: weights must be F32, F16, BF16 or FP8 (\"fp8\", "
                         "e4m3 with a scale per tensor or per output channel)"};
        const auto block = q->find("weight_block_size");
        if (block != q->end() && !block->is_null())
            return Error{"config.json: quantization_config.weight_block_size " + block->dump() +
                         ": block-wise FP8 scales are not supported (per tensor and per output "
                         "channel are)"};
        const auto scheme = q->find("activation_scheme");
        const std::string act = scheme != q->end() && scheme->is_string()
                                    ? scheme->get<std::string>()
                                    : std::string("dynamic");
        if (act != "dynamic" && act != "static")
            return Error{"config.json: quantization_config.activation_scheme \"" + act +
                         "\" must be \"dynamic\" or \"static\""};
        cfg.quantization = "fp8";
    }
    r.get("tie_word_embeddings", cfg.tie_word_embeddings);
    r.get("image_token_id", cfg.image_token_id);
    r.get("image_start_token_id", cfg.image_start_token_id);
    r.get("image_end_token_id", cfg.image_end_token_id);
    r.get("video_token_id", cfg.video_token_id);
    r.get("video_start_token_id", cfg.video_start_token_id);
    r.get("video_end_token_id", cfg.video_end_token_id);
    r.get_id_list("eos_token_id", cfg.eos_token_ids);
    if (r.find("dtype"))
        r.get("dtype", cfg.dtype);
    else
        r.get("torch_dtype", cfg.dtype);
    return r.status();
}

}  // namespace

Result<Glm4vConfig> parse_glm4v_config(const std::string& json_text) {
    const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) return Error{"config.json: not valid JSON"};
    if (!root.is_object()) return Error{"config.json: not a JSON object"};
    Glm4vConfig cfg;
    if (Status s = parse_top_level(root, cfg); !s) return Error{s.error_message()};
    // 4.5x and 5.x both nest text_config; very early exports kept text fields at the top level.
    const auto text_it = root.find("text_config");
    const json& text = text_it != root.end() && text_it->is_object() ? *text_it : root;
    if (text_it != root.end() && !text_it->is_object())
        return Error{"config.json: text_config must be an object"};
    if (Status s = parse_text(text, cfg.text); !s) return Error{s.error_message()};
    if (const auto it = text.find("tie_word_embeddings"); it != text.end() && it->is_boolean())
        cfg.tie_word_embeddings = cfg.tie_word_embeddings || it->get<bool>();
    if (cfg.eos_token_ids.empty()) {
        FieldReader r(text, "text_config.");
        r.get_id_list("eos_token_id", cfg.eos_token_ids);
        if (!r.status().ok()) return Error{r.status().error_message()};
    }
    const auto vision_it = root.find("vision_config");
    if (vision_it == root.end() || !vision_it->is_object())
        return Error{"config.json: missing object vision_config"};
    if (Status s = parse_vision(*vision_it, cfg.vision); !s) return Error{s.error_message()};
    if (Status s = cfg.validate(); !s) return Error{s.error_message()};
    return cfg;
}

Result<Glm4vConfig> load_glm4v_config(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / "config.json").string();
    auto text = read_file(path);
    if (!text) return text.error();
    auto cfg = parse_glm4v_config(text.value());
    if (!cfg) return Error{path + ": " + cfg.error().message};
    const std::string gen_path = (std::filesystem::path(dir) / "generation_config.json").string();
    if (std::filesystem::exists(gen_path)) {
        auto gen_text = read_file(gen_path);
        const json gen = gen_text ? json::parse(gen_text.value(), nullptr, false) : json();
        if (!gen.is_object()) return Error{gen_path + ": not a valid JSON object"};
        FieldReader r(gen, "");
        std::vector<int64_t> eos;
        r.get_id_list("eos_token_id", eos);
        if (!r.status().ok()) return Error{gen_path + ": " + r.status().error_message()};
        if (!eos.empty()) cfg.value().eos_token_ids = eos;
    }
    return cfg;
}

std::string describe(const Glm4vConfig& c) {
    std::ostringstream ss;
    ss << "GLM-4.1V text: " << c.text.num_hidden_layers << " layers, hidden " << c.text.hidden_size
       << ", heads " << c.text.num_attention_heads << "/" << c.text.num_key_value_heads
       << " (head_dim " << c.text.head_dim() << ", rotary " << c.text.rotary_dim() << "), mlp "
       << c.text.intermediate_size << ", vocab " << c.text.vocab_size
       << "; vision: " << c.vision.depth << " blocks, hidden " << c.vision.hidden_size << ", heads "
       << c.vision.num_heads;
    if (!c.quantization.empty()) ss << "; " << c.quantization << " checkpoint";
    return ss.str();
}

}  // namespace autoglm
