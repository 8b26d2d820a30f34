// Request parsing with per-field type checks, and the error body.
#include "protocol/openai_protocol.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "protocol/json_body.h"

namespace autoglm {
namespace {

// Reads optional fields of one JSON object; the first bad one is remembered with its name.
class FieldReader {
  public:
    FieldReader(const OrderedJson& body, std::string* param) : body_(body), param_(param) {}

    const OrderedJson* find(const char* key) const {
        const auto it = body_.find(key);
        return it == body_.end() || it->is_null() ? nullptr : &*it;
    }
    void fail(const char* key, const std::string& message) {
        if (!error_.empty()) return;
        error_ = message;
        if (param_) *param_ = key;
    }
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

    template <typename T>
    void number(const char* key, T& out) {
        const OrderedJson* v = find(key);
        if (!v) return;
        if (!v->is_number()) return fail(key, std::string("'") + key + "' must be a number");
        const double d = v->get<double>();
        if (!std::isfinite(d)) return fail(key, std::string("'") + key + "' must be finite");
        out = static_cast<T>(d);
    }
    template <typename T>
    void integer(const char* key, T& out) {
        const OrderedJson* v = find(key);
        if (!v) return;
        if (!v->is_number_integer())
            return fail(key, std::string("'") + key + "' must be an integer");
        const auto i = v->get<int64_t>();
        if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max())
            return fail(key, std::string("'") + key + "' is out of range");
        out = static_cast<T>(i);
    }
    template <typename T>
    void integer(const char* key, std::optional<T>& out) {
        if (!find(key)) return;
        T value{};
        integer(key, value);
        if (ok()) out = value;
    }
    void boolean(const char* key, bool& out) {
        const OrderedJson* v = find(key);
        if (!v) return;
        if (!v->is_boolean()) return fail(key, std::string("'") + key + "' must be a boolean");
        out = v->get<bool>();
    }
    void string(const char* key, std::string& out) {
        const OrderedJson* v = find(key);
        if (!v) return;
        if (!v->is_string()) return fail(key, std::string("'") + key + "' must be a string");
        out = v->get<std::string>();
    }

  private:
    const OrderedJson& body_;
    std::string* param_;
    std::string error_;
};

void read_stop(FieldReader& r, SamplingParams& p) {
    const OrderedJson* stop = r.find("stop");
    if (stop) {
        if (stop->is_string()) {
            p.stop = {stop->get<std::string>()};
        } else if (stop->is_array()) {
            if (stop->size() > kMaxStopStrings)
                return r.fail("stop", "'stop' may hold at most " + std::to_string(kMaxStopStrings) +
                                          " strings");
            for (const auto& s : *stop) {
                if (!s.is_string()) return r.fail("stop", "'stop' must be a string or strings");
                p.stop.push_back(s.get<std::string>());
            }
        } else {
            return r.fail("stop", "'stop' must be a string or a list of strings");
        }
        for (const std::string& s : p.stop)
            if (s.size() > kMaxStopStringBytes)
                return r.fail("stop", "each 'stop' string may be at most " +
                                          std::to_string(kMaxStopStringBytes) + " bytes");
    }
    if (const OrderedJson* ids = r.find("stop_token_ids")) {
        if (!ids->is_array()) return r.fail("stop_token_ids", "'stop_token_ids' must be a list");
        if (ids->size() > kMaxStopTokenIds)
            return r.fail("stop_token_ids", "'stop_token_ids' may hold at most " +
                                                std::to_string(kMaxStopTokenIds) + " ids");
        for (const auto& id : *ids) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
                id.get<int64_t>() > std::numeric_limits<int32_t>::max())
                return r.fail("stop_token_ids", "'stop_token_ids' must hold token ids");
            p.stop_token_ids.push_back(id.get<int32_t>());
        }
    }
}

