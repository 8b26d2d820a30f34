// What the benchmark sends: request bodies per workload (agent sessions shaped like a phone-agent
// client, random token-length prompts, short chat prompts, recorded JSONL bodies) and the
// synthetic phone screenshots the agent sessions attach.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/result.h"
#include "image/image.h"
#include "loadgen/client.h"

namespace autoglm::loadgen {

enum class WorkloadKind { kAgent, kRandom, kChat, kFile };
Result<WorkloadKind> parse_workload_kind(const std::string& text);
const char* workload_name(WorkloadKind kind);

struct WorkloadOptions {
    WorkloadKind kind = WorkloadKind::kAgent;
    std::string model = "autoglm-phone-9b";
    uint64_t seed = 0;
    int64_t max_tokens = 64;  // output tokens per request (agent, chat)
    bool ignore_eos = true;   // fixed output length (agent, random)
    // agent
    int64_t image_width = 1080;
    int64_t image_height = 2400;
    int64_t steps = 5;  // steps per session
    int png_level = 6;
    // random
    int64_t input_len = 1024;
    int64_t output_len = 128;
    double range_ratio = 0.0;  // lengths uniform in [len * (1 - r), len * (1 + r)]
    int64_t vocab_low = 1000;  // prompt ids drawn from [vocab_low, vocab_high)
    int64_t vocab_high = 100000;
    // file
    std::string file;
};

struct RequestSpec {
    std::string path;  // "/v1/chat/completions" or "/v1/completions"
    std::string body;  // JSON
};

// One closed-loop session (or one open-loop arrival): its requests in order.
class SessionScript {
  public:
    virtual ~SessionScript() = default;
    // The next request, or nullopt when the session is done. May be slow (an agent step makes
    // and encodes a screenshot): the runner calls it on a worker thread.
    virtual std::optional<RequestSpec> next() = 0;
    virtual void on_reply(const RequestResult& result) { (void)result; }
    // Seconds to wait before the next request (the user reading, the phone acting).
    virtual double think_seconds() { return 0; }
};

class Workload {
  public:
    virtual ~Workload() = default;
    virtual std::unique_ptr<SessionScript> new_session(int64_t index) = 0;
    // Requests one session makes (0 = unbounded: the runner stops it).
    virtual int64_t requests_per_session() const = 0;
};

// `think_time` (seconds): agent / random / file wait this long between requests; chat draws
// from [1, 3] s as a person does unless think_time >= 0 is given explicitly.
Result<std::unique_ptr<Workload>> make_workload(const WorkloadOptions& options, double think_time);

// A phone-screen-like RGB picture (bars, text lines, icons, a noisy photo card), different for
// every seed; a 1080x2400 one encodes to roughly 1 MB of PNG.
RgbImage synthetic_screenshot(int64_t width, int64_t height, uint64_t seed);

// The agent's system prompt (about 1.5k tokens of Chinese phone-operation rules).
const std::string& agent_system_prompt();

}  // namespace autoglm::loadgen
