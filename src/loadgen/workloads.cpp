// The four workloads: agent sessions (system prompt, one fresh screenshot per step, older
// screenshots dropped from the history), random token-length prompts, short chat prompts, JSONL.
#include "loadgen/workloads.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/base64.h"

namespace autoglm::loadgen {
namespace {

using nlohmann::json;

json stream_fields(json body) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    return body;
}

// ---- agent ----------------------------------------------------------------------------------

const char* kTasks[] = {"打开微信，给张三发消息说今晚七点见", "在美团上搜索附近评分最高的火锅店",
                        "打开设置，把屏幕亮度调到最高",       "在淘宝搜索蓝牙耳机并按销量排序",
                        "打开高德地图，导航去最近的地铁站",   "在小红书搜索杭州三日游攻略",
                        "打开闹钟，新建一个明早六点半的闹钟", "在京东把购物车里的第一件商品下单"};

class AgentSession final : public SessionScript {
  public:
    AgentSession(const WorkloadOptions& o, int64_t index, double think)
        : o_(o), index_(index), think_(think) {
        messages_.push_back({{"role", "system"}, {"content", agent_system_prompt()}});
        task_ = kTasks[static_cast<size_t>(index) % std::size(kTasks)];
    }

    std::optional<RequestSpec> next() override {
        if (step_ >= o_.steps) return std::nullopt;
        const uint64_t seed = o_.seed * 1000003u + static_cast<uint64_t>(index_) * 7919u +
                              static_cast<uint64_t>(step_);
        const RgbImage screen = synthetic_screenshot(o_.image_width, o_.image_height, seed);
        auto png = encode_png(screen, o_.png_level);
        const std::string url = "data:image/png;base64," + base64_encode(png.value());
        std::string text = step_ == 0 ? task_ + "\n\n" : std::string();
        text +=
            "** 屏幕信息 **\n{\"current_app\": \"launcher\", \"step\": " + std::to_string(step_) +
            "}";
        messages_.push_back(
            {{"role", "user"},
             {"content", json::array({{{"type", "image_url"}, {"image_url", {{"url", url}}}},
                                      {{"type", "text"}, {"text", text}}})}});
        json body = {{"model", o_.model},          {"messages", messages_},
                     {"temperature", 0.0},         {"top_p", 0.85},
                     {"frequency_penalty", 0.2},   {"max_tokens", o_.max_tokens},
                     {"ignore_eos", o_.ignore_eos}};
        ++step_;
        return RequestSpec{"/v1/chat/completions", stream_fields(std::move(body)).dump()};
    }

    // As the phone-agent client does: the screenshot leaves the history, the reply stays as
    // <think>...</think><answer>...</answer>.
    void on_reply(const RequestResult& r) override {
        json& last = messages_.back();
        json kept = json::array();
        for (const json& part : last["content"])
            if (part.value("type", "") == "text") kept.push_back(part);
        last["content"] = kept;
        std::string thinking = r.text, answer = "do(action=\"Wait\", duration=\"1 seconds\")";
        if (const size_t a = r.text.find("<answer>"); a != std::string::npos) {
            thinking = r.text.substr(0, a);
            answer = r.text.substr(a + 8);
            if (const size_t e = answer.find("</answer>"); e != std::string::npos) answer.resize(e);
        }
        for (const char* tag : {"<think>", "</think>"})
            for (size_t p; (p = thinking.find(tag)) != std::string::npos;)
                thinking.erase(p, std::string(tag).size());
        messages_.push_back(
            {{"role", "assistant"},
             {"content", "<think>" + thinking + "</think><answer>" + answer + "</answer>"}});
    }
    double think_seconds() override { return think_; }

  private:
    const WorkloadOptions& o_;
    int64_t index_;
    double think_;
    int64_t step_ = 0;
    std::string task_;
    json messages_ = json::array();
};

// ---- random ---------------------------------------------------------------------------------

class RandomSession final : public SessionScript {
  public:
    RandomSession(const WorkloadOptions& o, int64_t index, double think)
        : o_(o),
          rng_(o.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index)),
          think_(think) {}

    std::optional<RequestSpec> next() override {
        const auto draw_len = [&](int64_t len) {
            const auto lo = static_cast<int64_t>(static_cast<double>(len) * (1 - o_.range_ratio));
            const auto hi = static_cast<int64_t>(static_cast<double>(len) * (1 + o_.range_ratio));
            return std::max<int64_t>(1, std::uniform_int_distribution<int64_t>(lo, hi)(rng_));
        };
        const int64_t in = draw_len(o_.input_len), out = draw_len(o_.output_len);
        std::uniform_int_distribution<int64_t> id(o_.vocab_low, o_.vocab_high - 1);
        json prompt = json::array();
        for (int64_t i = 0; i < in; ++i) prompt.push_back(id(rng_));
        json body = {{"model", o_.model}, {"prompt", prompt},   {"max_tokens", out},
                     {"min_tokens", out}, {"ignore_eos", true}, {"temperature", 0.0}};
        return RequestSpec{"/v1/completions", stream_fields(std::move(body)).dump()};
    }
    double think_seconds() override { return think_; }

  private:
    const WorkloadOptions& o_;
    std::mt19937_64 rng_;
    double think_;
};

// ---- chat -----------------------------------------------------------------------------------

