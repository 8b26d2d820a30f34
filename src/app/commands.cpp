// generate / info / version: flag parsing and wiring of loader + model.
#include "app/commands.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "app/flags.h"
#include "core/device_buffer.h"
#include "core/parallel.h"
#include "model/glm4v/model.h"

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

}  // namespace

int run_generate(const std::vector<std::string>& args) {
    Flags flags(
        "generate",
        "Greedy-decodes up to --max-tokens ids after a prompt of token ids and prints them\n"
        "space-separated on stdout (timings on stderr). Stops at an eos id of the\n"
        "model's config unless --ignore-eos.");
    add_model_flags(flags);
    flags.add("prompt-ids", "", "prompt token ids, comma- or space-separated (required)");
    flags.add("max-tokens", "16", "number of tokens to generate");
    flags.add("ignore-eos", "", "do not stop at eos ids", /*is_switch=*/true);
    if (int rc = parse_or_exit(flags, args); rc >= 0) return rc;
    if (!flags.has("prompt-ids")) {
        std::fprintf(stderr, "error: --prompt-ids is required\n");
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
    auto prompt = parse_ids(flags.get("prompt-ids"), m.config().text.vocab_size);
    if (!prompt) {
        std::fprintf(stderr, "error: %s\n", prompt.error_message().c_str());
        return kExitUsage;
    }
    std::vector<int64_t> stops;
    if (!flags.enabled("ignore-eos")) stops = m.config().eos_token_ids;
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = generate_greedy(m.text(), prompt.value(), max_tokens.value(), stops);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
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
