// generate / info / version: flag parsing and wiring of loader + model.
#include "app/commands.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "app/common.h"
#include "app/flags.h"
#include "core/device_buffer.h"
#include "core/parallel.h"
#include "model/glm4v/model.h"
#include "tokenizer/builtin.h"
#include "tokenizer/incremental_decoder.h"
#include "tokenizer/special_tokens.h"

namespace autoglm {

int run_generate(const std::vector<std::string>& args) {
    Flags flags(
        "generate",
        "Greedy-decodes up to --max-tokens tokens after a raw prompt (no chat template):\n"
        "--prompt text streams the reply as text, --prompt-ids prints the ids space-separated.\n"
        "Timings go to stderr. Stops at an eos id unless --ignore-eos.");
    add_model_flags(flags);
    flags.add("prompt", "", "prompt text (tokenized as is, no chat template); prints text");
    flags.add("prompt-ids", "", "prompt token ids, comma- or space-separated; prints ids");
    flags.add("max-tokens", "16", "number of tokens to generate");
    flags.add("image", "",
              "an image file (PNG/JPEG) for the prompt, which must contain "
              "<|begin_of_image|><|image|><|end_of_image|> where it goes (with --prompt)");
    flags.add("ignore-eos", "", "do not stop at eos ids", /*is_switch=*/true);
    if (int rc = parse_or_exit(flags, args); rc >= 0) return rc;
    if (flags.has("prompt-ids") == flags.has("prompt"))
        return fail("give exactly one of --prompt or --prompt-ids", kExitUsage);
    if (flags.has("image") && !flags.has("prompt"))
        return fail("--image needs --prompt", kExitUsage);
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
    size_t num_prompt_tokens = prompt.value().size();
    if (tok) {
        std::vector<Glm4vProcessedImage> images;
        if (flags.has("image")) {
            auto image =
                load_image_file(flags.get("image"), Glm4vImageProcessor(m.config().vision));
            if (!image) return fail(image.error_message(), kExitFailure);
            images.push_back(std::move(image).value());
        }
        auto mm = build_multimodal_prompt(m, prompt.value(), images);
        if (!mm) return fail(mm.error_message(), kExitUsage);
        num_prompt_tokens = mm.value().ids.size();  // images expanded
        ids = stream_text(m, *tok, mm.value(), max_tokens.value(), stops);
    } else {
        ids = generate_greedy(m.text(), prompt.value(), max_tokens.value(), stops);
        for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
        std::printf("\n");
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "generated %zu tokens in %.3f s (%zu prompt tokens, %d threads)\n",
                 ids.size(), secs, num_prompt_tokens, num_worker_threads());
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