// OpenAI's {"<token id>": bias in [-100, 100]}.
void read_logit_bias(FieldReader& r, SamplingParams& p) {
    const OrderedJson* bias = r.find("logit_bias");
    if (!bias) return;
    if (!bias->is_object())
        return r.fail("logit_bias", "'logit_bias' must be an object of token id -> bias");
    if (bias->size() > kMaxLogitBias)
        return r.fail("logit_bias",
                      "'logit_bias' may hold at most " + std::to_string(kMaxLogitBias) + " tokens");
    for (const auto& [key, value] : bias->items()) {
        int64_t id = -1;
        const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
        if (ec != std::errc() || end != key.data() + key.size() || id < 0 ||
            id > std::numeric_limits<int32_t>::max())
            return r.fail("logit_bias", "'logit_bias' keys must be token ids, got '" + key + "'");
        if (!value.is_number() || !(value.get<double>() >= -100 && value.get<double>() <= 100))
            return r.fail("logit_bias", "'logit_bias' values must be numbers in [-100, 100]");
        p.logit_bias.emplace_back(static_cast<int32_t>(id), value.get<float>());
    }
}

// mm_processor_kwargs: {"max_pixels", "min_pixels", "size"} (checked against the server's caps
// when the images are processed).
void read_mm_processor_kwargs(FieldReader& r, PixelOverrides& out) {
    const OrderedJson* kwargs = r.find("mm_processor_kwargs");
    if (!kwargs) return;
    auto parsed = parse_pixel_overrides(kwargs->dump(), "mm_processor_kwargs");
    if (!parsed) return r.fail("mm_processor_kwargs", parsed.error_message());
    out = parsed.value();
}

// The sampling fields chat and completions share (vLLM's names and defaults).
void read_sampling(FieldReader& r, SamplingParams& p) {
    r.integer("n", p.n);
    r.number("temperature", p.temperature);
    r.number("top_p", p.top_p);
    r.integer("top_k", p.top_k);
    r.number("min_p", p.min_p);
    r.number("presence_penalty", p.presence_penalty);
    r.number("frequency_penalty", p.frequency_penalty);
    r.number("repetition_penalty", p.repetition_penalty);
    r.integer("seed", p.seed);
    r.integer("max_tokens", p.max_tokens);
    r.integer("min_tokens", p.min_tokens);
    r.boolean("ignore_eos", p.ignore_eos);
    r.boolean("skip_special_tokens", p.skip_special_tokens);
    r.boolean("include_stop_str_in_output", p.include_stop_str_in_output);
    read_stop(r, p);
    read_logit_bias(r, p);
    if (r.ok() && p.n > kMaxN) r.fail("n", "'n' must be at most " + std::to_string(kMaxN));
}

void read_stream_options(FieldReader& r, bool& include_usage) {
    const OrderedJson* so = r.find("stream_options");
    if (!so) return;
    if (!so->is_object()) return r.fail("stream_options", "'stream_options' must be an object");
    FieldReader inner(*so, nullptr);
    inner.boolean("include_usage", include_usage);
    if (!inner.ok()) r.fail("stream_options", inner.error());
}

// An image part's URL: {"type":"image_url","image_url":{"url":...}} or "image_url": "...".
Result<std::string> image_part_url(const OrderedJson& part) {
    const auto it = part.find(part.contains("image_url") ? "image_url" : "image");
    if (it == part.end()) return Error{"an image part needs 'image_url'"};
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("url") && (*it)["url"].is_string())
        return (*it)["url"].get<std::string>();
    return Error{"'image_url' must be an object with a string 'url'"};
}

