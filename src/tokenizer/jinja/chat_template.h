// ChatTemplate: compiles a Hugging Face chat template (a jinja2 subset) once and renders it
// byte-identically to transformers' apply_chat_template for the supported constructs.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "tokenizer/jinja/renderer.h"

namespace autoglm::jinja {

struct Node;

class ChatTemplate {
  public:
    // Parses and checks the template. Errors name the construct and line, e.g.
    // "line 3: unknown filter 'frobnicate'".
    static Result<ChatTemplate> compile(std::string source, RenderLimits limits = {});

    // `context` is a JSON object whose keys become template variables: messages,
    // add_generation_prompt, tools, bos_token, eos_token, any chat_template_kwargs.
    // Errors carry the line, e.g. raise_exception's message.
    // NOTE: pass ordered_json (parse requests with nlohmann::ordered_json::parse) so dicts keep
    // the client's key order as in Python; `tojson` and printed dicts depend on it. The
    // nlohmann::json overload sees keys already sorted alphabetically.
    Result<std::string> render(const nlohmann::ordered_json& context) const;
    Result<std::string> render(const nlohmann::json& context) const;

    const std::string& source() const { return source_; }

  private:
    ChatTemplate() = default;
    template <typename Json>
    Result<std::string> render_json(const Json& context) const;

    std::string source_;
    RenderLimits limits_;
    std::shared_ptr<const std::vector<Node>> body_;  // shared, so copies are cheap
};

}  // namespace autoglm::jinja
