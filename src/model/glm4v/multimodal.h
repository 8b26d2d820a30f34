// Prefill of a prompt with images: each image's single <|image|> placeholder token is expanded
// to its token count, the vision tower encodes the images, and M-RoPE positions are computed.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "model/forward_batch.h"
#include "model/glm4v/image_processor.h"
#include "model/glm4v/model.h"

namespace autoglm {

struct MultimodalPrompt {
    std::vector<int32_t> ids;  // with every image expanded to num_tokens image tokens
    std::vector<Position3> positions;
    int64_t rope_delta = 0;
    std::vector<float> image_embeds;  // [total image tokens, hidden]
    std::vector<ImageGrid> grids;

    TextForwardArgs prefill_args(int32_t image_token_id) const;
};

// `ids` must hold exactly one image_token_id per image, in order.
Result<MultimodalPrompt> build_multimodal_prompt(const Glm4vModel& model,
                                                 std::span<const int32_t> ids,
                                                 std::span<const Glm4vProcessedImage> images);

// Reads, decodes and preprocesses an image file (PNG or JPEG).
Result<Glm4vProcessedImage> load_image_file(const std::string& path,
                                            const Glm4vImageProcessor& processor);

}  // namespace autoglm
