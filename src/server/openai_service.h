// OpenAiService: the HTTP routes — /v1/chat/completions, /v1/completions, /v1/models, /health,
// /metrics, /version, /agent_action and the playground page at / — over the engine, with API-key
// checks, OpenAI error bodies, request metrics and the loading -> ready -> draining life cycle
// (readiness answers 503 outside "ready").
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/engine.h"
#include "model/glm4v/image_processor.h"
#include "protocol/openai_protocol.h"
#include "server/cors.h"
#include "server/http_server.h"
#include "server/media.h"
#include "server/prom_metrics.h"
#include "tokenizer/content_format.h"
#include "tokenizer/jinja/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace autoglm {

struct ServeConfig {
    std::string served_model_name = "autoglm-phone-9b";
    std::string api_key;  // "" = no check
    MediaOptions media;
    int64_t max_images_per_prompt = 4;  // --limit-mm-per-prompt
    bool reasoning_parser = false;      // --reasoning-parser glm45: always split reasoning
    ContentFormat content_format = ContentFormat::kOpenAi;  // --chat-template-content-format
    CorsOptions cors;
    std::string version;
    bool agent_action = false;  // --agent-action: parse every chat reply's phone action
    bool ui = true;             // GET / serves the playground (--no-ui: 404)
};

// A chat request made ready for the engine: the rendered prompt's ids (one <|image|> per image)
// and the processed images.
struct ChatPrompt {
    std::vector<int32_t> ids;
    std::vector<EngineImage> images;
};

// What the routes need once the model is loaded. Not owned.
struct ModelServices {
    Engine* engine = nullptr;
    const Tokenizer* tokenizer = nullptr;
    const jinja::ChatTemplate* chat_template = nullptr;
    const Glm4vImageProcessor* image_processor = nullptr;
    int64_t max_model_len = 0;
};

class OpenAiService {
  public:
    explicit OpenAiService(ServeConfig config);
    ~OpenAiService();
    // Waits for the remote image fetches in flight (at most their timeout) and refuses new ones;
    // call before the HTTP server stops, since a finished fetch resumes its request there.
    void stop_media();

    http::asio::awaitable<void> handle(http::Exchange& ex);

    // Loading -> ready (services must outlive the service's use) -> draining.
    void set_ready(const ModelServices& services);
    void set_draining() { state_.store(State::kDraining); }
    bool ready() const { return state_.load() == State::kReady; }
    HttpMetrics& http_metrics() { return http_metrics_; }
    // Optional: device memory for /metrics (used, total bytes).
    std::function<std::pair<double, double>()> gpu_memory;
    // For /metrics: the tensor-parallel ranks of the engine (0 = not reported); may be set while
    // the server already answers.
    std::atomic<int> tensor_parallel_size{0};

  private:
    enum class State { kLoading, kReady, kDraining };
    struct Route;

    http::asio::awaitable<void> dispatch(http::Exchange& ex, std::string& handler_label);
    http::asio::awaitable<void> chat(http::Exchange& ex);
    http::asio::awaitable<void> completions(http::Exchange& ex);
    http::asio::awaitable<void> tokenize(http::Exchange& ex);
    http::asio::awaitable<void> detokenize(http::Exchange& ex);
    http::asio::awaitable<void> agent_action(http::Exchange& ex);
    // The one path from chat messages to engine input: images fetched, decoded and processed
    // (with the request's mm_processor_kwargs), the template rendered, the text tokenized.
    // The bytes of the request's http(s) image URLs (by index into image_urls), fetched on the
    // media pool so no I/O thread waits on the network.
    using RemoteImages = std::map<size_t, Result<std::string>>;
    http::asio::awaitable<RemoteImages> fetch_remote_images(const ChatRequest& req);
    // `remote` holds what fetch_remote_images got; other URLs are read here.
    std::variant<ChatPrompt, ApiError> chat_prompt(const ChatRequest& req,
                                                   const RemoteImages& remote = {}) const;
    http::asio::awaitable<void> send_error(http::Exchange& ex, const ApiError& error,
                                           const http::Headers& extra = {});
    // A JSON route's request: the body parsed, then read by `parse`; on failure the 400 (naming
    // the field `parse` blames) is sent and the result is empty.
    template <typename Req>
    http::asio::awaitable<std::optional<Req>> read_request(http::Exchange& ex,
                                                           Result<Req> (*parse)(const OrderedJson&,
                                                                                std::string*)) {
        auto body = parse_json_body(ex.request().body);
        if (!body) {
            co_await send_error(ex, {400, body.error_message()});
            co_return std::nullopt;
        }
        std::string param;
        auto parsed = parse(body.value(), &param);
        if (!parsed) {
            co_await send_error(ex, {400, parsed.error_message(), param});
            co_return std::nullopt;
        }
        co_return std::move(parsed).value();
    }
    http::asio::awaitable<void> send_json(http::Exchange& ex, int status, const OrderedJson& body);
    http::asio::awaitable<void> submit_failed(http::Exchange& ex, const SubmitFailure& failure);
    bool authorized(const http::HttpRequest& request) const;
    // 404 for a model name other than the served one ("" = any).
    std::optional<ApiError> unknown_model(const std::string& model) const;
    std::string metrics_text() const;

    ServeConfig config_;
    std::unique_ptr<http::asio::thread_pool> media_pool_;  // remote image fetches
    std::atomic<bool> media_stopped_{false};
    std::atomic<State> state_{State::kLoading};
    ModelServices services_;
    HttpMetrics http_metrics_;
    mutable PreparationMetrics preparation_;  // observed from const request paths
    double start_time_ = 0;
};

}  // namespace autoglm
