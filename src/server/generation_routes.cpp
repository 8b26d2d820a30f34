// /v1/chat/completions and /v1/completions: parse -> images -> template -> tokens -> engine, then
// one JSON answer or an SSE stream of chunks (vLLM's shapes), with reasoning split on request.
#include <chrono>
#include <ctime>
#include <optional>
#include <random>

#include "core/hash.h"
#include "image/image.h"
#include "protocol/reasoning.h"
#include "server/openai_service.h"
#include "tokenizer/content_format.h"

namespace autoglm {
namespace {

using http::asio::awaitable;

std::string random_id(const char* prefix) {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%s%016llx%08llx", prefix,
                  static_cast<unsigned long long>(gen()),
                  static_cast<unsigned long long>(gen() & 0xffffffffu));
    return buf;
}

const std::string kDone = "[DONE]";

// NOTE: coroutines here never hold a braced initializer list across a co_await (GCC 12 fails
// with "array used as initializer"); JSON is built in these plain functions instead.
OrderedJson one(OrderedJson item) {
    OrderedJson list = OrderedJson::array();
    list.push_back(std::move(item));
    return list;
}

std::string dump(const OrderedJson& j) {
    return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

// The next output of the request; nullopt when it ended or the client left (then cancelled).
awaitable<std::optional<EngineOutput>> next_output(http::Exchange& ex, RequestHandle& h) {
    for (;;) {
        if (auto item = h.outputs().try_pop()) co_return item;
        if (h.outputs().closed_and_drained()) co_return std::nullopt;
        if (ex.client_gone()) {
            h.cancel();
            co_return std::nullopt;
        }
        co_await ex.wait(std::chrono::milliseconds(100));
    }
}

OrderedJson stop_reason_json(const StopReason& r) {
    if (const auto* id = std::get_if<int32_t>(&r)) return *id;
    if (const auto* s = std::get_if<std::string>(&r)) return *s;
    return nullptr;
}

OrderedJson usage_json(const EngineUsage& u) {
    OrderedJson j = {{"prompt_tokens", u.prompt_tokens},
                     {"total_tokens", u.prompt_tokens + u.completion_tokens},
                     {"completion_tokens", u.completion_tokens}};
    j["prompt_tokens_details"] = {{"cached_tokens", u.cached_tokens}};
    return j;
}

OrderedJson token_bytes_json(const Tokenizer& tok, int32_t id) {
    OrderedJson bytes = OrderedJson::array();
    for (unsigned char c : tok.token_bytes(id)) bytes.push_back(static_cast<int>(c));
    return bytes;
}

// A logprob entry's token: its text, or "token_id:<id>" (vLLM's return_tokens_as_token_ids).
std::string token_label(const Tokenizer& tok, int32_t id, bool as_id) {
    return as_id ? "token_id:" + std::to_string(id) : tok.decode(std::vector<int32_t>{id});
}

// Chat logprobs entries for the new tokens ({"token","logprob","bytes","top_logprobs"}).
OrderedJson chat_logprobs(const Tokenizer& tok, const std::vector<SampleResult>& samples,
                          bool as_ids) {
    OrderedJson content = OrderedJson::array();
    for (const SampleResult& s : samples) {
        OrderedJson top = OrderedJson::array();
        for (const TokenLogprob& t : s.top_logprobs)
            top.push_back({{"token", token_label(tok, t.token_id, as_ids)},
                           {"logprob", t.logprob},
                           {"bytes", token_bytes_json(tok, t.token_id)}});
        content.push_back({{"token", token_label(tok, s.token_id, as_ids)},
                           {"logprob", s.logprob},
                           {"bytes", token_bytes_json(tok, s.token_id)},
                           {"top_logprobs", top}});
    }
    return {{"content", content}};
}

struct Choice {
    std::string text;
    std::vector<SampleResult> logprobs;
    std::optional<FinishReason> finish;
    StopReason stop_reason;
    ReasoningSplitter splitter;
    std::string reasoning, content;
};

// NOTE: built outside the coroutines: GCC 12 miscompiles braced JSON literals in lambdas there.
OrderedJson make_chunk(const std::string& id, const std::string& object, int64_t created,
                       const std::string& model, OrderedJson choices) {
    return OrderedJson{{"id", id},
                       {"object", object},
                       {"created", created},
                       {"model", model},
                       {"choices", std::move(choices)}};
}

// The first chunk of each choice of a chat stream.
// Ends an SSE answer: the usage chunk (when not empty), then [DONE].
// NOTE: by reference: GCC 12 double-frees a by-value std::string coroutine parameter built from
// a conditional expression.
awaitable<void> end_stream(http::Exchange& ex, const std::string& usage_event) {
    if (!usage_event.empty()) co_await ex.send_event(usage_event);
    co_await ex.send_event(kDone);
    co_await ex.end_events();
}

OrderedJson role_choice(int32_t index) {
    return {{"index", index},
            {"delta", {{"role", "assistant"}, {"content", ""}}},
            {"logprobs", nullptr},
            {"finish_reason", nullptr}};
}

OrderedJson finish_json(const std::optional<FinishReason>& reason) {
    return reason ? OrderedJson(finish_reason_name(*reason)) : OrderedJson();
}

OrderedJson reasoning_delta(const ReasoningDelta& d) {
    OrderedJson delta = OrderedJson::object();
    if (!d.reasoning.empty()) delta["reasoning_content"] = delta["reasoning"] = d.reasoning;
    if (!d.content.empty()) delta["content"] = d.content;
    return delta;
}

OrderedJson chat_delta_choice(const EngineOutput& out, OrderedJson delta, OrderedJson logprobs) {
    OrderedJson choice = {{"index", out.index},
                          {"delta", std::move(delta)},
                          {"logprobs", std::move(logprobs)},
                          {"finish_reason", finish_json(out.finish_reason)}};
    if (out.finish_reason) choice["stop_reason"] = stop_reason_json(out.stop_reason);
    return choice;
}

OrderedJson usage_chunk(OrderedJson chunk, const EngineUsage& usage) {
    chunk["usage"] = usage_json(usage);
    return chunk;
}

OrderedJson chat_message(const Choice& c, bool split) {
    OrderedJson message = {{"role", "assistant"}, {"content", split ? c.content : c.text}};
    if (split) {
        const OrderedJson r = c.reasoning.empty() ? OrderedJson() : OrderedJson(c.reasoning);
        message["reasoning_content"] = r;
        message["reasoning"] = r;
    }
    message["tool_calls"] = OrderedJson::array();
    return message;
}

// The parsed phone action of a finished choice, into its JSON (agent_action or its error).
void add_agent_action(OrderedJson& choice, const Choice& c, const ChatRequest& req) {
    const OrderedJson parsed = agent_action_json(c.text, req.agent_screen);
    for (const auto& [key, value] : parsed.items()) choice[key] = value;
}

OrderedJson chat_response(const std::string& id, int64_t created, const std::string& model,
                          const std::vector<Choice>& choices, bool split, bool with_action,
                          const ChatRequest& req, const Tokenizer& tok, const EngineUsage& usage) {
    OrderedJson list = OrderedJson::array();
    for (size_t i = 0; i < choices.size(); ++i) {
        const Choice& c = choices[i];
        list.push_back({{"index", i},
                        {"message", chat_message(c, split)},
                        {"logprobs", req.logprobs ? chat_logprobs(tok, c.logprobs,
                                                                  req.return_tokens_as_token_ids)
                                                  : OrderedJson()},
                        {"finish_reason", finish_json(c.finish.value_or(FinishReason::kAbort))},
                        {"stop_reason", stop_reason_json(c.stop_reason)}});
        if (with_action) add_agent_action(list.back(), c, req);
    }
    OrderedJson response = make_chunk(id, "chat.completion", created, model, std::move(list));
    response["usage"] = usage_json(usage);
    return response;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// One remote fetch as a coroutine of its own, its parameters by value in its frame. NOTE: a
// capturing lambda coroutine in its place aborted (free(): invalid pointer in the captures'
// destructor) when built with GCC 12.
awaitable<std::shared_ptr<Result<std::string>>> fetch_on_pool(std::string url,
                                                              MediaOptions options) {
    co_return std::make_shared<Result<std::string>>(fetch_image_bytes(url, options));
}

ApiError image_error(size_t index, const std::string& message) {
    return {400, "image " + std::to_string(index + 1) + ": " + message, "messages"};
}

}  // namespace

awaitable<OpenAiService::RemoteImages> OpenAiService::fetch_remote_images(const ChatRequest& req) {
    RemoteImages out;
    // Remote media off: fetch_image_bytes refuses them; too many images: chat_prompt's 400.
    if (!media_pool_ || static_cast<int64_t>(req.image_urls.size()) > config_.max_images_per_prompt)
        co_return out;
    uint64_t total = 0;
    for (size_t i = 0; i < req.image_urls.size(); ++i) {
        if (!is_remote_url(req.image_urls[i])) continue;
        if (media_stopped_.load()) {
            out.emplace(i, Error{"the server is shutting down"});
            break;
        }
        auto fetched = co_await http::asio::co_spawn(
            media_pool_->get_executor(), fetch_on_pool(req.image_urls[i], config_.media),
            http::asio::use_awaitable);
        const bool ok = fetched->ok();
        if (ok) total += fetched->value().size();
        out.emplace(i, std::move(*fetched));
        if (!ok) break;  // the request fails with this image's error: fetch no more
        if (total > config_.media.max_bytes) {
            out.insert_or_assign(
                i, Error{"the request's remote images exceed " +
                         std::to_string(config_.media.max_bytes >> 20) + " MiB together"});
            break;
        }
    }
    co_return out;
}

std::variant<ChatPrompt, ApiError> OpenAiService::chat_prompt(const ChatRequest& req,
                                                              const RemoteImages& remote) const {
    if (static_cast<int64_t>(req.image_urls.size()) > config_.max_images_per_prompt)
        return ApiError{400,
                        "At most " + std::to_string(config_.max_images_per_prompt) +
                            " image(s) may be provided in one prompt.",
                        "messages"};
    const Glm4vImageProcessor* processor = services_.image_processor;
    std::optional<Glm4vImageProcessor> own;
    if (!req.mm_overrides.empty() && !req.image_urls.empty()) {
        auto options = apply_pixel_overrides(processor->options(), req.mm_overrides, false);
        if (!options)
            return ApiError{400, "mm_processor_kwargs: " + options.error_message(),
                            "mm_processor_kwargs"};
        own.emplace(
            processor->with_pixel_caps(options.value().min_pixels, options.value().max_pixels));
        processor = &*own;
    }
    ChatPrompt out;
    const auto media_start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < req.image_urls.size(); ++i) {
        const auto fetched = remote.find(i);
        std::optional<Result<std::string>> local;
        if (fetched == remote.end())
            local.emplace(fetch_image_bytes(req.image_urls[i], config_.media));
        const Result<std::string>& bytes = local ? *local : fetched->second;
        if (!bytes) return image_error(i, bytes.error_message());
        // The decoded picture and the resize buffers stay with the thread; the resized picture
        // moves into the request, which the backend normalizes and cuts into patch rows (on the
        // GPU: from ~7 MB of bytes, not ~58 MB of floats).
        auto image = processor->intake(reinterpret_cast<const uint8_t*>(bytes.value().data()),
                                       bytes.value().size());
        if (!image) return image_error(i, image.error_message());
        auto pixels = std::make_shared<const Glm4vProcessedImage>(std::move(image).value());
        // The prefix-cache key: the encoded bytes under these processor settings (hashing the
        // ~1 MB file, not the ~60 MB of pixel values it becomes).
        const std::string settings = processor->options().describe();
        const uint64_t key = hash_bytes(bytes.value().data(), bytes.value().size(),
                                        hash_bytes(settings.data(), settings.size()));
        out.images.push_back({std::move(pixels), key});
    }
    if (!req.image_urls.empty()) preparation_.media.observe(seconds_since(media_start));
    const auto prompt_start = std::chrono::steady_clock::now();
    OrderedJson context = req.template_kwargs;
    context["messages"] = config_.content_format == ContentFormat::kString
                              ? OrderedJson(apply_content_format(nlohmann::json(req.messages),
                                                                 ContentFormat::kString))
                              : req.messages;
    context["add_generation_prompt"] = req.add_generation_prompt && !req.continue_final_message;
    if (!req.tools.is_null()) context["tools"] = req.tools;
    auto prompt = services_.chat_template->render(context);
    if (!prompt) return ApiError{400, "chat template: " + prompt.error_message()};
    out.ids = services_.tokenizer->encode(prompt.value());
    preparation_.prompt.observe(seconds_since(prompt_start));
    return out;
}

awaitable<void> OpenAiService::chat(http::Exchange& ex) {
    const auto parse_start = std::chrono::steady_clock::now();
    auto parsed = co_await read_request(ex, parse_chat_request);
    if (!parsed) co_return;
    preparation_.parse.observe(seconds_since(parse_start));
    ChatRequest& req = *parsed;
    if (const auto e = unknown_model(req.model)) co_return co_await send_error(ex, *e);
    const RemoteImages remote = co_await fetch_remote_images(req);
    auto prepared = chat_prompt(req, remote);
    if (const auto* e = std::get_if<ApiError>(&prepared)) co_return co_await send_error(ex, *e);
    ChatPrompt& prompt = std::get<ChatPrompt>(prepared);
    GenerationInput input{std::move(prompt.ids), std::move(prompt.images), req.params};
    const auto submit_start = std::chrono::steady_clock::now();
    auto submitted = services_.engine->submit(std::move(input));
    preparation_.submit.observe(seconds_since(submit_start));
    if (auto* f = std::get_if<SubmitFailure>(&submitted)) co_return co_await submit_failed(ex, *f);
    auto handle = std::get<std::shared_ptr<RequestHandle>>(submitted);
    handle->outputs().set_listener(ex.waker());

    const bool split = req.return_reasoning || config_.reasoning_parser;
    const bool with_action = req.agent_action.value_or(config_.agent_action);
    const std::string id = random_id("chatcmpl-");
    const auto created = static_cast<int64_t>(std::time(nullptr));
    const Tokenizer& tok = *services_.tokenizer;
    std::vector<Choice> choices(static_cast<size_t>(req.params.n));
    EngineUsage usage;
    const auto chunk = [&](OrderedJson choice_list) {
        return make_chunk(id, "chat.completion.chunk", created, config_.served_model_name,
                          std::move(choice_list));
    };
    if (req.stream) {
        if (!co_await ex.start_events()) co_return handle->cancel();
        for (int32_t i = 0; i < req.params.n; ++i) {
            const std::string event = dump(chunk(one(role_choice(i))));
            if (!co_await ex.send_event(event)) co_return handle->cancel();
        }
    }
    for (;;) {
        auto out = co_await next_output(ex, *handle);
        if (!out) co_return;  // client gone: cancelled
        Choice& c = choices[static_cast<size_t>(out->index)];
        c.text += out->text;
        c.logprobs.insert(c.logprobs.end(), out->logprobs.begin(), out->logprobs.end());
        ReasoningDelta d;
        d.content = out->text;
        if (split) {
            d = c.splitter.push(out->text);
            if (out->finish_reason) {
                const ReasoningDelta tail = c.splitter.finish();
                d.reasoning += tail.reasoning;
                d.content += tail.content;
            }
            c.reasoning += d.reasoning;
            c.content += d.content;
        }
        if (out->finish_reason) c.finish = out->finish_reason, c.stop_reason = out->stop_reason;
        if (out->request_finished) usage = out->usage;
        if (req.stream) {
            OrderedJson delta = reasoning_delta(d);
            if (!delta.empty() || out->finish_reason || !out->logprobs.empty()) {
                OrderedJson lp =
                    req.logprobs ? chat_logprobs(tok, out->logprobs, req.return_tokens_as_token_ids)
                                 : OrderedJson();
                OrderedJson choice = chat_delta_choice(*out, std::move(delta), std::move(lp));
                if (out->finish_reason && with_action) add_agent_action(choice, c, req);
                const std::string event = dump(chunk(one(std::move(choice))));
                if (!co_await ex.send_event(event)) co_return handle->cancel();
            }
        }
        if (out->request_finished) break;
    }
    if (req.stream) {
        std::string usage_event;
        if (req.include_usage) usage_event = dump(usage_chunk(chunk(OrderedJson::array()), usage));
        co_return co_await end_stream(ex, usage_event);
    }
    co_await send_json(ex, 200,
                       chat_response(id, created, config_.served_model_name, choices, split,
                                     with_action, req, tok, usage));
}

namespace {

// Completions logprobs ({"tokens","token_logprobs","top_logprobs","text_offset"}) for samples
// whose text starts at `offset` in the choice's text.
void append_completion_logprobs(const Tokenizer& tok, const std::vector<SampleResult>& samples,
                                bool as_ids, size_t& offset, OrderedJson& lp) {
    for (const SampleResult& s : samples) {
        const std::string text = tok.decode(std::vector<int32_t>{s.token_id});
        lp["tokens"].push_back(token_label(tok, s.token_id, as_ids));
        lp["token_logprobs"].push_back(s.logprob);
        OrderedJson top = OrderedJson::object();
        for (const TokenLogprob& t : s.top_logprobs)
            top[token_label(tok, t.token_id, as_ids)] = t.logprob;
        lp["top_logprobs"].push_back(top);
        lp["text_offset"].push_back(offset);
        offset += text.size();
    }
}

OrderedJson empty_completion_logprobs() {
    return {{"tokens", OrderedJson::array()},
            {"token_logprobs", OrderedJson::array()},
            {"top_logprobs", OrderedJson::array()},
            {"text_offset", OrderedJson::array()}};
}

OrderedJson completion_choice(int64_t index, const std::string& text, OrderedJson logprobs,
                              const std::optional<FinishReason>& finish,
                              const StopReason& stop_reason) {
    OrderedJson choice = {{"index", index},
                          {"text", text},
                          {"logprobs", std::move(logprobs)},
                          {"finish_reason", finish_json(finish)}};
    if (finish) choice["stop_reason"] = stop_reason_json(stop_reason);
    return choice;
}

OrderedJson completion_response(const std::string& id, int64_t created, const std::string& model,
                                const std::vector<Choice>& choices, bool logprobs, bool as_ids,
                                size_t echo_size, const Tokenizer& tok, const EngineUsage& usage) {
    OrderedJson list = OrderedJson::array();
    for (size_t i = 0; i < choices.size(); ++i) {
        OrderedJson lp;
        if (logprobs) {
            lp = empty_completion_logprobs();
            size_t offset = echo_size;
            append_completion_logprobs(tok, choices[i].logprobs, as_ids, offset, lp);
        }
        OrderedJson c = completion_choice(static_cast<int64_t>(i), choices[i].text, std::move(lp),
                                          choices[i].finish.value_or(FinishReason::kAbort),
                                          choices[i].stop_reason);
        if (!c.contains("stop_reason")) c["stop_reason"] = nullptr;
        list.push_back(std::move(c));
    }
    OrderedJson response = make_chunk(id, "text_completion", created, model, std::move(list));
    response["usage"] = usage_json(usage);
    return response;
}

}  // namespace

awaitable<void> OpenAiService::completions(http::Exchange& ex) {
    const auto parse_start = std::chrono::steady_clock::now();
    auto parsed = co_await read_request(ex, parse_completion_request);
    if (!parsed) co_return;
    preparation_.parse.observe(seconds_since(parse_start));
    CompletionRequest& req = *parsed;
    if (const auto e = unknown_model(req.model)) co_return co_await send_error(ex, *e);
    const Tokenizer& tok = *services_.tokenizer;
    GenerationInput input;
    input.prompt_ids = req.prompt_is_ids ? req.prompt_ids : tok.encode(req.prompt);
    input.params = req.params;
    const std::string echo_text =
        req.echo ? (req.prompt_is_ids ? tok.decode(req.prompt_ids) : req.prompt) : "";
    auto submitted = services_.engine->submit(std::move(input));
    if (auto* f = std::get_if<SubmitFailure>(&submitted)) co_return co_await submit_failed(ex, *f);
    auto handle = std::get<std::shared_ptr<RequestHandle>>(submitted);
    handle->outputs().set_listener(ex.waker());

    const std::string id = random_id("cmpl-");
    const auto created = static_cast<int64_t>(std::time(nullptr));
    const bool want_logprobs = req.logprobs.has_value();
    std::vector<Choice> choices(static_cast<size_t>(req.params.n));
    std::vector<size_t> offsets(choices.size(), echo_text.size());
    std::vector<bool> echoed(choices.size(), false);
    EngineUsage usage;
    const auto chunk = [&](OrderedJson choice_list) {
        return make_chunk(id, "text_completion", created, config_.served_model_name,
                          std::move(choice_list));
    };
    if (req.stream && !co_await ex.start_events()) co_return handle->cancel();
    for (;;) {
        auto out = co_await next_output(ex, *handle);
        if (!out) co_return;
        const auto i = static_cast<size_t>(out->index);
        Choice& c = choices[i];
        std::string text = out->text;
        if (!echoed[i]) text = echo_text + text, echoed[i] = true;
        c.text += text;
        c.logprobs.insert(c.logprobs.end(), out->logprobs.begin(), out->logprobs.end());
        if (out->finish_reason) c.finish = out->finish_reason, c.stop_reason = out->stop_reason;
        if (out->request_finished) usage = out->usage;
        if (req.stream) {
            OrderedJson lp;
            if (want_logprobs) {
                lp = empty_completion_logprobs();
                append_completion_logprobs(tok, out->logprobs, req.return_tokens_as_token_ids,
                                           offsets[i], lp);
            }
            const std::string event = dump(chunk(one(completion_choice(
                out->index, text, std::move(lp), out->finish_reason, out->stop_reason))));
            if (!co_await ex.send_event(event)) co_return handle->cancel();
        }
        if (out->request_finished) break;
    }
    if (req.stream) {
        std::string usage_event;
        if (req.include_usage) usage_event = dump(usage_chunk(chunk(OrderedJson::array()), usage));
        co_return co_await end_stream(ex, usage_event);
    }
    co_await send_json(
        ex, 200,
        completion_response(id, created, config_.served_model_name, choices, want_logprobs,
                            req.return_tokens_as_token_ids, echo_text.size(), tok, usage));
}

}  // namespace autoglm
