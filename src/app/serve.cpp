// autoglm serve: the OpenAI-compatible server. The HTTP port opens first (readiness answers 503
// while the model loads), then the model, tokenizer, template and engine come up and a banner
// reports what was loaded. SIGTERM/SIGINT drain: readiness 503, new requests refused, in-flight
// ones finish within --shutdown-timeout, exit 0.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "app/commands.h"
#include "app/common.h"
#include "app/engine_setup.h"
#include "core/file.h"
#include "core/heap.h"
#include "core/logging.h"
#include "server/http_server.h"
#include "server/openai_service.h"
#include "tokenizer/builtin.h"
#include "tokenizer/content_format.h"
#include "tokenizer/special_tokens.h"

namespace autoglm {
namespace {

void add_serve_flags(Flags& flags) {
    flags.add("host", "0.0.0.0", "address to listen on");
    flags.add("port", "8000", "port to listen on (0 = any free port, printed in the banner)");
    flags.add("served-model-name", "autoglm-phone-9b",
              "the model name clients send and /v1/models lists");
    flags.add("api-key", "",
              "require 'Authorization: Bearer KEY' on /v1 routes (also from AUTOGLM_API_KEY)");
    flags.add("max-queued-requests", "1024",
              "requests in flight at most; beyond it new ones get 429 with Retry-After");
    flags.add("allowed-local-media-path", "", "folder whose files file:// image URLs may read");
    flags.add("allow-remote-media", "",
              "let image URLs be fetched over http:// and https:// (certificates verified, at "
              "most 3 redirects, 10 s, the image size cap; off the I/O threads)",
              true);
    flags.add("allowed-media-domains", "",
              "hosts remote image URLs (and their redirects) may name, comma- or "
              "space-separated; a name admits its subdomains (default: any)");
    flags.add("allow-private-media-addresses", "",
              "let remote image URLs reach loopback, private and link-local addresses "
              "(refused by default)",
              true);
    flags.add("media-ca-file", "",
              "PEM file of the CAs that https image hosts are verified "
              "against (default: the system's)");
    flags.add("limit-mm-per-prompt", "4",
              "images per prompt at most (N, image=N or {\"image\":N})");
    flags.add("reasoning-parser", "",
              "glm45: always return <think>...</think> as reasoning_content (otherwise only when "
              "a request sets return_reasoning)");
    flags.add("agent-action", "",
              "parse every chat reply's phone action (do(action=...) / finish(message=...)) "
              "into 'agent_action' of the response, as if each request set \"agent_action\": "
              "true (a request's own value wins)",
              true);
    flags.add("no-ui", "", "do not serve the playground page at / (404 there instead)", true);
    flags.add("chat-template", "", "a Jinja chat template file instead of the checkpoint's");
    flags.add("shutdown-timeout", "30", "seconds in-flight requests get to finish on SIGTERM");
    flags.add("max-request-body", "64MiB", "largest request body accepted (413 beyond)");
    flags.add("api-threads", "4", "HTTP I/O threads");
    flags.add("mm-processor-kwargs", "",
              "image processor overrides as JSON, as in vLLM: {\"max_pixels\": N, "
              "\"min_pixels\": N} or {\"size\": {\"shortest_edge\": N, \"longest_edge\": N}} "
              "(pixel counts of both temporal frames; over the checkpoint's "
              "preprocessor_config.json)");
    flags.add("chat-template-content-format", "auto",
              "how list contents reach the template: openai (lists of parts, as sent), string "
              "(text parts joined with newlines, one image placeholder per image in front, as "
              "vLLM's 'string'), auto (= openai: GLM-4.1V's template loops over the parts)");
    flags.add("allowed-origins", "[\"*\"]", "CORS: origins allowed to call the API (JSON list)");
    flags.add("allowed-methods", "[\"*\"]", "CORS: methods allowed in preflights (JSON list)");
    flags.add("allowed-headers", "[\"*\"]", "CORS: request headers allowed (JSON list)");
    flags.add("allow-credentials", "", "CORS: allow cookies and credentials", true);
    flags.add_ignored("mm-encoder-tp-mode",
                      "the vision tower runs whole on the first GPU (with "
                      "--tensor-parallel-size N too: the other ranks hold no copy)");
    flags.add_ignored("mm-processor-cache-type",
                      "images are preprocessed per request; a repeated image's prefill is reused "
                      "through the prefix cache");
    flags.add_ignored("trust-remote-code", "no checkpoint code is ever run", true);
    flags.add_ignored("enable-prefix-caching", "prefix caching is always on", true);
    flags.add_ignored("disable-log-requests", "requests are not logged", true);
    flags.add_ignored("disable-log-stats", "statistics are exported on /metrics only", true);
    flags.add_ignored("uvicorn-log-level", "the server logs at info level");
}

Result<ContentFormat> parse_content_format(const std::string& text) {
    if (text == "auto" || text == "openai") return ContentFormat::kOpenAi;
    if (text == "string") return ContentFormat::kString;
    return Error{"--chat-template-content-format: expected auto, string or openai, got '" + text +
                 "'"};
}

// A JSON list of strings (vLLM's CORS flags), or one bare string.
Result<std::vector<std::string>> parse_string_list(const std::string& flag,
                                                   const std::string& text) {
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    std::vector<std::string> out;
    if (!doc.is_discarded() && doc.is_array()) {
        for (const auto& v : doc) {
            if (!v.is_string()) return Error{"--" + flag + ": expected a JSON list of strings"};
            out.push_back(v.get<std::string>());
        }
        return out;
    }
    if (text.empty() || text.front() == '[')
        return Error{"--" + flag + ": expected a JSON list of strings, got '" + text + "'"};
    out.push_back(text);
    return out;
}

Status read_cors(const Flags& flags, CorsOptions& cors) {
    auto origins = parse_string_list("allowed-origins", flags.get("allowed-origins"));
    auto methods = parse_string_list("allowed-methods", flags.get("allowed-methods"));
    auto headers = parse_string_list("allowed-headers", flags.get("allowed-headers"));
    for (const auto* r : {&origins, &methods, &headers})
        if (!*r) return r->error();
    cors.allowed_origins = origins.value();
    cors.allowed_methods = methods.value();
    cors.allowed_headers = headers.value();
    cors.allow_credentials = flags.enabled("allow-credentials");
    return {};
}

// The checkpoint's processor settings with --mm-processor-kwargs on top.
Result<Glm4vImageProcessorOptions> processor_options(const Flags& flags, const Glm4vModel& m) {
    if (!flags.has("mm-processor-kwargs")) return m.image_processor_options();
    auto overrides =
        parse_pixel_overrides(flags.get("mm-processor-kwargs"), "--mm-processor-kwargs");
    if (!overrides) return overrides.error();
    auto options = apply_pixel_overrides(m.image_processor_options(), overrides.value(), true);
    if (!options) return Error{"--mm-processor-kwargs: " + options.error_message()};
    options.value().source += " with --mm-processor-kwargs " + flags.get("mm-processor-kwargs");
    return options;
}

Result<int64_t> parse_image_limit(std::string text) {
    for (const char* prefix : {"image=", "{\"image\":", "{\"image\": "})
        if (text.rfind(prefix, 0) == 0) text = text.substr(std::string(prefix).size());
    if (!text.empty() && text.back() == '}') text.pop_back();
    char* end = nullptr;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < 0 || v > 64)
        return Error{"--limit-mm-per-prompt: expected N, image=N or {\"image\": N} (N <= 64)"};
    return static_cast<int64_t>(v);
}

// A one-line progress bar on a terminal; tenths as log lines otherwise.
BindProgress progress_bar() {
    const bool tty = isatty(STDERR_FILENO);
    auto last = std::make_shared<int64_t>(-1);
    return [tty, last](int64_t done, int64_t total) {
        const int64_t percent = total > 0 ? done * 100 / total : 100;
        if (tty) {
            if (percent == *last) return;
            const int64_t filled = percent * 30 / 100;
            std::fprintf(stderr, "\rloading weights [%s%s] %3lld%% (%lld/%lld tensors)",
                         std::string(static_cast<size_t>(filled), '#').c_str(),
                         std::string(static_cast<size_t>(30 - filled), '.').c_str(),
                         static_cast<long long>(percent), static_cast<long long>(done),
                         static_cast<long long>(total));
            if (done == total) std::fputs("\n", stderr);
        } else if (percent / 10 != *last / 10 || done == total) {
            LOG_INFO << "loading weights: " << percent << "% (" << done << "/" << total
                     << " tensors)";
        }
        *last = percent;
    };
}

// Blocks until SIGTERM or SIGINT (blocked in every thread, so only this one takes them).
int wait_for_signal(const sigset_t& set) {
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

}  // namespace

int run_serve(const std::vector<std::string>& args) {
    Flags flags("serve",
                "OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions (streaming\n"
                "with SSE), /v1/models, /tokenize, /detokenize, /health, /metrics (Prometheus,\n"
                "vLLM's names), /version. The model is --model DIR or the first argument\n"
                "(`autoglm serve DIR`); with neither it serves the built-in demo model (random\n"
                "weights). vLLM's command lines work as written.");
    add_model_flags(flags);
    add_engine_flags(flags);
    add_serve_flags(flags);
    flags.set_positional("model");
    if (int rc = parse_or_exit(flags, args); rc >= 0) return rc;
    for (const std::string& note : flags.notes()) LOG_INFO << note;
    const auto t0 = std::chrono::steady_clock::now();

    ServeConfig config;
    config.version = AUTOGLM_VERSION;
    config.served_model_name = flags.get("served-model-name");
    if (config.served_model_name.empty()) return fail("--served-model-name is empty", kExitUsage);
    config.api_key = flags.get("api-key");
    if (config.api_key.empty())
        if (const char* env = std::getenv("AUTOGLM_API_KEY")) config.api_key = env;
    config.media.allowed_local_media_path = flags.get("allowed-local-media-path");
    config.media.allow_remote_media = flags.enabled("allow-remote-media");
    if (config.media.allow_remote_media && !init_remote_media())
        return fail("the HTTP client for remote images could not start", kExitFailure);
    config.media.allow_private_addresses = flags.enabled("allow-private-media-addresses");
    config.media.ca_file = flags.get("media-ca-file");
    for (std::string domains = flags.get("allowed-media-domains"); !domains.empty();) {
        const size_t end = domains.find_first_of(", ");
        if (end != 0) config.media.allowed_domains.push_back(domains.substr(0, end));
        domains = end == std::string::npos ? "" : domains.substr(end + 1);
    }
    auto limit = parse_image_limit(flags.get("limit-mm-per-prompt"));
    if (!limit) return fail(limit.error_message(), kExitUsage);
    config.max_images_per_prompt = limit.value();
    const std::string parser = flags.get("reasoning-parser");
    if (!parser.empty() && parser != "glm45")
        return fail("--reasoning-parser: only 'glm45' is known", kExitUsage);
    config.reasoning_parser = parser == "glm45";
    config.agent_action = flags.enabled("agent-action");
    config.ui = !flags.enabled("no-ui");
    auto content_format = parse_content_format(flags.get("chat-template-content-format"));
    if (!content_format) return fail(content_format.error_message(), kExitUsage);
    config.content_format = content_format.value();
    if (Status s = read_cors(flags, config.cors); !s) return fail(s.error_message(), kExitUsage);
    if (flags.has("mm-processor-kwargs")) {  // checked before the model loads
        auto kwargs =
            parse_pixel_overrides(flags.get("mm-processor-kwargs"), "--mm-processor-kwargs");
        if (!kwargs) return fail(kwargs.error_message(), kExitUsage);
    }
    auto port = flags.get_int("port", 0, 65535);
    auto shutdown_timeout = flags.get_int("shutdown-timeout", 0, 86400);
    auto api_threads = flags.get_int("api-threads", 1, 256);
    auto queued = flags.get_int("max-queued-requests", 1, 1 << 24);
    auto body_limit = parse_memory_size(flags.get("max-request-body"));
    for (const auto* r : {&port, &shutdown_timeout, &api_threads, &queued})
        if (!*r) return fail(r->error_message(), kExitUsage);
    if (!body_limit) return fail("--max-request-body: " + body_limit.error_message(), kExitUsage);

    // Signals go to the thread that waits for them; every other thread blocks them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    OpenAiService service(config);
    http::ServerOptions http_options;
    http_options.host = flags.get("host");
    http_options.port = static_cast<uint16_t>(port.value());
    http_options.max_body_bytes = body_limit.value();
    http_options.num_threads = static_cast<int>(api_threads.value());
    http::HttpServer server(http_options,
                            [&service](http::Exchange& ex) { return service.handle(ex); });
    uint16_t bound = 0;
    try {
        bound = server.start();
    } catch (const std::exception& e) {
        return fail(
            "cannot listen on " + http_options.host + ":" + flags.get("port") + ": " + e.what(),
            kExitFailure);
    }
    LOG_INFO << "listening on " << http_options.host << ":" << bound << " (loading the model)";

    auto chat_template = chat_template_for(flags);
    if (!chat_template) return fail(chat_template.error_message(), kExitFailure);
    auto tokenizer = load_tokenizer_for(flags.get("model"));
    if (!tokenizer) return fail(tokenizer.error_message(), kExitFailure);
    auto model = load_from_flags(flags, progress_bar());
    if (!model) return fail(model.error_message(), kExitFailure);
    const Glm4vModel& m = *model.value();
    const auto stops = find_special_tokens(*tokenizer.value()).stop_ids(m.config().eos_token_ids);
    auto bundle = make_engine(flags, m, tokenizer.value().get(),
                              std::vector<int32_t>(stops.begin(), stops.end()));
    if (!bundle) return fail(bundle.error_message(), kExitFailure);
    Engine& engine = *bundle.value().engine;
    engine.start();
    auto processor_settings = processor_options(flags, m);
    if (!processor_settings) return fail(processor_settings.error_message(), kExitFailure);
    const Glm4vImageProcessor processor(m.config().vision, processor_settings.value());
    LOG_INFO << "image processor: " << processor.options().describe() << " (from "
             << processor.options().source << ")";
    ModelServices services{&engine, tokenizer.value().get(), &chat_template.value(), &processor,
                           engine.config().max_model_len};
    service.gpu_memory = gpu_memory_probe(bundle.value());
    service.tensor_parallel_size.store(bundle.value().tensor_parallel_size);
    service.set_ready(services);
    if (bundle.value().backend) {
        // The GPU holds the weights now; the mapped checkpoint would stay resident (~20 GB of RSS).
        model.value()->release_host_weights();
        LOG_INFO << "weights are on the GPU: host copy released";
    }
    // Freed request buffers (bodies, decoded images, pixel values) go back to the OS once the
    // engine has been idle for a moment, so RSS follows the load down.
    const IdleHeapTrimmer trimmer([&engine] { return engine.num_unfinished() == 0; },
                                  [&engine] {
                                      const EngineMetrics& em = engine.metrics();
                                      return em.prompt_tokens.load() + em.generation_tokens.load() +
                                             em.finished_abort.load();
                                  },
                                  {});

    const double load_secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const WeightReport& r = m.report();
    const bool random = is_glm4v_preset(flags.get("model")) || flags.get("load-format") == "dummy";
    const std::string playground =
        config.ui ? "http://" + http_options.host + ":" + std::to_string(bound) + "/"
                  : "off (--no-ui)";
    std::fprintf(stderr,
                 "\nautoglm %s serving '%s'%s\n"
                 "  model:     %s\n"
                 "  weights:   %.2f GiB (%lld tensors), loaded in %.2f s\n"
                 "  %s\n"
                 "  images:    %s\n"
                 "             from %s\n"
                 "  device:    %s\n"
                 "  endpoints: http://%s:%u/v1/chat/completions  /v1/completions  /v1/models\n"
                 "             /tokenize  /detokenize  /agent_action  /health  /metrics  /version\n"
                 "  playground: %s\n\n",
                 AUTOGLM_VERSION, config.served_model_name.c_str(),
                 random ? " (RANDOM WEIGHTS: output is gibberish; pass --model DIR for a real "
                          "checkpoint)"
                        : "",
                 describe(m.config()).c_str(),
                 static_cast<double>(r.text_bytes + r.vision_bytes) / (1 << 30),
                 static_cast<long long>(r.num_tensors), load_secs,
                 bundle.value().kv_plan.describe().c_str(), processor.options().describe().c_str(),
                 processor.options().source.c_str(), bundle.value().device.c_str(),
                 http_options.host.c_str(), bound, playground.c_str());
    std::fflush(stderr);

    const int sig = wait_for_signal(signals);
    LOG_INFO << "signal " << sig << ": draining (up to " << shutdown_timeout.value() << " s)";
    service.set_draining();
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(shutdown_timeout.value());
    // A second signal ends the wait at once (Ctrl-C twice).
    const timespec tick{0, 20'000'000};
    bool forced = false;
    while (!forced && engine.num_unfinished() > 0 && std::chrono::steady_clock::now() < deadline)
        forced = sigtimedwait(&signals, nullptr, &tick) > 0;
    if (forced)
        LOG_WARNING << "second signal: aborting " << engine.num_unfinished() << " requests";
    else if (engine.num_unfinished() > 0)
        LOG_WARNING << engine.num_unfinished()
                    << " requests still running at the deadline: aborted";
    engine.stop();
    // Let the streams write their last events before the sockets close.
    for (int i = 0; i < 100 && server.num_open_connections() > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    service.stop_media();  // a fetch still running resumes its request on the server's threads
    server.stop();
    LOG_INFO << "stopped";
    return 0;
}

}  // namespace autoglm
