// config.json parsing in both key formats, defaults, presets and validate() failures.
#include "model/glm4v/config.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/glm4v/weights.h"

namespace autoglm {
namespace {

using nlohmann::json;

// GLM-4.1V-9B's config as transformers 4.5x wrote it (rope keys inside text_config).
json v45_config() {
    return json::parse(R"({
      "architectures": ["Glm4vForConditionalGeneration"], "model_type": "glm4v",
      "image_token_id": 151343, "image_start_token_id": 151339, "image_end_token_id": 151340,
      "video_token_id": 151344, "video_start_token_id": 151341, "video_end_token_id": 151342,
      "torch_dtype": "bfloat16", "transformers_version": "4.53.0",
      "text_config": {
        "model_type": "glm4v_text", "vocab_size": 151552, "hidden_size": 4096,
        "intermediate_size": 13696, "num_hidden_layers": 40, "num_attention_heads": 32,
        "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
        "partial_rotary_factor": 0.5, "max_position_embeddings": 65536, "attention_bias": true,
        "hidden_act": "silu", "tie_word_embeddings": false,
        "eos_token_id": [151329, 151336, 151338, 151348], "pad_token_id": 151329,
        "rope_scaling": {"type": "default", "mrope_section": [8, 12, 12]}
      },
      "vision_config": {
        "depth": 24, "hidden_size": 1536, "num_heads": 12, "patch_size": 14,
        "temporal_patch_size": 2, "spatial_merge_size": 2, "out_hidden_size": 4096,
        "intermediate_size": 13696, "image_size": 336, "in_channels": 3,
        "rms_norm_eps": 1e-05, "hidden_act": "silu", "attention_bias": false
      }
    })");
}

// The same model as transformers 5.x writes it (rope_parameters).
json v5_config() {
    json c = v45_config();
    auto& t = c["text_config"];
    t.erase("rope_theta");
    t.erase("partial_rotary_factor");
    t.erase("rope_scaling");
    t["rope_parameters"] = json::parse(
        R"({"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
            "mrope_section": [8, 12, 12]})");
    c.erase("torch_dtype");
    c["dtype"] = "bfloat16";
    return c;
}

void expect_released_shape(const Glm4vConfig& c) {
    EXPECT_EQ(c.text.hidden_size, 4096);
    EXPECT_EQ(c.text.num_hidden_layers, 40);
    EXPECT_EQ(c.text.head_dim(), 128);
    EXPECT_EQ(c.text.rotary_dim(), 64);
    EXPECT_EQ(c.text.mrope_section, (std::array<int64_t, 3>{8, 12, 12}));
    EXPECT_DOUBLE_EQ(c.text.rope_theta, 10000.0);
    EXPECT_EQ(c.vision.depth, 24);
    EXPECT_EQ(c.vision.num_position_embeddings(), 576);
    EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{151329, 151336, 151338, 151348}));
    EXPECT_EQ(c.image_token_id, 151343);
    EXPECT_EQ(c.dtype, "bfloat16");
}

TEST(Config, ParsesTransformers45Format) {
    auto c = parse_glm4v_config(v45_config().dump());
    ASSERT_TRUE(c.ok()) << c.error_message();
    expect_released_shape(c.value());
}

TEST(Config, ParsesTransformers5Format) {
    auto c = parse_glm4v_config(v5_config().dump());
    ASSERT_TRUE(c.ok()) << c.error_message();
    expect_released_shape(c.value());
}

TEST(Config, PresetEqualsReleasedConfigAndCountsParameters) {
    auto preset = glm4v_preset("autoglm-phone-9b");
    ASSERT_TRUE(preset.ok());
    expect_released_shape(preset.value());
    const WeightReport plan = plan_weights(preset.value(), 2.0);
    // Spec §2: text ~9.40 B, vision ~0.89 B parameters.
    EXPECT_NEAR(static_cast<double>(plan.text_params) / 1e9, 9.40, 0.01);
    EXPECT_NEAR(static_cast<double>(plan.vision_params) / 1e9, 0.89, 0.02);
    EXPECT_EQ(plan.num_tensors, 3 + 40 * 13 + 13 + 24 * 7);
    ASSERT_TRUE(glm4v_preset("demo").ok());
    EXPECT_TRUE(glm4v_preset("demo").value().validate().ok());
    EXPECT_FALSE(glm4v_preset("nope").ok());
}

