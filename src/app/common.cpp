// Shared subcommand helpers.
#include "app/common.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>

#include "core/file.h"
#include "core/parallel.h"
#include "tokenizer/builtin.h"
#include "tokenizer/template_source.h"

namespace autoglm {

int fail(const std::string& message, int exit_code) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    return exit_code;
}

void add_model_flags(Flags& flags) {
    flags.add("model", "demo",
              "checkpoint folder (config.json + safetensors) or preset: demo, autoglm-phone-9b");
    flags.add_alias("model-config", "model",
                    "same as --model with a preset name (autoglm-phone-9b: the full shape with "
                    "dummy weights, for benchmarks)");
    flags.add("load-format", "auto",
              "auto | safetensors | dummy (random weights with the folder's config.json)");
    flags.add("seed", "0", "seed of dummy weights");
    flags.add("quantization", "none",
              "none | fp8: the text decoder's linear layers and its LM head (and the vision "
              "blocks', see --fp8-vision; --fp8-lm-head) stored as FP8 e4m3 with a scale per "
              "output channel, quantized at load "
              "(CUDA, sm_89 or newer: prefill GEMMs on the FP8 "
              "tensor cores with per-token activation scales; decode reads half the bytes). An "
              "FP8 checkpoint (quantization_config fp8) is read dequantized to bf16 and, with "
              "fp8, quantized again per output channel");
    flags.add("fp8-vision", "false",
              "the vision blocks' linear layers (qkv, proj, gate/up, down) as FP8 e4m3 per output "
              "channel, their inputs quantized per patch row (CUDA, sm_89 or newer): a "
              "screenshot's encoder GEMMs on the FP8 tensor cores. The patch embedding, the "
              "merger and attention stay bf16. Default: on with --quantization fp8 (as vLLM's "
              "fp8 quantizes the vision tower too; not for an FP8 checkpoint, whose tower is "
              "held as read), off otherwise; --fp8-vision=false keeps the tower bf16 under "
              "--quantization fp8, --fp8-vision alone quantizes only the tower",
              true);
    flags.add("fp8-lm-head", "false",
              "with --quantization fp8 (on by default there, but for an FP8 checkpoint, whose "
              "head is held as read): the LM head as FP8 e4m3 per output channel too, half of "
              "the 1.24 GB that every decode step streams at the full shape; "
              "--fp8-lm-head=false keeps it bf16, as vLLM does. A head tied to the embeddings "
              "stays bf16",
              true);
    flags.add("fp8-fast-accum", "false",
              "FP8 GEMMs (--quantization fp8, --fp8-vision) with cuBLASLt's fast accumulation: "
              "the tensor cores' partial sums are not promoted to f32 every few k-steps (faster, "
              "less exact); off by default",
              true);
    flags.add("threads", "0", "CPU worker threads (0 = all cores)");
    flags.add("help", "", "show this help", /*is_switch=*/true);
}

int parse_or_exit(Flags& flags, const std::vector<std::string>& args) {
    if (Status s = flags.parse(args); !s) {
        std::fprintf(stderr, "error: %s\n", s.error_message().c_str());
        return kExitUsage;
    }
    if (flags.enabled("help")) {
        std::fputs(flags.help().c_str(), stdout);
        return 0;
    }
    return -1;
}

Result<bool> fp8_weights_from_flags(const Flags& flags) {
    const std::string q = flags.get("quantization");
    if (q == "none" || q.empty()) return false;
    if (q == "fp8") return true;
    return Error{"--quantization must be none or fp8, got '" + q + "'"};
}

bool fp8_vision_from_flags(const Flags& flags, bool fp8_weights, const Glm4vConfig& config) {
    if (flags.has("fp8-vision")) return flags.enabled("fp8-vision");
    return fp8_weights && fp8_vision_fits(config.vision) && config.quantization.empty();
}

