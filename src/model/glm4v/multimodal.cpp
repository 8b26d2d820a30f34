// build_multimodal_prompt and load_image_file.
#include "model/glm4v/multimodal.h"

#include <algorithm>

#include "core/file.h"
#include "model/glm4v/rope_index.h"

namespace autoglm {

TextForwardArgs MultimodalPrompt::prefill_args(int32_t image_token_id) const {
    TextForwardArgs args{ids, positions};
    args.image_embeds = image_embeds;
    args.image_token_id = image_token_id;
    return args;
}

Result<MultimodalPrompt> build_multimodal_prompt(const Glm4vModel& model,
                                                 std::span<const int32_t> ids,
                                                 std::span<const Glm4vProcessedImage> images) {
    const auto image_token = static_cast<int32_t>(model.config().image_token_id);
    const auto placeholders = std::count(ids.begin(), ids.end(), image_token);
    if (static_cast<size_t>(placeholders) != images.size())
        return Error{"the prompt has " + std::to_string(placeholders) + " image placeholders for " +
                     std::to_string(images.size()) + " images"};
    MultimodalPrompt out;
    size_t next = 0;
    for (int32_t id : ids) {
        if (id != image_token) {
            out.ids.push_back(id);
            continue;
        }
        out.ids.insert(out.ids.end(), static_cast<size_t>(images[next++].num_tokens), image_token);
    }
    std::vector<float> pixels;
    for (const Glm4vProcessedImage& img : images) {
        out.grids.push_back({img.grid_t, img.grid_h, img.grid_w});
        pixels.insert(pixels.end(), img.pixel_values.begin(), img.pixel_values.end());
    }
    auto rope = compute_rope_positions(out.ids, out.grids, model.config());
    if (!rope) return rope.error();
    out.positions = std::move(rope.value().positions);
    out.rope_delta = rope.value().rope_delta;
    if (!images.empty()) out.image_embeds = model.vision().forward(pixels, out.grids);
    return out;
}

Result<Glm4vProcessedImage> load_image_file(const std::string& path,
                                            const Glm4vImageProcessor& processor) {
    auto bytes = read_file(path);
    if (!bytes) return bytes.error();
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.value().data());
    auto image = decode_image(data, bytes.value().size());
    if (!image) return Error{path + ": " + image.error_message()};
    auto processed = processor.process(image.value());
    if (!processed) return Error{path + ": " + processed.error_message()};
    return processed;
}

}  // namespace autoglm
