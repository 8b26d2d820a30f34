// load_chat_template_source: chat_template.jinja first, then tokenizer_config.json.
#include "tokenizer/template_source.h"

#include "core/file.h"

#include <filesystem>
#include <nlohmann/json.hpp>

namespace autoglm {

Result<std::string> load_chat_template_source(const std::string& dir, const std::string& name) {
    namespace fs = std::filesystem;
    if (auto jinja = read_file((fs::path(dir) / "chat_template.jinja").string())) return jinja;
    const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
    auto text = read_file(config_path.string());
    if (!text)
        return Error{dir +
                     ": no chat_template.jinja or tokenizer_config.json with a chat_template"};
    const auto config = nlohmann::json::parse(text.value(), nullptr, false);
    if (config.is_discarded() || !config.is_object())
        return Error{config_path.string() + ": not valid JSON"};
    const auto it = config.find("chat_template");
    if (it == config.end() || it->is_null())
        return Error{config_path.string() + ": has no chat_template"};
    if (it->is_string()) return it->get<std::string>();
    if (it->is_array()) {
        for (const auto& entry : *it)
            if (entry.is_object() && entry.value("name", "") == name &&
                entry.contains("template") && entry["template"].is_string())
                return entry["template"].get<std::string>();
        return Error{config_path.string() + ": no chat template named '" + name + "'"};
    }
    return Error{config_path.string() + ": chat_template must be a string or a list"};
}

}  // namespace autoglm
