// Pieces the subcommands share: model flags, loading a model and its tokenizer, streaming an
// engine request's text to stdout, and error exits.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/flags.h"
#include "core/result.h"
#include "engine/engine.h"
#include "model/glm4v/model.h"
#include "tokenizer/jinja/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {

constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;

// Prints "error: <message>" to stderr and returns `exit_code`.
int fail(const std::string& message, int exit_code);

void add_model_flags(Flags& flags);
// --quantization: true for fp8, false for none, an error otherwise.
Result<bool> fp8_weights_from_flags(const Flags& flags);
// --fp8-vision: as given (--fp8-vision, --fp8-vision=false), else on with FP8 text weights
// (`fp8_weights`; vLLM's --quantization fp8 quantizes the vision tower's linear layers too) where
// the tower's widths allow it (fp8_vision_fits) and the checkpoint is not an FP8 one (whose
// publisher chose the layers to quantize: its tower is then held as it was read, in bf16).
bool fp8_vision_from_flags(const Flags& flags, bool fp8_weights, const Glm4vConfig& config);
// --fp8-lm-head: as given, else on unless the checkpoint is an FP8 one (whose publisher kept its
// head as it is: held as read, like its vision tower). It applies with FP8 text weights only.
bool fp8_lm_head_from_flags(const Flags& flags, const Glm4vConfig& config);
// --kv-cache-dtype: true for fp8 / fp8_e4m3, false for auto / bfloat16, an error otherwise.
Result<bool> kv_cache_fp8_from_flags(const Flags& flags);
// Parses flags; prints help or the error. Returns an exit code, or -1 to continue.
int parse_or_exit(Flags& flags, const std::vector<std::string>& args);
// `progress` (optional) is told of every tensor bound.
Result<std::unique_ptr<Glm4vModel>> load_from_flags(const Flags& flags,
                                                    const BindProgress& progress = {});

// The tokenizer that goes with --model: the demo's built-in one for presets, else the folder's
// tokenizer.json / tokenizer.model.
Result<std::unique_ptr<Tokenizer>> load_tokenizer_for(const std::string& model);

// The chat template for --model (the demo's for presets, else the checkpoint's), or the file
// given with --chat-template, compiled.
Result<jinja::ChatTemplate> chat_template_for(const Flags& flags);

// "1,2 3" -> ids, each checked against the vocabulary.
Result<std::vector<int32_t>> parse_ids(const std::string& text, int64_t vocab);

// Reads one request's outputs, printing text (or ids) as it streams, then a newline; returns the
// generated ids and sets *finish to the finish reason's name.
std::vector<int32_t> print_stream(RequestHandle& handle, bool as_text, std::string* finish);

}  // namespace autoglm
