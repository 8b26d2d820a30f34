// vLLM's "string" chat-template content format (--chat-template-content-format string): a
// message whose content is a list of parts is flattened to one string before templating — text
// parts joined with "\n", and one placeholder per image/video part not already written in the text
// put in front, each followed by "\n". The Hugging Face ("openai") format passes lists unchanged.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace autoglm {

enum class ContentFormat { kOpenAi, kString };

struct MediaPlaceholders {
    std::string image = "<|begin_of_image|><|image|><|end_of_image|>";
    std::string video = "<|begin_of_video|><|video|><|end_of_video|>";
};

// Returns `messages` with every list content flattened (kString) or unchanged (kOpenAi).
nlohmann::json apply_content_format(const nlohmann::json& messages, ContentFormat format,
                                    const MediaPlaceholders& placeholders = {});

}  // namespace autoglm
