// Prometheus text exposition (format 0.0.4) of the engine's metrics under vLLM's names (so
// dashboards, KEDA queries and gateways work unchanged), the HTTP metrics, and process gauges.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "engine/metrics.h"

namespace autoglm {

// http_requests_total{handler,method,status} and http_request_duration_seconds{handler,method}.
class HttpMetrics {
  public:
    // `status`: the grouped class ("2xx", "4xx", ...), as vLLM's instrumentation labels it.
    void record(const std::string& handler, const std::string& method, const std::string& status,
                double seconds);
    void render(std::string& out) const;

  private:
    mutable std::mutex mutex_;
    std::map<std::tuple<std::string, std::string, std::string>, uint64_t> requests_;
    std::map<std::pair<std::string, std::string>, std::unique_ptr<Histogram>> durations_;
};

// autoglm_request_preparation_seconds{stage}: the work a generation request costs on the HTTP
// thread before the engine sees it: media (fetch, decode and preprocess every image of a
// request that has some), prompt (chat template and tokenizing), submit (the engine's checks,
// placeholder expansion, positions and image hashes).
struct PreparationMetrics {
    Histogram parse{phase_buckets()}, media{phase_buckets()}, prompt{phase_buckets()},
        submit{phase_buckets()};
};

struct MetricsSources {
    const EngineMetrics* engine = nullptr;  // null while loading
    const HttpMetrics* http = nullptr;
    const PreparationMetrics* preparation = nullptr;
    std::string model_name;
    double start_time_seconds = 0;  // unix time the process started
    // Device memory (CUDA backend); negative = not reported.
    double gpu_memory_used_bytes = -1;
    double gpu_memory_total_bytes = -1;
    int tensor_parallel_size = 0;  // ranks the text decoder runs on; 0 = not reported
};

std::string render_prometheus(const MetricsSources& sources);

// The label value escaped for the text format (backslash, quote, newline).
std::string escape_label_value(const std::string& value);

}  // namespace autoglm
