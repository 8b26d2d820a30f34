// The server end to end over loopback with the demo model: routes, every error status, SSE
// framing, images, API keys, queue limits, a client that disconnects mid-stream (its KV blocks
// come back), 64 concurrent streams equal to sequential answers, and the metrics moving.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "core/file.h"
#include "engine/engine.h"
#include "model/glm4v/model.h"
#include "server/http_server.h"
#include "server/media.h"
#include "server/openai_service.h"
#include "server/stack.h"
#include "tokenizer/builtin.h"
#include "util/http_client.h"

namespace autoglm {
namespace {

using nlohmann::json;
using testing::chat_body;
using testing::data_url;
using testing::demo_model;
using testing::expect_error;
using testing::http_call;
using testing::image_message;
using testing::post_json;
using testing::sse_events;
using testing::Stack;
using testing::StackOptions;

TEST(Server, HealthModelsVersionAndRequestIds) {
    Stack s;
    auto r = http_call(s.port(), "GET", "/health", "", {{"X-Request-Id", "abc-123"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.json(), json({{"status", "ok"}, {"model", "autoglm-phone-9b"}}));
    EXPECT_EQ(r.headers["X-Request-Id"], "abc-123");
    r = http_call(s.port(), "GET", "/v1/models");
    EXPECT_EQ(r.json()["data"][0]["id"], "autoglm-phone-9b");
    EXPECT_EQ(r.json()["data"][0]["max_model_len"], 512);
    EXPECT_FALSE(http_call(s.port(), "GET", "/health").headers["X-Request-Id"].empty());
    EXPECT_EQ(http_call(s.port(), "GET", "/version").status, 200);
}

TEST(Server, LoadingAndDrainingAnswer503) {
    StackOptions o;
    o.ready = false;
    Stack s(o);
    expect_error(http_call(s.port(), "GET", "/health"), 503, "loading");
    expect_error(post_json(s.port(), "/v1/chat/completions", chat_body("hi")), 503, "loading");
    s.make_ready();
    EXPECT_EQ(http_call(s.port(), "GET", "/health").status, 200);
    s.service().set_draining();
    expect_error(http_call(s.port(), "GET", "/health"), 503, "shutting down");
    expect_error(post_json(s.port(), "/v1/completions", {{"prompt", "x"}}), 503, "shutting down");
}

TEST(Server, BadRequestsGetOpenAiErrors) {
    Stack s;
    const uint16_t p = s.port();
    expect_error(http_call(p, "POST", "/v1/chat/completions", "{not json"), 400, "not valid JSON");
    json bad = chat_body("hi");
    bad["temperature"] = "hot";
    auto r = post_json(p, "/v1/chat/completions", bad);
    expect_error(r, 400, "'temperature' must be a number");
    EXPECT_EQ(r.json()["error"]["param"], "temperature");
    bad = chat_body("hi");
    bad["top_p"] = 0;
    expect_error(post_json(p, "/v1/chat/completions", bad), 400, "top_p must be in (0, 1]");
    expect_error(post_json(p, "/v1/chat/completions", {{"model", "autoglm-phone-9b"}}), 400,
                 "'messages'");
    expect_error(post_json(p, "/v1/completions", {{"prompt", json::array({1, -2})}}), 400,
                 "token ids");
    expect_error(post_json(p, "/v1/completions", {{"prompt", json::array({999999999})}}), 400,
                 "out of vocabulary");
    bad = chat_body("hi");
    bad["model"] = "gpt-4";
    expect_error(post_json(p, "/v1/chat/completions", bad), 404,
                 "The model `gpt-4` does not exist.");
    expect_error(http_call(p, "GET", "/v1/nothing"), 404, "Not Found");
    expect_error(http_call(p, "GET", "/v1/chat/completions"), 405, "POST");
    // Longer than max_model_len (512): vLLM's wording with the numbers.
    std::string words;
    for (int i = 0; i < 300; ++i) words += " hello world";
    r = post_json(p, "/v1/chat/completions", chat_body(words));
    expect_error(r, 400, "This model's maximum context length is 512 tokens.");
    r = post_json(p, "/v1/completions", {{"prompt", "hi"}, {"max_tokens", 600}});
    expect_error(r, 400, "in the completion");
}

TEST(Server, ImagePrefixCacheKeysAreTheBytesUnderTheRequestsProcessorSettings) {
    Stack s;
    const std::string dir = std::string(AUTOGLM_TEST_DATA_DIR) + "/images/";
    const auto cached = [&](const std::string& png, const json& kwargs) {
        json body = chat_body("");
        body["messages"] = {image_message({data_url(dir + png)}, "what is this?")};
        if (!kwargs.is_null()) body["mm_processor_kwargs"] = kwargs;
        const auto r = post_json(s.port(), "/v1/chat/completions", body);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.json()["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>();
    };
    cached("small.png", nullptr);
    // Another picture: only the blocks before the image hit.
    const int64_t before_image = cached("landscape.png", nullptr);
    // The same file again hits its image blocks too.
    EXPECT_GT(cached("small.png", nullptr), before_image);
    // The same file under a lower min_pixels becomes other pixels (a 4x4 grid, not 8x8): it
    // must not hit the first one's image blocks.
    EXPECT_EQ(cached("small.png", {{"min_pixels", 3136}}), before_image);
}

TEST(Server, ImagesThroughDataAndFileUrlsAndTheirErrors) {
    StackOptions o;
    o.serve.max_images_per_prompt = 1;
    o.serve.media.allowed_local_media_path = std::string(AUTOGLM_TEST_DATA_DIR) + "/images";
    Stack s(o);
    const std::string png = std::string(AUTOGLM_TEST_DATA_DIR) + "/images/small.png";
    json body = chat_body("");
    body["messages"] = {image_message({data_url(png)}, "what is this?")};
    auto r = post_json(s.port(), "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    const int64_t with_image = r.json()["usage"]["prompt_tokens"];
    body["messages"] = {image_message({"file://" + png}, "what is this?")};
    r = post_json(s.port(), "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["usage"]["prompt_tokens"], with_image);
    EXPECT_GT(r.json()["usage"]["prompt_tokens_details"]["cached_tokens"], 0);  // same image
    body["messages"] = {image_message({"file:///etc/passwd"}, "x")};
    expect_error(post_json(s.port(), "/v1/chat/completions", body), 400, "outside");
    body["messages"] = {image_message({data_url(png), data_url(png)}, "two")};
    expect_error(post_json(s.port(), "/v1/chat/completions", body), 400, "At most 1 image(s)");
    body["messages"] = {image_message({"data:image/png;base64,aGVsbG8gd29ybGQ="}, "x")};
    expect_error(post_json(s.port(), "/v1/chat/completions", body), 400, "image 1:");
    body["messages"] = {image_message({"https://example.com/a.png"}, "x")};
    expect_error(post_json(s.port(), "/v1/chat/completions", body), 400, "--allow-remote-media");
}

TEST(Server, ApiKeyIsRequiredOnV1Routes) {
    StackOptions o;
    o.serve.api_key = "sk-secret";
    Stack s(o);
    expect_error(post_json(s.port(), "/v1/chat/completions", chat_body("hi")), 401, "API key");
    expect_error(post_json(s.port(), "/v1/chat/completions", chat_body("hi"),
                           {{"Authorization", "Bearer sk-wrong"}}),
                 401, "API key");
    EXPECT_EQ(post_json(s.port(), "/v1/chat/completions", chat_body("hi"),
                        {{"Authorization", "Bearer sk-secret"}})
                  .status,
              200);
    EXPECT_EQ(http_call(s.port(), "GET", "/health").status, 200);  // probes need no key
}

TEST(Server, OversizedBodyGets413) {
    StackOptions o;
    o.max_body = 64 * 1024;
    Stack s(o);
    const std::string big(100 * 1024, 'x');
    expect_error(post_json(s.port(), "/v1/chat/completions", chat_body(big)), 413, "limit");
    EXPECT_EQ(http_call(s.port(), "GET", "/health").status, 200);  // still serving
}

TEST(Server, FullQueueGets429WithRetryAfter) {
    StackOptions o;
    o.max_queued = 1;
    o.step_delay = std::chrono::milliseconds(20);
    Stack s(o);
    std::thread first([&] {
        EXPECT_EQ(post_json(s.port(), "/v1/chat/completions", chat_body("hi", 30)).status, 200);
    });
    while (s.engine().num_unfinished() == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto r = post_json(s.port(), "/v1/chat/completions", chat_body("hi"));
    expect_error(r, 429, "capacity");
    EXPECT_EQ(r.headers["Retry-After"], "1");
    first.join();
}

TEST(Server, StreamFramingMatchesTheNonStreamAnswer) {
    Stack s;
    const auto whole = post_json(s.port(), "/v1/chat/completions", chat_body("你是谁？", 8));
    ASSERT_EQ(whole.status, 200);
    json body = chat_body("你是谁？", 8, true);
    body["stream_options"] = {{"include_usage", true}};
    const auto r = post_json(s.port(), "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.headers.at("Content-Type").find("text/event-stream"), std::string::npos);
    const auto events = sse_events(r.body);
    ASSERT_GE(events.size(), 4u);
    EXPECT_EQ(events.back(), "[DONE]");
    const json first = json::parse(events.front());
    EXPECT_EQ(first["object"], "chat.completion.chunk");
    EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
    std::string text;
    std::string finish;
    for (size_t i = 1; i + 2 < events.size(); ++i) {
        const json c = json::parse(events[i]);
        EXPECT_EQ(c["id"], first["id"]);
        text += c["choices"][0]["delta"].value("content", "");
        if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
    }
    EXPECT_EQ(text, whole.json()["choices"][0]["message"]["content"]);
    EXPECT_EQ(finish, "length");
    const json usage = json::parse(events[events.size() - 2]);
    EXPECT_TRUE(usage["choices"].empty());
    EXPECT_EQ(usage["usage"]["completion_tokens"], 8);
    EXPECT_EQ(usage["usage"]["prompt_tokens"], whole.json()["usage"]["prompt_tokens"]);
    // The second request found the first one's full prompt blocks in the prefix cache.
    EXPECT_EQ(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 16);
}

TEST(Server, CompletionsWithTokenIdsEchoAndN) {
    Stack s;
    auto r = post_json(s.port(), "/v1/completions",
                       {{"prompt", json::array({104, 105})},
                        {"max_tokens", 3},
                        {"echo", true},
                        {"n", 2},
                        {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.body;
    const json j = r.json();
    ASSERT_EQ(j["choices"].size(), 2u);
    EXPECT_EQ(j["choices"][0]["text"], j["choices"][1]["text"]);  // greedy twins
    EXPECT_EQ(j["choices"][0]["text"].get<std::string>().substr(0, 2), "hi");
    EXPECT_EQ(j["usage"]["completion_tokens"], 6);
}

// Reads a streamed response from a raw socket until its first content event, then hangs up.
void stream_then_disconnect(uint16_t port, const json& body) {
    namespace asio = boost::asio;
    asio::io_context ioc;
    asio::ip::tcp::socket sock(ioc);
    sock.connect({asio::ip::make_address("127.0.0.1"), port});
    const std::string payload = body.dump();
    const std::string req =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nContent-Length: " +
        std::to_string(payload.size()) + "\r\n\r\n" + payload;
    asio::write(sock, asio::buffer(req));
    std::string got;
    char buf[4096];
    while (got.find("\"content\":\" ") == std::string::npos) {
        const size_t n = sock.read_some(asio::buffer(buf));
        got.append(buf, n);
    }
    sock.close();
}

TEST(Server, ClientDisconnectMidStreamFreesTheRequest) {
    StackOptions o;
    o.step_delay = std::chrono::milliseconds(5);
    Stack s(o);
    stream_then_disconnect(s.port(), chat_body("tell me a long story", 400, true));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (s.engine().num_unfinished() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(s.engine().num_unfinished(), 0);
    EXPECT_EQ(s.engine().metrics().kv_cache_usage.load(), 0.0);
    EXPECT_EQ(s.engine().metrics().finished_abort.load(), 1u);
    EXPECT_LT(s.engine().metrics().generation_tokens.load(), 400u);
}

TEST(Server, SixtyFourConcurrentStreamsEqualSequentialAnswers) {
    Stack s;
    constexpr int kClients = 64;
    std::vector<std::string> want(kClients), got(kClients);
    for (int i = 0; i < kClients; ++i) {
        const auto r = post_json(s.port(), "/v1/chat/completions",
                                 chat_body("question " + std::to_string(i), 8));
        ASSERT_EQ(r.status, 200);
        want[static_cast<size_t>(i)] = r.json()["choices"][0]["message"]["content"];
    }
    std::vector<std::thread> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back([&, i] {
            const auto r = post_json(s.port(), "/v1/chat/completions",
                                     chat_body("question " + std::to_string(i), 8, true));
            for (const std::string& e : sse_events(r.body)) {
                if (e == "[DONE]") break;
                const json c = json::parse(e);
                got[static_cast<size_t>(i)] += c["choices"][0]["delta"].value("content", "");
            }
        });
    }
    for (auto& t : clients) t.join();
    for (int i = 0; i < kClients; ++i)
        EXPECT_EQ(got[static_cast<size_t>(i)], want[static_cast<size_t>(i)]) << "client " << i;
    EXPECT_EQ(s.engine().metrics().kv_cache_usage.load(), 0.0);
    EXPECT_GT(s.engine().metrics().prefix_cache_hits.load(), 0u);  // the same chat preamble
}

TEST(Server, MetricsMoveWithRequests) {
    Stack s;
    s.service().tensor_parallel_size.store(2);  // as serve sets it from --tensor-parallel-size
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(post_json(s.port(), "/v1/chat/completions", chat_body("hi", 4)).status, 200);
    post_json(s.port(), "/v1/chat/completions", {{"messages", 5}});
    // A request is counted once its response is written, so a client that has read the
    // response may scrape a moment before the count moves, and each connection's count moves on
    // its own: scrape until both counts have (2 s at most).
    const std::string ok_count =
        "http_requests_total{handler=\"/v1/chat/completions\",method=\"POST\",status=\"2xx\"} 3";
    const std::string bad_count =
        "http_requests_total{handler=\"/v1/chat/completions\",method=\"POST\",status=\"4xx\"} 1";
    testing::HttpReply r;
    for (int attempt = 0; attempt < 100; ++attempt) {
        r = http_call(s.port(), "GET", "/metrics");
        ASSERT_EQ(r.status, 200);
        if (r.body.find(ok_count) != std::string::npos &&
            r.body.find(bad_count) != std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::string& m = r.body;
    const auto has = [&](const std::string& line) {
        EXPECT_NE(m.find(line), std::string::npos) << line;
    };
    has("vllm:request_success_total{model_name=\"autoglm-phone-9b\",finished_reason=\"length\"} 3");
    has("vllm:generation_tokens_total{model_name=\"autoglm-phone-9b\"} 12");
    has("vllm:time_to_first_token_seconds_count{model_name=\"autoglm-phone-9b\"} 3");
    has("vllm:num_requests_running{model_name=\"autoglm-phone-9b\"} 0");
    has("http_requests_total{handler=\"/v1/chat/completions\",method=\"POST\",status=\"2xx\"} 3");
    has("http_requests_total{handler=\"/v1/chat/completions\",method=\"POST\",status=\"4xx\"} 1");
    has("process_resident_memory_bytes ");
    has("autoglm_tensor_parallel_size{model_name=\"autoglm-phone-9b\"} 2");
    // Where the time goes: every step's tokens and phases, and the HTTP thread's share.
    has("vllm:iteration_tokens_total_count{model_name=\"autoglm-phone-9b\"} ");
    has("autoglm_engine_step_phase_seconds_bucket{model_name=\"autoglm-phone-9b\",phase="
        "\"forward\",le=\"+Inf\"} ");
    has("autoglm_request_preparation_seconds_count{model_name=\"autoglm-phone-9b\",stage="
        "\"prompt\"} 3");
    has("autoglm_request_preparation_seconds_count{model_name=\"autoglm-phone-9b\",stage="
        "\"submit\"} 3");
    has("autoglm_request_preparation_seconds_count{model_name=\"autoglm-phone-9b\",stage="
        "\"media\"} 0");
    has("autoglm_request_preparation_seconds_count{model_name=\"autoglm-phone-9b\",stage="
        "\"parse\"} 3");
}

// Sends raw bytes on a fresh connection and reads whatever comes back until the server closes.
std::string raw_exchange(uint16_t port, const std::string& bytes) {
    namespace asio = boost::asio;
    asio::io_context ioc;
    asio::ip::tcp::socket sock(ioc);
    sock.connect({asio::ip::make_address("127.0.0.1"), port});
    boost::system::error_code ec;
    asio::write(sock, asio::buffer(bytes), ec);
    sock.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    std::string got;
    char buf[4096];
    for (;;) {
        const size_t n = sock.read_some(asio::buffer(buf), ec);
        if (ec) break;
        got.append(buf, n);
    }
    return got;
}

TEST(Server, GarbageOnTheWireNeverTakesItDown) {
    Stack s;
    std::mt19937 gen(11);
    const std::vector<std::string> fixed = {
        "GARBAGE\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\n{\"a\"",
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET /health HTTP/1.1\r\nX: " + std::string(100000, 'a') + "\r\n\r\n",
        "POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST /v1/completions HTTP/1.1\r\nContent-Length: 9\r\n\r\n[1,2,3]\x00\xff",
    };
    for (const std::string& bytes : fixed) raw_exchange(s.port(), bytes);
    for (int i = 0; i < 200; ++i) {
        std::string bytes = "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 40\r\n\r\n";
        for (int j = 0; j < 40; ++j) bytes.push_back(static_cast<char>(gen() % 256));
        const std::string reply = raw_exchange(s.port(), bytes);
        EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply.substr(0, 80);
    }
    for (int i = 0; i < 50; ++i) {  // random JSON-ish bodies through the real parser
        json body = chat_body("x");
        // (max_tokens stays: a null one would generate up to the context limit)
        const char* keys[] = {"messages", "top_p", "temperature", "stop", "n", "logprobs"};
        const json values[] = {nullptr, -1, 1e308, "s", json::array(), json::object(), true};
        body[keys[gen() % 6]] = values[gen() % 7];
        const auto r = post_json(s.port(), "/v1/chat/completions", body);
        EXPECT_TRUE(r.status == 200 || r.status == 400) << r.status << " " << r.body;
    }
    EXPECT_EQ(http_call(s.port(), "GET", "/health").status, 200);
    EXPECT_EQ(s.engine().num_unfinished(), 0);
}

TEST(Media, Base64AndUrlSchemes) {
    EXPECT_EQ(base64_decode("aGVsbG8=").value(), "hello");
    EXPECT_EQ(base64_decode("aGVsbG8").value(), "hello");
    EXPECT_FALSE(base64_decode("a$b").ok());
    EXPECT_FALSE(fetch_image_bytes("ftp://x", {}).ok());
    EXPECT_FALSE(fetch_image_bytes("data:image/png,plain", {}).ok());
}

}  // namespace
}  // namespace autoglm
