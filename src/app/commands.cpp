// generate / info / version: flag parsing and wiring of loader + model.
#include "app/commands.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "app/flags.h"
#include "core/device_buffer.h"
#include "core/parallel.h"
#include "model/glm4v/model.h"
#include "tokenizer/builtin.h"
#include "tokenizer/incremental_decoder.h"
#include "tokenizer/special_tokens.h"

namespace autoglm {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;

void add_model_flags(Flags& flags) {
    flags.add("model", "demo",
              "checkpoint folder (config.json + safetensors) or preset: demo, autoglm-phone-9b");
    flags.add("load-format", "auto",
              "auto | safetensors | dummy (random weights with the folder's config.json)");
    flags.add("seed", "0", "seed of dummy weights");
    flags.add("threads", "0", "CPU worker threads (0 = all cores)");
    flags.add("help", "", "show this help", /*is_switch=*/true);
}

// Parses flags; prints help or the error. Returns an exit code, or -1 to continue.
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

Result<std::unique_ptr<Glm4vModel>> load_from_flags(const Flags& flags) {
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

// The tokenizer that goes with --model: the demo's built-in one for presets, else the folder's
// tokenizer.json / tokenizer.model.
Result<std::unique_ptr<Tokenizer>> load_tokenizer_for(const std::string& model) {
    const auto presets = glm4v_preset_names();
    if (std::find(presets.begin(), presets.end(), model) != presets.end())
        return make_demo_tokenizer();
    return Tokenizer::load(model);
}

// Generates from `prompt`, printing text as it streams (special tokens skipped).
std::vector<int32_t> stream_text(const Glm4vModel& m, const Tokenizer& tok,
                                 const std::vector<int32_t>& prompt, int64_t max_tokens,
                                 const std::vector<int64_t>& stops) {
    IncrementalDecoder decoder(tok, /*skip_special=*/true);
    auto ids = generate_greedy(m.text(), prompt, max_tokens, stops, [&](int32_t id) {
        std::fputs(decoder.push(id).c_str(), stdout);
        std::fflush(stdout);
        return true;
    });
    std::fputs(decoder.finish().c_str(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);  // before the stderr summary, so the two never interleave
    return ids;
}

}  // namespace

int run_generate(const std::vector<std::string>& args) {
    Flags flags(
        "generate",
        "Greedy-decodes up to --max-tokens ids after a prompt of token ids and prints them\n"
        "space-separated on stdout (timings on stderr). Stops at an eos id of the\n"
        "model's config unless --ignore-eos.");
    add_model_flags(flags);
    flags.add("prompt", "", "prompt text (tokenized as is, no chat template); prints text");
    flags.add("prompt-ids", "", "prompt token ids, comma- or space-separated; prints ids");
    flags.add("max-tokens", "16", "number of tokens to generate");
    flags.add("ignore-eos", "", "do not stop at eos ids", /*is_switch=*/true);
    if (int rc = parse_or_exit(flags, args); rc >= 0) return rc;
    if (flags.has("prompt-ids") == flags.has("prompt")) {
        std::fprintf(stderr, "error: give exactly one of --prompt or --prompt-ids\n");
        return kExitUsage;
    }
    auto max_tokens = flags.get_int("max-tokens", 1, 1 << 20);
    if (!max_tokens) {
        std::fprintf(stderr, "error: %s\n", max_tokens.error_message().c_str());
        return kExitUsage;
    }
    auto model = load_from_flags(flags);
    if (!model) {
        std::fprintf(stderr, "error: %s\n", model.error_message().c_str());
        return kExitFailure;
    }
    const Glm4vModel& m = *model.value();
    std::unique_ptr<Tokenizer> tok;
    if (flags.has("prompt")) {
        auto loaded = load_tokenizer_for(flags.get("model"));
        if (!loaded) {
            std::fprintf(stderr, "error: %s\n", loaded.error_message().c_str());
            return kExitFailure;
        }
        tok = std::move(loaded).value();
    }
    auto prompt = tok ? Result<std::vector<int32_t>>(tok->encode(flags.get("prompt")))
                      : parse_ids(flags.get("prompt-ids"), m.config().text.vocab_size);
    if (!prompt || prompt.value().empty()) {
        std::fprintf(stderr, "error: %s\n",
                     prompt ? "the prompt is empty" : prompt.error_message().c_str());
        return kExitUsage;
    }
    for (int32_t id : prompt.value()) {
        if (id >= m.config().text.vocab_size) {
            std::fprintf(stderr, "error: token id %d is outside the model's vocabulary\n", id);
            return kExitUsage;
        }
    }
    std::vector<int64_t> stops;
    if (!flags.enabled("ignore-eos"))
        stops = tok ? find_special_tokens(*tok).stop_ids(m.config().eos_token_ids)
                    : m.config().eos_token_ids;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> ids;
    if (tok) {
        ids = stream_text(m, *tok, prompt.value(), max_tokens.value(), stops);
    } else {
        ids = generate_greedy(m.text(), prompt.value(), max_tokens.value(), stops);
        for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
        std::printf("\n");
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "generated %zu tokens in %.3f s (%zu prompt tokens, %d threads)\n",
                 ids.size(), secs, prompt.value().size(), num_worker_threads());
    return 0;
}

int run_info(const std::vector<std::string>& args) {
    Flags flags("info", "Loads a model (validating every tensor) and prints what it holds.");
    add_model_flags(flags);
    if (int rc = parse_or_exit(flags, args); rc >= 0) return rc;
    auto model = load_from_flags(flags);
    if (!model) {
        std::fprintf(stderr, "error: %s\n", model.error_message().c_str());
        return kExitFailure;
    }
    const Glm4vModel& m = *model.value();
    const WeightReport& r = m.report();
    std::printf("%s\n", describe(m.config()).c_str());
    std::printf("weights: %s\n", m.source_description().c_str());
    std::printf("tensors: %lld, text params %lld (%llu bytes), vision params %lld (%llu bytes)\n",
                static_cast<long long>(r.num_tensors), static_cast<long long>(r.text_params),
                static_cast<unsigned long long>(r.text_bytes),
                static_cast<long long>(r.vision_params),
                static_cast<unsigned long long>(r.vision_bytes));
    std::printf("unused checkpoint tensors: %zu\n", r.unused.size());
    std::printf("cuda: %s\n", cuda_device_summary().c_str());
    return 0;
}

int run_version() {
    std::printf("autoglm %s\n", AUTOGLM_VERSION);
    return 0;
}

}  // namespace autoglm
