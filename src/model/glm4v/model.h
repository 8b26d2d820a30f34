// Glm4vModel: config + weights (from a checkpoint folder or dummy) + the CPU text decoder.
// Loading is the one place that decides where weights come from.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "loader/weight_source.h"
#include "model/glm4v/config.h"
#include "model/glm4v/preprocessor_config.h"
#include "model/glm4v/text_model.h"
#include "model/glm4v/vision_model.h"
#include "model/glm4v/weights.h"

namespace autoglm {

enum class LoadFormat { kAuto, kSafetensors, kDummy };

Result<LoadFormat> parse_load_format(const std::string& text);

struct LoadOptions {
    // A checkpoint folder (config.json + safetensors) or a preset name ("demo",
    // "autoglm-phone-9b"); a preset always uses dummy weights.
    std::string model = "demo";
    LoadFormat format = LoadFormat::kAuto;
    uint64_t seed = 0;  // dummy weights
    // Host bytes the dummy weights may use; 0 = MemAvailable. Exceeding it fails before allocating.
    uint64_t host_memory_limit = 0;
    BindProgress progress;  // optional: tensors bound so far (a progress bar)
};

class Glm4vModel {
  public:
    static Result<std::unique_ptr<Glm4vModel>> load(const LoadOptions& options);

    const Glm4vConfig& config() const { return config_; }
    const Glm4vWeights& weights() const { return weights_; }
    const WeightReport& report() const { return report_; }
    const Glm4vTextModel& text() const;
    const Glm4vVisionModel& vision() const;
    // Once another backend holds its own copy (the GPU after upload): unmaps the checkpoint or
    // frees the dummy buffers, so the host keeps no ~20 GB of weight pages. The CPU text and
    // vision models are gone afterwards (using them is a CHECK failure); config, report and
    // image processor settings stay.
    void release_host_weights();
    bool has_host_weights() const { return source_ != nullptr; }
    const std::string& source_description() const { return source_description_; }
    // The image processor's settings: the folder's preprocessor_config.json, or the GLM-4.1V
    // defaults (presets, or a folder without the file).
    const Glm4vImageProcessorOptions& image_processor_options() const {
        return image_processor_options_;
    }

  private:
    Glm4vModel() = default;
    Glm4vConfig config_;
    std::unique_ptr<WeightSource> source_;  // owns the mmap or the dummy buffers
    Glm4vWeights weights_;
    WeightReport report_;
    std::unique_ptr<Glm4vTextModel> text_;
    std::unique_ptr<Glm4vVisionModel> vision_;
    std::string source_description_;
    Glm4vImageProcessorOptions image_processor_options_;
};

// Called with each generated id as soon as it is known; returning false stops generation.
using TokenCallback = std::function<bool(int32_t)>;

// Greedy decoding of a text prompt through the KV cache: prefill once, then one token per step.
// Stops after max_new_tokens or at any id in stop_ids (which is included in the result).
std::vector<int32_t> generate_greedy(const Glm4vTextModel& model, std::span<const int32_t> prompt,
                                     int64_t max_new_tokens, std::span<const int64_t> stop_ids = {},
                                     const TokenCallback& on_token = {});

// Greedy decoding from a prepared prefill (positions, image embeddings): later tokens take the
// rotary position cache index + rope_delta.
std::vector<int32_t> generate_greedy(const Glm4vTextModel& model, const TextForwardArgs& prefill,
                                     int64_t rope_delta, int64_t max_new_tokens,
                                     std::span<const int64_t> stop_ids = {},
                                     const TokenCallback& on_token = {});

// The same through any single-sequence forward: `forward(args, cached)` runs args' tokens after
// `cached` ones and returns their logits (e.g. TensorParallelText::forward).
using SequenceForward =
    std::function<std::vector<float>(const TextForwardArgs& args, int64_t cached)>;
std::vector<int32_t> generate_greedy(const SequenceForward& forward, const TextForwardArgs& prefill,
                                     int64_t rope_delta, int64_t max_new_tokens,
                                     std::span<const int64_t> stop_ids = {},
                                     const TokenCallback& on_token = {});

// Index of the largest value (the first on ties).
int64_t argmax(std::span<const float> values);

}  // namespace autoglm
