// vLLM's POST /tokenize (a prompt, or chat messages through the template and the image processor,
// images expanded to their token counts), POST /detokenize, and POST /agent_action (a reply's
// phone action, parsed as the chat route parses it).
#include "server/openai_service.h"

namespace autoglm {
namespace {

using http::asio::awaitable;

OrderedJson tokenize_body(const std::vector<int32_t>& ids, int64_t max_model_len,
                          const Tokenizer* strs) {
    OrderedJson tokens = OrderedJson::array();
    for (int32_t id : ids) tokens.push_back(id);
    OrderedJson body = {
        {"count", ids.size()}, {"max_model_len", max_model_len}, {"tokens", tokens}};
    if (strs) {
        OrderedJson list = OrderedJson::array();
        for (int32_t id : ids) list.push_back(strs->decode(std::vector<int32_t>{id}));
        body["token_strs"] = list;
    } else {
        body["token_strs"] = nullptr;
    }
    return body;
}

OrderedJson detokenize_body(const std::string& text) {
    return {{"prompt", text}};
}

}  // namespace

awaitable<void> OpenAiService::tokenize(http::Exchange& ex) {
    const auto parsed = co_await read_request(ex, parse_tokenize_request);
    if (!parsed) co_return;
    const TokenizeRequest& req = *parsed;
    if (const auto e = unknown_model(req.model)) co_return co_await send_error(ex, *e);
    const Tokenizer& tok = *services_.tokenizer;
    std::vector<int32_t> ids;
    if (!req.is_chat) {
        ids = tok.encode(req.prompt);
    } else {
        const RemoteImages remote = co_await fetch_remote_images(req.chat);
        auto prepared = chat_prompt(req.chat, remote);
        if (const auto* e = std::get_if<ApiError>(&prepared)) co_return co_await send_error(ex, *e);
        ChatPrompt& prompt = std::get<ChatPrompt>(prepared);
        GenerationInput input{std::move(prompt.ids), std::move(prompt.images), {}};
        auto expanded = services_.engine->prompt_token_ids(std::move(input));
        if (!expanded) co_return co_await send_error(ex, {400, expanded.error_message()});
        ids = std::move(expanded).value();
    }
    co_await send_json(
        ex, 200,
        tokenize_body(ids, services_.max_model_len, req.return_token_strs ? &tok : nullptr));
}

awaitable<void> OpenAiService::detokenize(http::Exchange& ex) {
    const auto parsed = co_await read_request(ex, parse_detokenize_request);
    if (!parsed) co_return;
    const DetokenizeRequest& req = *parsed;
    if (const auto e = unknown_model(req.model)) co_return co_await send_error(ex, *e);
    const Tokenizer& tok = *services_.tokenizer;
    for (int32_t id : req.tokens)
        if (id >= tok.vocab_size())
            co_return co_await send_error(
                ex, {400,
                     "token id " + std::to_string(id) + " is out of vocabulary (size " +
                         std::to_string(tok.vocab_size()) + ")",
                     "tokens"});
    co_await send_json(ex, 200, detokenize_body(tok.decode(req.tokens)));
}

awaitable<void> OpenAiService::agent_action(http::Exchange& ex) {
    const auto parsed = co_await read_request(ex, parse_agent_action_request);
    if (!parsed) co_return;
    co_await send_json(ex, 200, agent_action_json(parsed->text, parsed->screen));
}

}  // namespace autoglm