// The packing rules on the weights list (what a backend's upload walks): the parts of each
// packed tensor in list order under one layout, and the fusions and layouts the GPU forward
// expects.
TEST(WeightsList, PackedTensorsTheirPartsAndLayouts) {
    const Glm4vConfig config = glm4v_preset("autoglm-phone-9b").value();
    Glm4vWeights scratch;
    std::vector<std::pair<std::string, std::vector<std::string>>> runs;  // first-seen order
    std::map<std::string, size_t> index;
    std::map<std::string, PackLayout> layout;
    for_each_tensor(config, scratch, [&](const WeightSpec& spec, TensorView&) {
        const auto [it, fresh] = index.try_emplace(spec.packed, runs.size());
        if (fresh) {
            runs.push_back({spec.packed, {}});
            layout[spec.packed] = spec.layout;
        }
        EXPECT_EQ(layout[spec.packed], spec.layout) << spec.request.name;
        runs[it->second].second.push_back(spec.request.name);
    });
    const auto parts_of = [&](const std::string& name) {
        for (const auto& [n, parts] : runs)
            if (n == name) return parts;
        return std::vector<std::string>{};
    };
    const std::string l7 = "model.language_model.layers.7.";
    EXPECT_EQ(
        parts_of(l7 + "self_attn.qkv.weight"),
        (std::vector<std::string>{l7 + "self_attn.q_proj.weight", l7 + "self_attn.k_proj.weight",
                                  l7 + "self_attn.v_proj.weight"}));
    EXPECT_EQ(parts_of(l7 + "self_attn.qkv.bias").size(), 3u);
    EXPECT_EQ(layout[l7 + "mlp.gate_up_proj.weight"], PackLayout::kGateUpGroups);
    const std::string b3 = "model.visual.blocks.3.";
    EXPECT_EQ(parts_of(b3 + "mlp.gate_up.weight"),
              (std::vector<std::string>{b3 + "mlp.gate_proj.weight", b3 + "mlp.up_proj.weight"}));
    EXPECT_EQ(parts_of("model.visual.merger.gate_up.weight").size(), 2u);
    EXPECT_EQ(layout["model.visual.downsample.weight"], PackLayout::kMergeColumns);
    EXPECT_EQ(layout["model.visual.blocks.3.attn.qkv.weight"], PackLayout::kRows);
    // 40 layers x 9 (q/k/v weights and biases fused: 13 - 4) + 3 text globals + 24 blocks x 6
    // (gate and up fused) + 12 vision globals (13, the merger's gate and up fused).
    EXPECT_EQ(runs.size(), 40u * 9 + 3 + 24 * 6 + 12);
}

// vLLM's FP8 checkpoints declare themselves in quantization_config; the weights' scales are the
// loader's business (loader/checkpoint.h).
TEST(Config, Fp8CheckpointsAreRecognized) {
    for (const json& q : {json{{"quant_method", "fp8"}, {"activation_scheme", "dynamic"}},
                          json{{"quant_method", "fp8"},
                               {"activation_scheme", "static"},
                               {"ignored_layers", {"lm_head"}},
                               {"weight_block_size", nullptr}}}) {
        json c = v5_config();
        c["quantization_config"] = q;
        auto parsed = parse_glm4v_config(c.dump());
        ASSERT_TRUE(parsed.ok()) << parsed.error_message();
        EXPECT_EQ(parsed.value().quantization, "fp8");
        EXPECT_NE(describe(parsed.value()).find("fp8 checkpoint"), std::string::npos);
    }
    EXPECT_EQ(parse_glm4v_config(v5_config().dump()).value().quantization, "");
}