const char* kChatPrompts[] = {"讲个笑话",
                              "介绍一下你自己",
                              "今天适合出门跑步吗？",
                              "写一首关于春天的短诗",
                              "推荐三本适合周末读的书",
                              "用一句话解释什么是量子计算",
                              "帮我想一个咖啡店的名字",
                              "怎样才能睡得更好？"};

class ChatSession final : public SessionScript {
  public:
    ChatSession(const WorkloadOptions& o, int64_t index, double think)
        : o_(o), rng_(o.seed * 31 + static_cast<uint64_t>(index)), think_(think) {}

    std::optional<RequestSpec> next() override {
        const char* prompt = kChatPrompts[std::uniform_int_distribution<size_t>(
            0, std::size(kChatPrompts) - 1)(rng_)];
        json body = {{"model", o_.model},
                     {"messages", json::array({{{"role", "user"}, {"content", prompt}}})},
                     {"temperature", 0.7},
                     {"max_tokens", o_.max_tokens}};
        return RequestSpec{"/v1/chat/completions", stream_fields(std::move(body)).dump()};
    }
    // The seeds' locust users wait 1-3 s between requests.
    double think_seconds() override {
        return think_ >= 0 ? think_ : std::uniform_real_distribution<double>(1.0, 3.0)(rng_);
    }

  private:
    const WorkloadOptions& o_;
    std::mt19937_64 rng_;
    double think_;
};

// ---- file -----------------------------------------------------------------------------------

class FileSession final : public SessionScript {
  public:
    FileSession(const std::vector<RequestSpec>& specs, int64_t index, double think)
        : specs_(specs), next_(static_cast<size_t>(index)), think_(think) {}
    std::optional<RequestSpec> next() override { return specs_[next_++ % specs_.size()]; }
    double think_seconds() override { return think_; }

  private:
    const std::vector<RequestSpec>& specs_;
    size_t next_;
    double think_;
};

Result<std::vector<RequestSpec>> read_jsonl(const WorkloadOptions& o) {
    std::ifstream in(o.file);
    if (!in) return Error{"--dataset-path: cannot read '" + o.file + "'"};
    std::vector<RequestSpec> specs;
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        json body = json::parse(line, nullptr, false);
        if (body.is_discarded() || !body.is_object())
            return Error{o.file + ":" + std::to_string(n) + ": not a JSON object"};
        const bool chat = body.contains("messages");
        if (!chat && !body.contains("prompt"))
            return Error{o.file + ":" + std::to_string(n) + ": needs 'messages' or 'prompt'"};
        body["model"] = o.model;
        specs.push_back({chat ? "/v1/chat/completions" : "/v1/completions",
                         stream_fields(std::move(body)).dump()});
    }
    if (specs.empty()) return Error{o.file + ": no requests"};
    return specs;
}

class WorkloadImpl final : public Workload {
  public:
    WorkloadImpl(WorkloadOptions o, double think, std::vector<RequestSpec> specs)
        : o_(std::move(o)), think_(think), specs_(std::move(specs)) {}
    std::unique_ptr<SessionScript> new_session(int64_t index) override {
        switch (o_.kind) {
            case WorkloadKind::kAgent:
                return std::make_unique<AgentSession>(o_, index, std::max(0.0, think_));
            case WorkloadKind::kRandom:
                return std::make_unique<RandomSession>(o_, index, std::max(0.0, think_));
            case WorkloadKind::kChat:
                return std::make_unique<ChatSession>(o_, index, think_);
            case WorkloadKind::kFile:
                return std::make_unique<FileSession>(specs_, index, std::max(0.0, think_));
        }
        return nullptr;
    }
    int64_t requests_per_session() const override {
        return o_.kind == WorkloadKind::kAgent ? o_.steps : 0;
    }

  private:
    WorkloadOptions o_;
    double think_;
    std::vector<RequestSpec> specs_;
};

}  // namespace

Result<WorkloadKind> parse_workload_kind(const std::string& text) {
    if (text == "agent") return WorkloadKind::kAgent;
    if (text == "random") return WorkloadKind::kRandom;
    if (text == "chat") return WorkloadKind::kChat;
    if (text == "file") return WorkloadKind::kFile;
    return Error{"--workload: expected agent, random, chat or file, got '" + text + "'"};
}

const char* workload_name(WorkloadKind kind) {
    switch (kind) {
        case WorkloadKind::kAgent:
            return "agent";
        case WorkloadKind::kRandom:
            return "random";
        case WorkloadKind::kChat:
            return "chat";
        case WorkloadKind::kFile:
            return "file";
    }
    return "?";
}

Result<std::unique_ptr<Workload>> make_workload(const WorkloadOptions& options, double think_time) {
    if (options.kind == WorkloadKind::kRandom &&
        (options.range_ratio < 0 || options.range_ratio >= 1 ||
         options.vocab_low >= options.vocab_high))
        return Error{"--random-range-ratio must be in [0, 1)"};
    std::vector<RequestSpec> specs;
    if (options.kind == WorkloadKind::kFile) {
        auto read = read_jsonl(options);
        if (!read) return read.error();
        specs = std::move(read).value();
    }
    if (options.kind == WorkloadKind::kAgent &&
        (options.image_width < 28 || options.image_height < 28 || options.steps < 1))
        return Error{"--image-size must be at least 28x28 and --steps at least 1"};
    return std::unique_ptr<Workload>(
        std::make_unique<WorkloadImpl>(options, think_time, std::move(specs)));
}

}  // namespace autoglm::loadgen