// Validates one message and rewrites its image parts for the template.
Status read_message(const OrderedJson& in, OrderedJson& out, std::vector<std::string>& urls) {
    if (!in.is_object()) return Error{"each message must be an object"};
    const auto role = in.find("role");
    if (role == in.end() || !role->is_string()) return Error{"each message needs a string 'role'"};
    const auto content = in.find("content");
    if (content == in.end() || content->is_null() || content->is_string()) {
        out = in;
        return {};
    }
    if (!content->is_array()) return Error{"'content' must be a string or a list of parts"};
    // Every field but the parts, which are rewritten below: a screenshot's data URL (megabytes)
    // is copied once, into `urls`, not into the message as well.
    out = OrderedJson::object();
    for (auto it = in.begin(); it != in.end(); ++it)
        if (it.key() != "content") out[it.key()] = it.value();
    OrderedJson parts = OrderedJson::array();
    for (const auto& part : *content) {
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
            return Error{"each content part needs a string 'type'"};
        const std::string type = part["type"].get<std::string>();
        if (type == "text") {
            if (!part.contains("text") || !part["text"].is_string())
                return Error{"a text part needs a string 'text'"};
            parts.push_back(part);
        } else if (type == "image_url" || type == "image") {
            auto url = image_part_url(part);
            if (!url) return Error{url.error_message()};
            urls.push_back(std::move(url).value());
            parts.push_back({{"type", "image"}});
        } else {
            return Error{"unsupported content part type '" + type + "'"};
        }
    }
    out["content"] = std::move(parts);
    return {};
}

constexpr int64_t kMaxScreenSide = 100000;

// {"screen_width": W, "screen_height": H} inside `object`, both or neither (1..100000 pixels).
void read_screen(FieldReader& r, const OrderedJson& object, const char* field,
                 std::optional<ScreenSize>& out) {
    const auto side = [&](const char* key, int64_t& v) {
        const auto it = object.find(key);
        if (it == object.end() || it->is_null()) return false;
        if (!it->is_number_integer() || it->get<int64_t>() < 1 ||
            it->get<int64_t>() > kMaxScreenSide) {
            r.fail(field, std::string("'") + key + "' must be an integer in [1, " +
                              std::to_string(kMaxScreenSide) + "] (pixels)");
            return false;
        }
        v = it->get<int64_t>();
        return true;
    };
    ScreenSize screen;
    const bool has_w = side("screen_width", screen.width);
    const bool has_h = side("screen_height", screen.height);
    if (!r.ok()) return;
    if (has_w != has_h)
        return r.fail(field, "give both 'screen_width' and 'screen_height', or neither");
    if (has_w) out = screen;
}

void read_agent_action(FieldReader& r, ChatRequest& req) {
    const OrderedJson* v = r.find("agent_action");
    if (!v) return;
    if (v->is_boolean()) {
        req.agent_action = v->get<bool>();
        return;
    }
    if (!v->is_object())
        return r.fail("agent_action",
                      "'agent_action' must be a boolean or an object "
                      "{\"screen_width\": W, \"screen_height\": H}");
    req.agent_action = true;
    read_screen(r, *v, "agent_action", req.agent_screen);
}

}  // namespace

std::string error_type(int status) {
    switch (status) {
        case 400:
            return "BadRequestError";
        case 401:
            return "AuthenticationError";
        case 403:
            return "PermissionDeniedError";
        case 404:
            return "NotFoundError";
        case 405:
            return "MethodNotAllowedError";
        case 413:
            return "RequestTooLargeError";
        case 429:
            return "RateLimitError";
        case 503:
            return "ServiceUnavailableError";
        default:
            return "InternalServerError";
    }
}