TEST(Config, MissingPartialRotaryFactorDefaultsToHalf) {
    json c = v5_config();
    c["text_config"]["rope_parameters"].erase("partial_rotary_factor");
    auto parsed = parse_glm4v_config(c.dump());
    ASSERT_TRUE(parsed.ok()) << parsed.error_message();
    EXPECT_EQ(parsed.value().text.rotary_dim(), 64);
}

struct BadConfig {
    const char* label;
    std::function<void(json&)> edit;
    const char* expected;
};

TEST(Config, InvalidConfigsGiveClearErrors) {
    const std::vector<BadConfig> cases = {
        {"mrope mismatch",
         [](json& c) {
             c["text_config"]["rope_parameters"]["mrope_section"] = {8, 12, 8};
         },
         "2 * sum(mrope_section) = 56 must equal head_dim * partial_rotary_factor = 64"},
        {"string dim", [](json& c) { c["text_config"]["hidden_size"] = "4096"; },
         "text_config.hidden_size must be an integer"},
        {"zero heads", [](json& c) { c["text_config"]["num_attention_heads"] = 0; },
         "num_attention_heads = 0 must be in"},
        {"gqa", [](json& c) { c["text_config"]["num_key_value_heads"] = 3; },
         "multiple of num_key_value_heads"},
        {"rope type", [](json& c) { c["text_config"]["rope_parameters"]["rope_type"] = "yarn"; },
         "unsupported text rope type 'yarn'"},
        {"model type", [](json& c) { c["model_type"] = "llama"; }, "model_type 'llama'"},
        {"arch", [](json& c) { c["architectures"] = {"LlamaForCausalLM"}; },
         "does not include Glm4vForConditionalGeneration"},
        {"no vision", [](json& c) { c.erase("vision_config"); }, "missing object vision_config"},
        {"out hidden", [](json& c) { c["vision_config"]["out_hidden_size"] = 2048; },
         "out_hidden_size must equal"},
        {"image id", [](json& c) { c["image_token_id"] = 999999; }, "image_token_id = 999999"},
        {"act", [](json& c) { c["text_config"]["hidden_act"] = "gelu"; }, "hidden_act 'gelu'"},
        {"huge vocab", [](json& c) { c["text_config"]["vocab_size"] = int64_t{1} << 40; },
         "vocab_size"},
        {"eos type", [](json& c) { c["text_config"]["eos_token_id"] = "x"; },
         "eos_token_id must be an integer or a list"},
        {"awq checkpoint",
         [](json& c) {
             c["quantization_config"] = {{"quant_method", "awq"}, {"bits", 4}};
         },
         "quant_method \"awq\" is not supported: weights must be F32, F16, BF16 or FP8"},
        {"block fp8",
         [](json& c) {
             c["quantization_config"] = {{"quant_method", "fp8"},
                                         {"weight_block_size", {128, 128}}};
         },
         "weight_block_size [128,128]: block-wise FP8 scales are not supported"},
        {"fp8 scheme",
         [](json& c) {
             c["quantization_config"] = {{"quant_method", "fp8"}, {"activation_scheme", "x"}};
         },
         "activation_scheme \"x\" must be \"dynamic\" or \"static\""},
        {"bad quantization", [](json& c) { c["quantization_config"] = "fp8"; },
         "quantization_config must be an object"},
    };
    for (const BadConfig& b : cases) {
        json c = v5_config();
        b.edit(c);
        auto parsed = parse_glm4v_config(c.dump());
        ASSERT_FALSE(parsed.ok()) << b.label;
        EXPECT_NE(parsed.error_message().find(b.expected), std::string::npos)
            << b.label << ": got '" << parsed.error_message() << "'";
    }
    EXPECT_FALSE(parse_glm4v_config("{").ok());
    EXPECT_FALSE(parse_glm4v_config("[]").ok());
}

}  // namespace
}  // namespace autoglm
