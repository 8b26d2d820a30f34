// Glm4vModel::load: resolve model/format, read the config, check memory, bind weights.
#include "model/glm4v/model.h"

#include <algorithm>
#include <sstream>

#include "core/logging.h"
#include "loader/checkpoint.h"
#include "loader/dummy.h"
#include "model/glm4v/image_processor.h"

namespace autoglm {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string gib(uint64_t bytes) {
    std::ostringstream ss;
    ss.precision(3);
    ss << static_cast<double>(bytes) / kGiB << " GiB";
    return ss.str();
}

Status check_dummy_memory(const Glm4vConfig& config, const LoadOptions& options,
                          const std::string& name) {
    const WeightReport plan = plan_weights(config, /*bytes_per_param=*/2.0);
    const uint64_t need = plan.text_bytes + plan.vision_bytes;
    const uint64_t limit =
        options.host_memory_limit ? options.host_memory_limit : host_memory_available();
    if (limit != 0 && need > limit)
        return Error{"dummy weights for '" + name + "' need " + gib(need) +
                     " of host memory (bf16) but only " + gib(limit) +
                     " is available; run the full-size model on a GPU host or pick a smaller "
                     "config (e.g. --model demo)"};
    return {};
}

}  // namespace

Result<LoadFormat> parse_load_format(const std::string& text) {
    if (text == "auto") return LoadFormat::kAuto;
    if (text == "safetensors") return LoadFormat::kSafetensors;
    if (text == "dummy") return LoadFormat::kDummy;
    return Error{"unknown --load-format '" + text + "' (auto, safetensors, dummy)"};
}

Result<std::unique_ptr<Glm4vModel>> Glm4vModel::load(const LoadOptions& options) {
    std::unique_ptr<Glm4vModel> model(new Glm4vModel());
    const bool is_preset = is_glm4v_preset(options.model);
    if (is_preset && options.format == LoadFormat::kSafetensors)
        return Error{"'" + options.model +
                     "' is a built-in preset without weights; pass a "
                     "checkpoint folder or --load-format dummy"};
    auto config = is_preset ? glm4v_preset(options.model) : load_glm4v_config(options.model);
    if (!config) return config.error();
    model->config_ = std::move(config).value();
    if (!is_preset) {
        auto processor = load_glm4v_preprocessor_config(options.model);
        if (!processor) return processor.error();
        model->image_processor_options_ = std::move(processor).value();
    }
    if (Status s =
            check_image_processor_options(model->image_processor_options_, model->config_.vision);
        !s)
        return Error{s.error_message()};
    for (const std::string& note : model->image_processor_options_.notes)
        LOG_INFO << model->image_processor_options_.source << ": " << note;

    const bool dummy = is_preset || options.format == LoadFormat::kDummy;
    if (dummy) {
        if (Status s = check_dummy_memory(model->config_, options, options.model); !s)
            return Error{s.error_message()};
        model->source_ = std::make_unique<DummyWeights>(options.seed);
    } else {
        auto ckpt = Checkpoint::open(options.model);
        if (!ckpt) return ckpt.error();
        model->source_ = std::move(ckpt).value();
    }
    auto weights = bind_weights(model->config_, *model->source_, &model->report_, options.progress);
    if (!weights) return weights.error();
    model->weights_ = std::move(weights).value();
    model->source_description_ = model->source_->describe();
    if (!model->report_.unused.empty())
        LOG_WARNING << model->report_.unused.size() << " checkpoint tensors are not used, e.g. "
                    << model->report_.unused.front();
    LOG_INFO << "loaded " << options.model << ": " << describe(model->config_) << "; weights "
             << gib(model->report_.text_bytes) << " text + " << gib(model->report_.vision_bytes)
             << " vision from " << model->source_description_;
    model->text_ = std::make_unique<Glm4vTextModel>(model->config_.text, model->weights_);
    model->vision_ =
        std::make_unique<Glm4vVisionModel>(model->config_.vision, model->weights_.vision);
    return model;
}

const Glm4vTextModel& Glm4vModel::text() const {
    CHECK(text_) << "the CPU text model was released (the weights live on the GPU)";
    return *text_;
}

const Glm4vVisionModel& Glm4vModel::vision() const {
    CHECK(vision_) << "the CPU vision model was released (the weights live on the GPU)";
    return *vision_;
}

void Glm4vModel::release_host_weights() {
    text_.reset();
    vision_.reset();
    weights_ = Glm4vWeights{};
    source_.reset();
}

int64_t argmax(std::span<const float> values) {
    CHECK(!values.empty()) << "argmax of nothing";
    return std::max_element(values.begin(), values.end()) - values.begin();
}

std::vector<int32_t> generate_greedy(const SequenceForward& forward, const TextForwardArgs& prefill,
                                     int64_t rope_delta, int64_t max_new_tokens,
                                     std::span<const int64_t> stop_ids,
                                     const TokenCallback& on_token) {
    std::vector<int32_t> out;
    if (max_new_tokens <= 0 || prefill.token_ids.empty()) return out;
    std::vector<float> logits = forward(prefill, 0);
    auto cached = static_cast<int64_t>(prefill.token_ids.size());
    for (;;) {
        const auto next = static_cast<int32_t>(argmax(logits));
        out.push_back(next);
        if (on_token && !on_token(next)) break;
        if (static_cast<int64_t>(out.size()) >= max_new_tokens) break;
        if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) break;
        const int32_t token[1] = {next};
        const auto positions = text_positions(cached + rope_delta, 1);
        logits = forward({token, positions}, cached);
        ++cached;
    }
    return out;
}

std::vector<int32_t> generate_greedy(const Glm4vTextModel& model, const TextForwardArgs& prefill,
                                     int64_t rope_delta, int64_t max_new_tokens,
                                     std::span<const int64_t> stop_ids,
                                     const TokenCallback& on_token) {
    DenseKvCache cache(model.config(),
                       static_cast<int64_t>(prefill.token_ids.size()) + max_new_tokens);
    const SequenceForward forward = [&](const TextForwardArgs& args, int64_t) {
        return model.forward(args, cache);
    };
    return generate_greedy(forward, prefill, rope_delta, max_new_tokens, stop_ids, on_token);
}

std::vector<int32_t> generate_greedy(const Glm4vTextModel& model, std::span<const int32_t> prompt,
                                     int64_t max_new_tokens, std::span<const int64_t> stop_ids,
                                     const TokenCallback& on_token) {
    const auto positions = text_positions(0, static_cast<int64_t>(prompt.size()));
    return generate_greedy(model, TextForwardArgs{prompt, positions}, 0, max_new_tokens, stop_ids,
                           on_token);
}

}  // namespace autoglm
