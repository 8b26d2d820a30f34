// generate / info / version: flag parsing and wiring of loader + model.
#include "app/commands.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "app/common.h"
#include "app/engine_setup.h"
#include "app/flags.h"
#include "core/device_buffer.h"
#include "core/parallel.h"
#include "model/glm4v/model.h"
#include "model/glm4v/tensor_parallel.h"
#include "tokenizer/builtin.h"
#include "tokenizer/incremental_decoder.h"
#include "tokenizer/special_tokens.h"

namespace autoglm {

int run_generate(const std::vector<std::string>& args) {
    Flags flags(
        "generate",
        "Generates up to --max-tokens tokens after a raw prompt (no chat template) through the\n"
        "engine (greedy unless --temperature > 0): --prompt text streams the reply as text,\n"
        "--prompt-ids prints the ids space-separated. The KV report and timings go to stderr.\n"
        "Stops at an eos id unless --ignore-eos.");
    add_model_flags(flags);
    add_engine_flags(flags);
    add_sampling_flags(flags);
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
    if (!max_tokens) return fail(max_tokens.error_message(), kExitUsage);
    auto params = sampling_params_from_flags(flags);
    if (!params) return fail(params.error_message(), kExitUsage);
    auto model = load_from_flags(flags);
    if (!model) return fail(model.error_message(), kExitFailure);
    const Glm4vModel& m = *model.value();
    std::unique_ptr<Tokenizer> tok;
    if (flags.has("prompt")) {
        auto loaded = load_tokenizer_for(flags.get("model"));
        if (!loaded) return fail(loaded.error_message(), kExitFailure);
        tok = std::move(loaded).value();
    }
    auto prompt = tok ? Result<std::vector<int32_t>>(tok->encode(flags.get("prompt")))
                      : parse_ids(flags.get("prompt-ids"), m.config().text.vocab_size);
    if (!prompt || prompt.value().empty())
        return fail(prompt ? "the prompt is empty" : prompt.error_message(), kExitUsage);
    const std::vector<int64_t> stops =
        tok ? find_special_tokens(*tok).stop_ids(m.config().eos_token_ids)
            : m.config().eos_token_ids;
    auto bundle =
        make_engine(flags, m, tok.get(), std::vector<int32_t>(stops.begin(), stops.end()));
    if (!bundle) return fail(bundle.error_message(), kExitFailure);
    std::fprintf(stderr, "%s\n", bundle.value().kv_plan.describe().c_str());
    Engine& engine = *bundle.value().engine;

    GenerationInput input;
    input.prompt_ids = std::move(prompt).value();
    input.params = params.value();
    input.params.max_tokens = max_tokens.value();
    input.params.ignore_eos = flags.enabled("ignore-eos");
    if (flags.has("image")) {
        auto image =
            load_image_file(flags.get("image"),
                            Glm4vImageProcessor(m.config().vision, m.image_processor_options()));
        if (!image) return fail(image.error_message(), kExitFailure);
        input.images.push_back(
            {std::make_shared<const Glm4vProcessedImage>(std::move(image).value())});
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto submitted = engine.submit(std::move(input));
    if (auto* f = std::get_if<SubmitFailure>(&submitted)) return fail(f->message, kExitUsage);
    auto handle = std::get<std::shared_ptr<RequestHandle>>(submitted);
    engine.start();
    std::string finish = "abort";
    const std::vector<int32_t> ids = print_stream(*handle, tok != nullptr, &finish);
    engine.stop();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr,
                 "generated %zu tokens in %.3f s (%lld prompt tokens, finish %s, %d threads)\n",
                 ids.size(), secs, static_cast<long long>(handle->num_prompt_tokens()),
                 finish.c_str(), num_worker_threads());
    return 0;
}

int run_info(const std::vector<std::string>& args) {
    Flags flags("info", "Loads a model (validating every tensor) and prints what it holds.");
    add_model_flags(flags);
    flags.add("tensor-parallel-size", "1",
              "also print what each of N tensor-parallel ranks holds and reads (see serve --help)");
    if (int rc = parse_or_exit(flags, args); rc >= 0) return rc;
    auto tp = flags.get_int("tensor-parallel-size", 1, 64);
    if (!tp) {
        std::fprintf(stderr, "error: %s\n", tp.error_message().c_str());
        return kExitUsage;
    }
    const int ranks = static_cast<int>(tp.value());
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
    // What the CUDA backend holds and streams, per --quantization mode: every weight as bf16, or
    // the text linear layers and the LM head (--fp8-lm-head) and, where they fit, the vision
    // blocks' as FP8 with a float scale per row; a decode token reads the text
    // weights but the embedding table (one row), plus the K/V of its context. Per
    // tensor-parallel rank: its share of the linear layers, KV heads and vocabulary rows (the
    // embedding and the LM head, as many tables as the checkpoint has), the rest whole.
    if (Status s = check_tensor_parallel(m.config().text, ranks); !s) {
        std::fprintf(stderr, "error: %s\n", s.error_message().c_str());
        return kExitUsage;
    }
    for (const int n : ranks > 1 ? std::vector<int>{1, ranks} : std::vector<int>{1}) {
        const auto& t = m.config().text;
        const TextShardSizes whole = text_shard_sizes(t, 1), z = text_shard_sizes(t, n);
        const auto H = static_cast<double>(t.hidden_size), d = static_cast<double>(t.head_dim());
        const double tables = static_cast<double>(r.text_params - whole.linear_params) >=
                                      2.0 * static_cast<double>(t.vocab_size) * H
                                  ? 2.0
                                  : 1.0;  // untied embedding and LM head, or one table
        const double vocab_params = tables * static_cast<double>(t.vocab_size) * H;
        const double rest = static_cast<double>(r.text_params - whole.linear_params) - vocab_params;
        const double shard_vocab = tables * static_cast<double>(z.vocab_rows) * H;
        const double linear = static_cast<double>(z.linear_params);
        const double rows = static_cast<double>(z.linear_rows);
        // An untied LM head in FP8 (--fp8-lm-head, on with --quantization fp8): a byte a weight
        // and a float a row (a rank's vocabulary rows) instead of two bytes a weight.
        const double head_rows = static_cast<double>(z.vocab_rows);
        const double head_fp8_saved = tables == 2.0 && fp8_lm_head_from_flags(flags, m.config()) &&
                                              fp8_lm_head_fits(z.vocab_rows)
                                          ? head_rows * H - 4.0 * head_rows
                                          : 0.0;
        // K and V of a context token: bf16, or e4m3 bytes and an f32 scale per KV head.
        const double kv_heads = static_cast<double>(z.kv_heads);
        const double layers_kv = static_cast<double>(t.num_hidden_layers) * 2.0;
        const double kv_token = layers_kv * kv_heads * d * 2.0;
        const double kv_token_fp8 = layers_kv * kv_heads * (d + 4.0);
        // The vision blocks' qkv, proj, gate/up and down: a byte and a scale a row with FP8
        // (--fp8-vision, the default with --quantization fp8 where the widths allow it and the
        // checkpoint is not an FP8 one: fp8_vision_from_flags).
        const auto& v = m.config().vision;
        const auto vh = static_cast<double>(v.hidden_size),
                   vo = static_cast<double>(v.out_hidden_size);
        const double blocks = static_cast<double>(v.depth);
        const double vision_linear = blocks * (4.0 * vh * vh + 3.0 * vh * vo);
        const double vision_fp8 = vision_linear + 4.0 * blocks * (5.0 * vh + 2.0 * vo);
        const bool fp8_blocks = fp8_vision_from_flags(flags, true, m.config());
        if (n == 1)
            std::printf(
                "GPU weights and bytes a decode token reads (+ %.0f KiB of KV per "
                "context token, %.0f KiB with --kv-cache-dtype fp8):\n",
                kv_token / 1024.0, kv_token_fp8 / 1024.0);
        else
            std::printf(
                "each of %d tensor-parallel ranks (rank 0 also holds the vision tower, + %.2f "
                "GB, %.2f GB with FP8 blocks; + %.0f KiB of KV per context token, %.0f KiB with "
                "--kv-cache-dtype fp8):\n",
                n, 2.0 * static_cast<double>(r.vision_params) / 1e9,
                (2.0 * static_cast<double>(r.vision_params) -
                 (fp8_blocks ? 2.0 * vision_linear - vision_fp8 : 0.0)) /
                    1e9,
                kv_token / 1024.0, kv_token_fp8 / 1024.0);
        for (const bool fp8 : {false, true}) {
            const double text = linear + shard_vocab + rest;
            const double vision = n == 1 ? static_cast<double>(r.vision_params) : 0.0;
            double held =
                2.0 * (text + vision) - (fp8 ? linear - 4.0 * rows + head_fp8_saved : 0.0);
            if (fp8 && n == 1 && fp8_blocks) held -= 2.0 * vision_linear - vision_fp8;
            // The token's embedding row is one of the table's: the LM head's rows are read.
            const double read = 2.0 * (linear + shard_vocab / tables + rest) -
                                (fp8 ? linear - 4.0 * rows + head_fp8_saved : 0.0);
            std::printf("  --quantization %-4s %.2f GB held, %.2f GB read a token\n",
                        fp8 ? "fp8" : "none", held / 1e9, read / 1e9);
        }
        if (n == 1 && fp8_blocks)
            std::printf(
                "  the vision blocks' linear layers: %.2f GB in bf16, %.2f GB in FP8 (with "
                "--quantization fp8 unless --fp8-vision=false; decode reads none of them)\n",
                2.0 * vision_linear / 1e9, vision_fp8 / 1e9);
    }
    const Glm4vImageProcessorOptions& ip = m.image_processor_options();
    std::printf("image processor: %s\n  from %s\n", ip.describe().c_str(), ip.source.c_str());
    for (const std::string& note : ip.notes) std::printf("  note: %s\n", note.c_str());
    std::printf("cuda: %s\n", cuda_device_summary().c_str());
    return 0;
}

int run_version() {
    std::printf("autoglm %s\n", AUTOGLM_VERSION);
    return 0;
}

}  // namespace autoglm
