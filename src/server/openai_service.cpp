// OpenAiService: routing, auth, life cycle, errors, /health, /v1/models, /metrics, /version.
#include "server/openai_service.h"

#include <chrono>
#include <ctime>

#include "core/logging.h"
#include "server/playground_page.h"

namespace autoglm {
namespace {

constexpr int kMediaThreads = 4;  // remote image fetches at once (each waits on the network)

using http::asio::awaitable;

// Constant-time comparison (the API key must not leak through timing).
bool same_secret(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const size_t n = std::max(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
        const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
        const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

// NOTE: literals are kept out of co_await expressions and coroutine-local braced initializers:
// GCC 12 fails on forwarded string-literal arrays there ("array used as initializer").
http::Headers retry_after_header() {
    return {{"Retry-After", "1"}};
}
http::Headers allow_header(const char* method) {
    return {{"Allow", method}};
}
OrderedJson health_body(const std::string& model) {
    return {{"status", "ok"}, {"model", model}};
}
OrderedJson version_body(const std::string& version) {
    return {{"version", version}};
}
OrderedJson models_body(const std::string& name, double created, int64_t max_model_len) {
    OrderedJson model = {{"id", name},
                         {"object", "model"},
                         {"created", static_cast<int64_t>(created)},
                         {"owned_by", "autoglm"},
                         {"root", name},
                         {"parent", nullptr},
                         {"max_model_len", max_model_len}};
    return {{"object", "list"}, {"data", OrderedJson::array({model})}};
}

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

OpenAiService::OpenAiService(ServeConfig config)
    : config_(std::move(config)), start_time_(unix_now()) {
    if (config_.media.allow_remote_media)
        media_pool_ = std::make_unique<http::asio::thread_pool>(kMediaThreads);
}

OpenAiService::~OpenAiService() {
    stop_media();
}

void OpenAiService::stop_media() {
    media_stopped_.store(true);
    if (media_pool_) media_pool_->join();
}

void OpenAiService::set_ready(const ModelServices& services) {
    services_ = services;
    state_.store(State::kReady);
}

awaitable<void> OpenAiService::send_json(http::Exchange& ex, int status, const OrderedJson& body) {
    co_await ex.respond(status, "application/json",
                        body.dump(-1, ' ', false, OrderedJson::error_handler_t::replace));
}

awaitable<void> OpenAiService::send_error(http::Exchange& ex, const ApiError& error,
                                          const http::Headers& extra) {
    co_await ex.respond(error.status, "application/json", error_body(error), extra);
}

awaitable<void> OpenAiService::submit_failed(http::Exchange& ex, const SubmitFailure& f) {
    switch (f.kind) {
        case SubmitError::kQueueFull:
            co_await send_error(ex, {429, f.message}, retry_after_header());
            break;
        case SubmitError::kShutdown:
            co_await send_error(ex, {503, f.message});
            break;
        default:
            co_await send_error(ex, {400, f.message});
    }
}

bool OpenAiService::authorized(const http::HttpRequest& request) const {
    if (config_.api_key.empty()) return true;
    const std::string auth = request.header("authorization");
    const std::string prefix = "Bearer ";
    const std::string given = auth.rfind(prefix, 0) == 0 ? auth.substr(prefix.size()) : "";
    return same_secret(given, config_.api_key);
}

std::optional<ApiError> OpenAiService::unknown_model(const std::string& model) const {
    if (model.empty() || model == config_.served_model_name) return std::nullopt;
    return ApiError{404, "The model `" + model + "` does not exist.", "model"};
}

std::string OpenAiService::metrics_text() const {
    MetricsSources sources;
    if (state_.load() != State::kLoading) sources.engine = &services_.engine->metrics();
    sources.http = &http_metrics_;
    sources.preparation = &preparation_;
    sources.model_name = config_.served_model_name;
    sources.start_time_seconds = start_time_;
    if (gpu_memory)
        std::tie(sources.gpu_memory_used_bytes, sources.gpu_memory_total_bytes) = gpu_memory();
    sources.tensor_parallel_size = tensor_parallel_size.load();
    return render_prometheus(sources);
}

awaitable<void> OpenAiService::dispatch(http::Exchange& ex, std::string& label) {
    const http::HttpRequest& req = ex.request();
    if (req.parse_error == 413) {
        label = "other";
        co_return co_await send_error(ex, {413,
                                           "the request body is larger than the server's "
                                           "limit (--max-request-body)"});
    }
    if (req.parse_error != 0) {
        label = "other";
        co_return co_await send_error(ex, {400, "malformed HTTP request"});
    }
    if (is_cors_preflight(req)) {  // answered before routing, as Starlette's middleware does
        label = "preflight";
        const PreflightAnswer a = answer_cors_preflight(config_.cors, req);
        if (!a.allowed) co_return co_await send_error(ex, {400, a.reason});
        co_return co_await ex.respond(204, "text/plain", "", a.headers);
    }
    ex.add_response_headers(cors_response_headers(config_.cors, req));
    struct Entry {
        const char* path;
        const char* method;
    };
    static const Entry kRoutes[] = {{"/v1/chat/completions", "POST"},
                                    {"/v1/completions", "POST"},
                                    {"/v1/models", "GET"},
                                    {"/tokenize", "POST"},
                                    {"/detokenize", "POST"},
                                    {"/agent_action", "POST"},
                                    {"/", "GET"},
                                    {"/health", "GET"},
                                    {"/metrics", "GET"},
                                    {"/version", "GET"}};
    const Entry* route = nullptr;
    for (const Entry& e : kRoutes)
        if (req.path == e.path && (config_.ui || req.path != "/")) route = &e;
    if (!route) {
        label = "other";
        co_return co_await send_error(ex, {404, "Not Found: " + req.path});
    }
    label = route->path;
    if (req.method != route->method && !(req.method == "HEAD" && route->method[0] == 'G'))
        co_return co_await send_error(
            ex, {405, "Method Not Allowed: use " + std::string(route->method)},
            allow_header(route->method));
    if (req.path == "/health") {
        if (state_.load() == State::kReady)
            co_return co_await send_json(ex, 200, health_body(config_.served_model_name));
        const bool loading = state_.load() == State::kLoading;
        co_return co_await send_error(
            ex, {503, loading ? "the model is loading" : "the server is shutting down"});
    }
    if (req.path == "/metrics")
        co_return co_await ex.respond(200, "text/plain; version=0.0.4; charset=utf-8",
                                      metrics_text());
    if (req.path == "/version")
        co_return co_await send_json(ex, 200, version_body(config_.version));
    // The page holds no data: its API calls carry the key the user types into it.
    if (req.path == "/")
        co_return co_await ex.respond(200, "text/html; charset=utf-8",
                                      std::string(playground_page()));
    // /v1/..., /tokenize, /detokenize, /agent_action
    if (!authorized(req)) co_return co_await send_error(ex, {401, "Incorrect API key provided."});
    if (state_.load() != State::kReady)
        co_return co_await send_error(
            ex, {503, state_.load() == State::kLoading ? "the model is loading"
                                                       : "the server is shutting down"});
    if (req.path == "/v1/models")
        co_return co_await send_json(
            ex, 200, models_body(config_.served_model_name, start_time_, services_.max_model_len));
    if (req.path == "/v1/chat/completions") co_return co_await chat(ex);
    if (req.path == "/tokenize") co_return co_await tokenize(ex);
    if (req.path == "/detokenize") co_return co_await detokenize(ex);
    if (req.path == "/agent_action") co_return co_await agent_action(ex);
    co_return co_await completions(ex);
}

awaitable<void> OpenAiService::handle(http::Exchange& ex) {
    const auto t0 = std::chrono::steady_clock::now();
    std::string label = "other";
    bool failed = false;
    try {
        co_await dispatch(ex, label);
    } catch (const std::exception& e) {
        LOG_AT(kError) << "request " << ex.request().request_id << ": " << e.what();
        failed = true;
    }
    if (failed && !ex.responded())
        co_await send_error(ex, {500, "internal error; see the server log"});
    // As vLLM's instrumentation: probes and scrapes are not counted; statuses are grouped.
    if (label == "/metrics" || label == "/health" || label == "/version" || label == "/" ||
        label == "preflight")
        co_return;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const int status = ex.status() == 0 ? 499 : ex.status();
    http_metrics_.record(label, ex.request().method.empty() ? "OTHER" : ex.request().method,
                         std::to_string(status / 100) + "xx", secs);
}

}  // namespace autoglm