bool fp8_lm_head_from_flags(const Flags& flags, const Glm4vConfig& config) {
    if (flags.has("fp8-lm-head")) return flags.enabled("fp8-lm-head");
    return config.quantization.empty();
}

Result<bool> kv_cache_fp8_from_flags(const Flags& flags) {
    const std::string d = flags.get("kv-cache-dtype");
    if (d == "auto" || d.empty() || d == "bfloat16" || d == "bf16") return false;
    if (d == "fp8" || d == "fp8_e4m3") return true;
    if (d == "fp8_e5m2")
        return Error{
            "--kv-cache-dtype fp8_e5m2 is not supported: the FP8 KV cache is e4m3 "
            "(--kv-cache-dtype fp8)"};
    return Error{"--kv-cache-dtype must be auto, bfloat16, fp8 or fp8_e4m3, got '" + d + "'"};
}

Result<std::unique_ptr<Glm4vModel>> load_from_flags(const Flags& flags,
                                                    const BindProgress& progress) {
    auto threads = flags.get_int("threads", 0, 1024);
    if (!threads) return threads.error();
    set_num_worker_threads(static_cast<int>(threads.value()));
    auto format = parse_load_format(flags.get("load-format"));
    if (!format) return format.error();
    auto seed = flags.get_int("seed", 0, INT64_MAX);
    if (!seed) return seed.error();
    LoadOptions options;
    options.model = flags.get("model");
    options.format = format.value();
    options.seed = static_cast<uint64_t>(seed.value());
    options.progress = progress;
    return Glm4vModel::load(options);
}

Result<std::vector<int32_t>> parse_ids(const std::string& text, int64_t vocab) {
    std::vector<int32_t> ids;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t end = text.find_first_of(", ", pos);
        const std::string item = text.substr(pos, end == std::string::npos ? end : end - pos);
        pos = end == std::string::npos ? text.size() : end + 1;
        if (item.empty()) continue;
        int64_t id = -1;
        const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
        if (ec != std::errc() || ptr != item.data() + item.size() || id < 0 || id >= vocab)
            return Error{"--prompt-ids: '" + item + "' is not a token id in [0, " +
                         std::to_string(vocab) + ")"};
        ids.push_back(static_cast<int32_t>(id));
    }
    if (ids.empty()) return Error{"--prompt-ids is empty"};
    return ids;
}

Result<jinja::ChatTemplate> chat_template_for(const Flags& flags) {
    Result<std::string> source = flags.has("chat-template") ? read_file(flags.get("chat-template"))
                                 : is_glm4v_preset(flags.get("model"))
                                     ? Result<std::string>(demo_chat_template())
                                     : load_chat_template_source(flags.get("model"));
    if (!source) return source.error();
    auto compiled = jinja::ChatTemplate::compile(source.value());
    if (!compiled) return Error{"chat template: " + compiled.error_message()};
    return compiled;
}

Result<std::unique_ptr<Tokenizer>> load_tokenizer_for(const std::string& model) {
    if (is_glm4v_preset(model)) return make_demo_tokenizer();
    return Tokenizer::load(model);
}

std::vector<int32_t> print_stream(RequestHandle& handle, bool as_text, std::string* finish) {
    std::vector<int32_t> ids;
    for (;;) {
        auto item = handle.outputs().pop(std::chrono::milliseconds(500));
        if (!item) {
            if (handle.outputs().closed_and_drained()) break;
            continue;
        }
        for (int32_t id : item->token_ids) {
            if (!as_text) std::printf(ids.empty() ? "%d" : " %d", id);
            ids.push_back(id);
        }
        if (as_text) std::fputs(item->text.c_str(), stdout);
        std::fflush(stdout);
        if (item->finish_reason) *finish = std::string(finish_reason_name(*item->finish_reason));
        if (item->request_finished) break;
    }
    std::printf("\n");
    std::fflush(stdout);  // before the stderr summary, so the two never interleave
    return ids;
}

}  // namespace autoglm
