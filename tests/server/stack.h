// The whole server in-process on an ephemeral port over the demo model (Stack), and the request
// helpers the server tests share.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/file.h"
#include "engine/engine.h"
#include "engine/executor.h"
#include "model/glm4v/model.h"
#include "server/http_server.h"
#include "server/openai_service.h"
#include "tokenizer/builtin.h"
#include "util/http_client.h"

namespace autoglm::testing {

using nlohmann::json;

// Wraps an executor with a pause per step, so tests can act while a request runs.
class SlowExecutor final : public ModelExecutor {
  public:
    SlowExecutor(ModelExecutor& inner, std::chrono::milliseconds delay)
        : inner_(inner), delay_(delay) {}
    StepOutput execute(const StepPlan& plan) override {
        std::this_thread::sleep_for(delay_);
        return inner_.execute(plan);
    }
    void release(const Request& r) override { inner_.release(r); }
    int64_t vocab_size() const override { return inner_.vocab_size(); }

  private:
    ModelExecutor& inner_;
    std::chrono::milliseconds delay_;
};

inline const Glm4vModel& demo_model() {
    static const auto* model = [] {
        LoadOptions options;
        options.model = "demo";
        return std::move(Glm4vModel::load(options)).value().release();
    }();
    return *model;
}

struct StackOptions {
    ServeConfig serve;
    int64_t max_model_len = 512;
    int64_t max_queued = 0;
    std::chrono::milliseconds step_delay{0};
    uint64_t max_body = uint64_t{8} << 20;
    bool ready = true;
};

// The whole server in-process on an ephemeral port.
class Stack {
  public:
    explicit Stack(StackOptions o = {})
        : tokenizer_(make_demo_tokenizer()),
          template_(std::move(jinja::ChatTemplate::compile(demo_chat_template())).value()),
          processor_(demo_model().config().vision),
          cpu_(demo_model(), 256, 16),
          slow_(cpu_, o.step_delay),
          engine_({{256, 64}, 256, 16, o.max_model_len, o.max_queued}, demo_model().config(), slow_,
                  tokenizer_.get(), {151329, 151336, 151338}),
          service_(o.serve),
          server_({"127.0.0.1", 0, o.max_body, 2},
                  [this](http::Exchange& ex) { return service_.handle(ex); }) {
        port_ = server_.start();
        engine_.start();
        if (o.ready) make_ready();
    }
    ~Stack() {
        engine_.stop();
        server_.stop();
    }
    void make_ready() {
        service_.set_ready(
            {&engine_, tokenizer_.get(), &template_, &processor_, engine_.config().max_model_len});
    }
    uint16_t port() const { return port_; }
    Engine& engine() { return engine_; }
    OpenAiService& service() { return service_; }

  private:
    std::unique_ptr<Tokenizer> tokenizer_;
    jinja::ChatTemplate template_;
    Glm4vImageProcessor processor_;
    CpuModelExecutor cpu_;
    SlowExecutor slow_;
    Engine engine_;
    OpenAiService service_;
    http::HttpServer server_;
    uint16_t port_ = 0;
};

inline json chat_body(const std::string& text, int max_tokens = 6, bool stream = false) {
    return {{"model", "autoglm-phone-9b"},
            {"messages", {{{"role", "user"}, {"content", text}}}},
            {"max_tokens", max_tokens},
            {"temperature", 0},
            {"stream", stream}};
}

inline std::string data_url(const std::string& path, const char* mime = "image/png") {
    const std::string bytes = std::move(read_file(path)).value();
    static const char* kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out = std::string("data:") + mime + ";base64,";
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) |
                           (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
    }
    if (i < bytes.size()) {
        const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) |
                           (i + 1 < bytes.size() ? uint32_t(uint8_t(bytes[i + 1])) << 8 : 0);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

inline json image_message(const std::vector<std::string>& urls, const std::string& text) {
    json parts = json::array();
    for (const auto& u : urls)
        parts.push_back({{"type", "image_url"}, {"image_url", {{"url", u}}}});
    parts.push_back({{"type", "text"}, {"text", text}});
    return {{"role", "user"}, {"content", parts}};
}

inline void expect_error(const testing::HttpReply& r, int status, const std::string& message_part) {
    EXPECT_EQ(r.status, status) << r.body;
    const json j = r.json();
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_EQ(j["error"]["code"], status);
    EXPECT_TRUE(j["error"]["type"].is_string());
    EXPECT_NE(j["error"]["message"].get<std::string>().find(message_part), std::string::npos)
        << j["error"]["message"];
}

}  // namespace autoglm::testing
