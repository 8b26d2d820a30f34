// The public entry points: compile (tokenize + parse) and render; the interpreter's internal
// TemplateError and any standard exception become an Error here.
#include "tokenizer/jinja/chat_template.h"

#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/parser.h"

namespace autoglm::jinja {

Result<ChatTemplate> ChatTemplate::compile(std::string source, RenderLimits limits) {
    try {
        Parser parser(tokenize(source));
        ChatTemplate compiled;
        compiled.body_ = std::make_shared<const Body>(parser.parse());
        compiled.source_ = std::move(source);
        compiled.limits_ = limits;
        return compiled;
    } catch (const TemplateError& e) {
        return Error{"chat template syntax error: " + std::string(e.what())};
    } catch (const std::exception& e) {
        return Error{"chat template compile failed: " + std::string(e.what())};
    }
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context) const {
    return render_json(context);
}

Result<std::string> ChatTemplate::render(const nlohmann::json& context) const {
    return render_json(context);
}

template <typename Json>
Result<std::string> ChatTemplate::render_json(const Json& context) const {
    if (!context.is_object()) return Error{"chat template context must be a JSON object"};
    try {
        ValueDict globals;
        for (const auto& [key, value] : context.items()) {
            globals.set(key, Value::from_json(value));
        }
        Renderer renderer(limits_, std::move(globals));
        return renderer.render(*body_);
    } catch (const TemplateError& e) {
        return Error{"chat template error: " + std::string(e.what())};
    } catch (const std::exception& e) {
        return Error{"chat template render failed: " + std::string(e.what())};
    }
}

}  // namespace autoglm::jinja
