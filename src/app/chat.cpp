// autoglm chat: an interactive terminal chat. Each turn renders the checkpoint's chat template over
// the whole conversation, tokenizes it and streams the reply from the engine (the backend, the
// sampling flags and the prefix cache of `serve`; earlier turns are cache hits).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "app/common.h"
#include "app/engine_setup.h"
#include "app/flags.h"
#include "tokenizer/builtin.h"
#include "tokenizer/content_format.h"
#include "tokenizer/jinja/chat_template.h"
#include "tokenizer/special_tokens.h"

namespace autoglm {
namespace {

using nlohmann::json;

struct ChatSession {
    Engine& engine;
    const Tokenizer& tokenizer;
    const jinja::ChatTemplate& chat_template;
    SamplingParams params;
    Glm4vImageProcessor processor;
    json messages = json::array();
    std::vector<EngineImage> images;  // every image of the conversation, in order
    size_t num_pending_images = 0;    // attached to the next user message
};

// The user message: plain text, or [image..., text] parts when images were attached.
json user_message(ChatSession& s, const std::string& text) {
    if (s.num_pending_images == 0) return {{"role", "user"}, {"content", text}};
    json parts = json::array();
    for (size_t i = 0; i < s.num_pending_images; ++i) parts.push_back({{"type", "image"}});
    parts.push_back({{"type", "text"}, {"text", text}});
    s.num_pending_images = 0;
    return {{"role", "user"}, {"content", parts}};
}

void attach_image(ChatSession& s, const std::string& path) {
    auto image = load_image_file(path, s.processor);
    if (!image) {
        std::fprintf(stderr, "error: %s\n", image.error_message().c_str());
        return;
    }
    std::fprintf(stderr,
                 "[image %s: %lldx%lld patches, %lld tokens; attached to your next message]\n",
                 path.c_str(), static_cast<long long>(image.value().grid_h),
                 static_cast<long long>(image.value().grid_w),
                 static_cast<long long>(image.value().num_tokens));
    s.images.push_back({std::make_shared<const Glm4vProcessedImage>(std::move(image).value()), 0});
    ++s.num_pending_images;
}

// One user turn: render, tokenize, stream the reply, remember it. False on a render error.
bool chat_turn(ChatSession& s, const std::string& user_text) {
    s.messages.push_back(user_message(s, user_text));
    const json context = {{"messages", s.messages}, {"add_generation_prompt", true}};
    auto prompt = s.chat_template.render(context);
    if (!prompt) {
        std::fprintf(stderr, "error: chat template: %s\n", prompt.error_message().c_str());
        s.messages.erase(s.messages.end() - 1);
        return false;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto submitted = s.engine.submit({s.tokenizer.encode(prompt.value()), s.images, s.params});
    if (auto* f = std::get_if<SubmitFailure>(&submitted)) {
        std::fprintf(stderr, "error: %s%s\n", f->message.c_str(),
                     f->kind == SubmitError::kTooLong ? " (/reset starts over)" : "");
        s.messages.erase(s.messages.end() - 1);
        return false;
    }
    auto handle = std::get<std::shared_ptr<RequestHandle>>(submitted);
    std::string finish;
    const std::vector<int32_t> out = print_stream(*handle, /*as_text=*/true, &finish);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "[%lld prompt + %zu generated tokens, %.2f s, finish %s]\n",
                 static_cast<long long>(handle->num_prompt_tokens()), out.size(), secs,
                 finish.c_str());
    s.messages.push_back({{"role", "assistant"}, {"content", s.tokenizer.decode(out, true)}});
    return true;
}

}  // namespace

int run_chat(const std::vector<std::string>& args) {
    Flags flags("chat",
                "Interactive chat in the terminal: type a message, the reply streams back.\n"
                "Commands: /image PATH attaches a PNG/JPEG to your next message, /reset clears\n"
                "the conversation, /exit (or end of input) quits.");
    add_model_flags(flags);
    add_engine_flags(flags);
    add_sampling_flags(flags);
    flags.add("system", "", "system prompt for the conversation");
    flags.add("max-tokens", "512", "most tokens per reply");
    flags.add("chat-template", "", "a Jinja template file instead of the checkpoint's");
    if (int rc = parse_or_exit(flags, args); rc >= 0) return rc;
    auto max_tokens = flags.get_int("max-tokens", 1, 1 << 20);
    if (!max_tokens) return fail(max_tokens.error_message(), kExitUsage);
    auto params = sampling_params_from_flags(flags);
    if (!params) return fail(params.error_message(), kExitUsage);
    params.value().max_tokens = max_tokens.value();
    auto chat_template = chat_template_for(flags);
    if (!chat_template) return fail(chat_template.error_message(), kExitFailure);
    auto tokenizer = load_tokenizer_for(flags.get("model"));
    if (!tokenizer) return fail(tokenizer.error_message(), kExitFailure);
    auto model = load_from_flags(flags);
    if (!model) return fail(model.error_message(), kExitFailure);
    const Glm4vModel& m = *model.value();
    const std::vector<int64_t> stops =
        find_special_tokens(*tokenizer.value()).stop_ids(m.config().eos_token_ids);
    auto bundle = make_engine(flags, m, tokenizer.value().get(),
                              std::vector<int32_t>(stops.begin(), stops.end()));
    if (!bundle) return fail(bundle.error_message(), kExitFailure);
    std::fprintf(stderr, "device: %s\n%s\n", bundle.value().device.c_str(),
                 bundle.value().kv_plan.describe().c_str());
    Engine& engine = *bundle.value().engine;
    engine.start();

    ChatSession session{engine, *tokenizer.value(), chat_template.value(), params.value(),
                        Glm4vImageProcessor(m.config().vision, m.image_processor_options())};
    const json system = flags.has("system")
                            ? json::array({{{"role", "system"}, {"content", flags.get("system")}}})
                            : json::array();
    session.messages = system;
    const bool interactive = isatty(STDIN_FILENO);
    std::string line;
    for (;;) {
        if (interactive) std::fputs("> ", stderr);
        if (!std::getline(std::cin, line) || line == "/exit") break;
        if (line == "/reset") {
            session.messages = system;
            session.images.clear();
            session.num_pending_images = 0;
            continue;
        }
        if (line.rfind("/image ", 0) == 0) {
            attach_image(session, line.substr(7));
            continue;
        }
        if (line.empty()) continue;
        chat_turn(session, line);
    }
    engine.stop();
    return 0;
}

}  // namespace autoglm
