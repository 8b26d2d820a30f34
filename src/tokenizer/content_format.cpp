// apply_content_format: the string flattening of list contents.
#include "tokenizer/content_format.h"

#include <vector>

namespace autoglm {
namespace {

using nlohmann::json;

size_t count_occurrences(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + needle.size()))
        ++n;
    return n;
}

std::string part_type(const json& part) {
    if (part.contains("type") && part["type"].is_string()) return part["type"].get<std::string>();
    for (const char* key : {"image_url", "image", "video_url", "video", "text"})
        if (part.contains(key)) return key;
    return "";
}

std::string flatten(const json& parts, const MediaPlaceholders& ph) {
    std::vector<std::string> texts;
    size_t images = 0, videos = 0;
    for (const json& part : parts) {
        const std::string type = part_type(part);
        if (type == "text" && part.contains("text") && part["text"].is_string())
            texts.push_back(part["text"].get<std::string>());
        else if (type == "image_url" || type == "image" || type == "image_pil")
            ++images;
        else if (type == "video_url" || type == "video")
            ++videos;
    }
    std::string text;
    for (size_t i = 0; i < texts.size(); ++i) text += (i ? "\n" : "") + texts[i];
    std::string out;
    const size_t missing_images = images - std::min(images, count_occurrences(text, ph.image));
    const size_t missing_videos = videos - std::min(videos, count_occurrences(text, ph.video));
    for (size_t i = 0; i < missing_images; ++i) out += ph.image + "\n";
    for (size_t i = 0; i < missing_videos; ++i) out += ph.video + "\n";
    return out + text;
}

}  // namespace

json apply_content_format(const json& messages, ContentFormat format,
                          const MediaPlaceholders& placeholders) {
    if (format == ContentFormat::kOpenAi || !messages.is_array()) return messages;
    json out = messages;
    for (json& m : out)
        if (m.is_object() && m.contains("content") && m["content"].is_array())
            m["content"] = flatten(m["content"], placeholders);
    return out;
}

}  // namespace autoglm