std::string error_body(const ApiError& e) {
    OrderedJson err = {{"message", e.message},
                       {"type", error_type(e.status)},
                       {"param", e.param.empty() ? OrderedJson() : OrderedJson(e.param)},
                       {"code", e.status}};
    return OrderedJson{{"error", err}}.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

Result<OrderedJson> parse_json_body(const std::string& text) {
    auto body = parse_json_fast(text);
    if (body.is_discarded()) return Error{"the request body is not valid JSON"};
    return body;
}

OrderedJson agent_action_json(std::string_view reply, const std::optional<ScreenSize>& screen) {
    auto action = parse_agent_action(reply, screen);
    OrderedJson out = OrderedJson::object();
    if (action)
        out["agent_action"] = std::move(action).value();
    else
        out["agent_action_error"] = action.error_message();
    return out;
}

Result<AgentActionRequest> parse_agent_action_request(const OrderedJson& body, std::string* param) {
    if (!body.is_object()) return Error{"the request body must be a JSON object"};
    AgentActionRequest req;
    FieldReader r(body, param);
    if (!body.contains("text") || !body["text"].is_string()) {
        if (param) *param = "text";
        return Error{"'text' must be a string (the model's reply)"};
    }
    r.string("text", req.text);
    read_screen(r, body, "screen_width", req.screen);
    if (!r.ok()) return Error{r.error()};
    return req;
}

Result<ChatRequest> parse_chat_request(const OrderedJson& body, std::string* param) {
    if (!body.is_object()) return Error{"the request body must be a JSON object"};
    ChatRequest req;
    FieldReader r(body, param);
    r.string("model", req.model);
    read_sampling(r, req.params);
    std::optional<int64_t> max_completion;
    r.integer("max_completion_tokens", max_completion);
    if (max_completion) req.params.max_tokens = max_completion;
    r.boolean("stream", req.stream);
    read_stream_options(r, req.include_usage);
    r.boolean("logprobs", req.logprobs);
    r.integer("top_logprobs", req.top_logprobs);
    r.boolean("return_reasoning", req.return_reasoning);
    r.boolean("add_generation_prompt", req.add_generation_prompt);
    r.boolean("continue_final_message", req.continue_final_message);
    if (const OrderedJson* kwargs = r.find("chat_template_kwargs")) {
        if (!kwargs->is_object())
            r.fail("chat_template_kwargs", "'chat_template_kwargs' must be an object");
        else
            req.template_kwargs = *kwargs;
    }
    if (const OrderedJson* thinking = r.find("enable_thinking")) {
        if (!thinking->is_boolean())
            r.fail("enable_thinking", "'enable_thinking' must be a boolean");
        else
            req.template_kwargs["enable_thinking"] = *thinking;
    }
    if (const OrderedJson* tools = r.find("tools")) req.tools = *tools;
    read_mm_processor_kwargs(r, req.mm_overrides);
    r.boolean("return_tokens_as_token_ids", req.return_tokens_as_token_ids);
    read_agent_action(r, req);
    if (!r.ok()) return Error{r.error()};
    if (req.logprobs) req.params.logprobs = req.top_logprobs;
    if (req.top_logprobs < 0 || req.top_logprobs > kMaxLogprobs) {
        if (param) *param = "top_logprobs";
        return Error{"'top_logprobs' must be in [0, " + std::to_string(kMaxLogprobs) + "]"};
    }
    const auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array() || messages->empty()) {
        if (param) *param = "messages";
        return Error{"'messages' must be a non-empty list"};
    }
    req.messages = OrderedJson::array();
    for (const auto& m : *messages) {
        OrderedJson out;
        if (Status s = read_message(m, out, req.image_urls); !s) {
            if (param) *param = "messages";
            return Error{s.error_message()};
        }
        req.messages.push_back(std::move(out));
    }
    return req;
}

