// The OpenAI / vLLM request surface: JSON bodies -> typed requests (every field type- and
// range-checked, unknown fields ignored as vLLM does) and the error body format.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "engine/sampling_params.h"
#include "model/glm4v/preprocessor_config.h"
#include "protocol/agent_action.h"

namespace autoglm {

using OrderedJson = nlohmann::ordered_json;

// An error as the client sees it: HTTP status, OpenAI error type and message.
struct ApiError {
    // NOTE: a constructor, not an aggregate: GCC 12 rejects aggregate-initializing one from a
    // string literal inside a co_await expression ("array used as initializer").
    ApiError(int status_code, std::string text, std::string field = "")
        : status(status_code), message(std::move(text)), param(std::move(field)) {}
    int status = 400;
    std::string message;
    std::string param;  // the offending field, "" = null
};
// OpenAI's type name for a status ("BadRequestError", "NotFoundError", ...).
std::string error_type(int status);
// {"error": {"message", "type", "param", "code"}} (OpenAI's shape; code = the status).
std::string error_body(const ApiError& error);

struct ChatRequest {
    std::string model;     // "" when absent
    OrderedJson messages;  // for the template: image_url parts become {"type": "image"}
    std::vector<std::string> image_urls;  // every image part's URL, in order
    SamplingParams params;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
    bool logprobs = false;
    int32_t top_logprobs = 0;
    bool return_reasoning = false;  // split <think>...</think> into reasoning_content
    bool add_generation_prompt = true;
    bool continue_final_message = false;
    // Template variables: chat_template_kwargs, then enable_thinking (top level) over them.
    OrderedJson template_kwargs = OrderedJson::object();
    OrderedJson tools;            // null when absent
    PixelOverrides mm_overrides;  // mm_processor_kwargs (may lower the server's pixel caps)
    bool return_tokens_as_token_ids = false;  // logprob tokens as "token_id:<id>" (vLLM)
    // "agent_action": true | false | {"screen_width": W, "screen_height": H}; unset = the
    // server's --agent-action. The screen size adds pixel coordinates to the parsed action.
    std::optional<bool> agent_action;
    std::optional<ScreenSize> agent_screen;
};

// Bounds on request fields (each breach is a 400 naming the field).
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 1024;
inline constexpr size_t kMaxStopTokenIds = 64;
inline constexpr size_t kMaxLogitBias = 300;
inline constexpr int32_t kMaxN = 16;

struct CompletionRequest {
    std::string model;
    std::string prompt;               // text prompt, or
    std::vector<int32_t> prompt_ids;  // token ids (when prompt_is_ids)
    bool prompt_is_ids = false;
    SamplingParams params;
    bool stream = false;
    bool include_usage = false;
    bool echo = false;
    std::optional<int32_t> logprobs;  // completions: number of alternatives (0..20)
    bool return_tokens_as_token_ids = false;
};

// vLLM's POST /tokenize: a prompt, or chat messages rendered through the template.
struct TokenizeRequest {
    std::string model;
    bool is_chat = false;
    std::string prompt;              // !is_chat
    ChatRequest chat;                // is_chat: messages, template kwargs, mm_processor_kwargs
    bool add_special_tokens = true;  // accepted; GLM's tokenizer adds no special tokens itself
    bool return_token_strs = false;
};
struct DetokenizeRequest {
    std::string model;
    std::vector<int32_t> tokens;
};

// POST /agent_action: {"text": reply, "screen_width": W, "screen_height": H} (the size optional):
// a reply parsed as the chat route parses it with "agent_action".
struct AgentActionRequest {
    std::string text;
    std::optional<ScreenSize> screen;
};
// The JSON of a parse: {"agent_action": {...}} or {"agent_action_error": why}.
OrderedJson agent_action_json(std::string_view reply, const std::optional<ScreenSize>& screen);

// The request body as JSON, or "the request body is not valid JSON".
Result<OrderedJson> parse_json_body(const std::string& text);

// Both return a 400-worthy message on any bad field; `param` names it.
Result<ChatRequest> parse_chat_request(const OrderedJson& body, std::string* param);
Result<CompletionRequest> parse_completion_request(const OrderedJson& body, std::string* param);
Result<TokenizeRequest> parse_tokenize_request(const OrderedJson& body, std::string* param);
Result<DetokenizeRequest> parse_detokenize_request(const OrderedJson& body, std::string* param);
Result<AgentActionRequest> parse_agent_action_request(const OrderedJson& body, std::string* param);

}  // namespace autoglm