Result<CompletionRequest> parse_completion_request(const OrderedJson& body, std::string* param) {
    if (!body.is_object()) return Error{"the request body must be a JSON object"};
    CompletionRequest req;
    FieldReader r(body, param);
    r.string("model", req.model);
    read_sampling(r, req.params);
    r.boolean("stream", req.stream);
    read_stream_options(r, req.include_usage);
    r.boolean("echo", req.echo);
    r.integer("logprobs", req.logprobs);
    r.boolean("return_tokens_as_token_ids", req.return_tokens_as_token_ids);
    if (!r.ok()) return Error{r.error()};
    if (req.logprobs && (*req.logprobs < 0 || *req.logprobs > kMaxLogprobs)) {
        if (param) *param = "logprobs";
        return Error{"'logprobs' must be in [0, " + std::to_string(kMaxLogprobs) + "]"};
    }
    req.params.logprobs = req.logprobs;
    const auto fail_prompt = [&](const std::string& message) {
        if (param) *param = "prompt";
        return Error{message};
    };
    const auto prompt_it = body.find("prompt");
    if (prompt_it == body.end() || prompt_it->is_null()) return fail_prompt("'prompt' is required");
    const OrderedJson* prompt = &*prompt_it;
    // A list of one prompt is that prompt; several are not supported (one request each).
    if (prompt->is_array() && !prompt->empty() && !(*prompt)[0].is_number_integer()) {
        if (prompt->size() != 1)
            return fail_prompt("a list of several prompts is not supported; send one request each");
        prompt = &(*prompt)[0];
    }
    if (prompt->is_string()) {
        req.prompt = prompt->get<std::string>();
        if (req.prompt.empty()) return fail_prompt("'prompt' is empty");
        return req;
    }
    if (!prompt->is_array() || prompt->empty())
        return fail_prompt("'prompt' must be a string or a non-empty list of token ids");
    for (const auto& id : *prompt) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
            id.get<int64_t>() > std::numeric_limits<int32_t>::max())
            return fail_prompt("'prompt' token ids must be non-negative integers");
        req.prompt_ids.push_back(id.get<int32_t>());
    }
    req.prompt_is_ids = true;
    return req;
}

Result<TokenizeRequest> parse_tokenize_request(const OrderedJson& body, std::string* param) {
    if (!body.is_object()) return Error{"the request body must be a JSON object"};
    TokenizeRequest req;
    FieldReader r(body, param);
    r.string("model", req.model);
    r.boolean("add_special_tokens", req.add_special_tokens);
    r.boolean("return_token_strs", req.return_token_strs);
    if (!r.ok()) return Error{r.error()};
    const bool has_prompt = body.contains("prompt") && !body["prompt"].is_null();
    const bool has_messages = body.contains("messages") && !body["messages"].is_null();
    if (has_prompt == has_messages) {
        if (param) *param = has_prompt ? "messages" : "prompt";
        return Error{"give exactly one of 'prompt' and 'messages'"};
    }
    if (has_prompt) {
        r.string("prompt", req.prompt);
        if (!r.ok()) return Error{r.error()};
        return req;
    }
    auto chat = parse_chat_request(body, param);
    if (!chat) return chat.error();
    req.is_chat = true;
    req.chat = std::move(chat).value();
    // vLLM's chat /tokenize defaults: the generation prompt on, special tokens not added.
    if (req.chat.add_generation_prompt && req.chat.continue_final_message) {
        if (param) *param = "continue_final_message";
        return Error{
            "Cannot set both `continue_final_message` and `add_generation_prompt` to True."};
    }
    if (!body.contains("add_special_tokens")) req.add_special_tokens = false;
    return req;
}

Result<DetokenizeRequest> parse_detokenize_request(const OrderedJson& body, std::string* param) {
    if (!body.is_object()) return Error{"the request body must be a JSON object"};
    DetokenizeRequest req;
    FieldReader r(body, param);
    r.string("model", req.model);
    if (!r.ok()) return Error{r.error()};
    const auto tokens = body.find("tokens");
    if (tokens == body.end() || !tokens->is_array()) {
        if (param) *param = "tokens";
        return Error{"'tokens' must be a list of token ids"};
    }
    for (const auto& id : *tokens) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
            id.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
            if (param) *param = "tokens";
            return Error{"'tokens' must hold non-negative token ids"};
        }
        req.tokens.push_back(id.get<int32_t>());
    }
    return req;
}

}  // namespace autoglm
