// render_prometheus: gauges, counters and histograms in the text format, plus /proc gauges.
#include "server/prom_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace autoglm {
namespace {

std::vector<double> http_buckets() {
    return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0};
}

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    return buf;
}

void header(std::string& out, const std::string& name, const char* type, const char* help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& labels, double v) {
    out += name + "{" + labels + "} " + number(v) + "\n";
}

void histogram(std::string& out, const std::string& name, const char* help,
               const std::string& labels, const Histogram::Snapshot& s, bool with_header = true) {
    if (with_header) header(out, name, "histogram", help);
    for (size_t i = 0; i < s.upper_bounds.size(); ++i)
        out += name + "_bucket{" + labels + ",le=\"" + number(s.upper_bounds[i]) + "\"} " +
               std::to_string(s.cumulative_counts[i]) + "\n";
    out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(s.count) + "\n";
    out += name + "_sum{" + labels + "} " + number(s.sum) + "\n";
    out += name + "_count{" + labels + "} " + std::to_string(s.count) + "\n";
}

void engine_metrics(std::string& out, const EngineMetrics& m, const std::string& model) {
    const std::string l = "model_name=\"" + escape_label_value(model) + "\"";
    header(out, "vllm:num_requests_running", "gauge", "Requests running on the engine.");
    sample(out, "vllm:num_requests_running", l, static_cast<double>(m.num_running.load()));
    header(out, "vllm:num_requests_waiting", "gauge", "Requests waiting to be scheduled.");
    sample(out, "vllm:num_requests_waiting", l, static_cast<double>(m.num_waiting.load()));
    header(out, "vllm:kv_cache_usage_perc", "gauge", "KV cache usage (1 = all blocks in use).");
    sample(out, "vllm:kv_cache_usage_perc", l, m.kv_cache_usage.load());
    const std::pair<const char*, const std::atomic<uint64_t>*> counters[] = {
        {"vllm:prompt_tokens_total", &m.prompt_tokens},
        {"vllm:generation_tokens_total", &m.generation_tokens},
        {"vllm:num_preemptions_total", &m.preemptions},
        {"vllm:prefix_cache_queries_total", &m.prefix_cache_queries},
        {"vllm:prefix_cache_hits_total", &m.prefix_cache_hits}};
    const char* helps[] = {"Prefill tokens processed.", "Generation tokens produced.",
                           "Preemptions (by recompute).", "Prefix cache queries, in tokens.",
                           "Prefix cache hits, in tokens."};
    for (size_t i = 0; i < std::size(counters); ++i) {
        header(out, counters[i].first, "counter", helps[i]);
        sample(out, counters[i].first, l, static_cast<double>(counters[i].second->load()));
    }
    header(out, "vllm:request_success_total", "counter", "Finished requests by finish reason.");
    sample(out, "vllm:request_success_total", l + ",finished_reason=\"stop\"",
           static_cast<double>(m.finished_stop.load()));
    sample(out, "vllm:request_success_total", l + ",finished_reason=\"length\"",
           static_cast<double>(m.finished_length.load()));
    sample(out, "vllm:request_success_total", l + ",finished_reason=\"abort\"",
           static_cast<double>(m.finished_abort.load()));
    histogram(out, "vllm:time_to_first_token_seconds", "Time to first token.", l,
              m.time_to_first_token.snapshot());
    histogram(out, "vllm:inter_token_latency_seconds", "Time between tokens.", l,
              m.inter_token_latency.snapshot());
    histogram(out, "vllm:e2e_request_latency_seconds", "Request latency, end to end.", l,
              m.e2e_request_latency.snapshot());
    histogram(out, "vllm:request_queue_time_seconds", "Time from arrival to first schedule.", l,
              m.request_queue_time.snapshot());
    histogram(out, "vllm:iteration_tokens_total", "Tokens run by one engine step.", l,
              m.iteration_tokens.snapshot());
    header(out, "autoglm_engine_step_phase_seconds", "histogram",
           "Where an engine step's time goes: schedule, prepare (host work of the step), "
           "vision (per image, device time), forward (device time), output (sampling and "
           "delivery), gap (total less the step's vision and forward), total.");
    for (const auto& [phase, hist] : m.step_phases.all())
        histogram(out, "autoglm_engine_step_phase_seconds", "",
                  l + ",phase=\"" + std::string(phase) + "\"", hist->snapshot(),
                  /*with_header=*/false);
}

void process_metrics(std::string& out, double start_time) {
    long pages_total = 0, pages_resident = 0;
    if (std::ifstream statm("/proc/self/statm"); statm) statm >> pages_total >> pages_resident;
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out += "process_resident_memory_bytes " + number(static_cast<double>(pages_resident) * page) +
           "\n";
    header(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    out += "process_virtual_memory_bytes " + number(static_cast<double>(pages_total) * page) + "\n";
    header(out, "process_start_time_seconds", "gauge", "Start time since the epoch, seconds.");
    out += "process_start_time_seconds " + number(start_time) + "\n";
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto secs = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
    };
    header(out, "process_cpu_seconds_total", "counter", "User and system CPU time, seconds.");
    out +=
        "process_cpu_seconds_total " + number(secs(usage.ru_utime) + secs(usage.ru_stime)) + "\n";
}

}  // namespace

std::string escape_label_value(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void HttpMetrics::record(const std::string& handler, const std::string& method,
                         const std::string& status, double seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++requests_[{handler, method, status}];
    auto& hist = durations_[{handler, method}];
    if (!hist) hist = std::make_unique<Histogram>(http_buckets());
    hist->observe(seconds);
}

void HttpMetrics::render(std::string& out) const {
    std::lock_guard<std::mutex> lock(mutex_);
    header(out, "http_requests_total", "counter", "HTTP requests by handler, method and status.");
    for (const auto& [key, count] : requests_) {
        const auto& [handler, method, status] = key;
        out += "http_requests_total{handler=\"" + escape_label_value(handler) + "\",method=\"" +
               method + "\",status=\"" + status + "\"} " + std::to_string(count) + "\n";
    }
    header(out, "http_request_duration_seconds", "histogram", "HTTP request duration.");
    for (const auto& [key, hist] : durations_)
        histogram(out, "http_request_duration_seconds", "",
                  "handler=\"" + escape_label_value(key.first) + "\",method=\"" + key.second + "\"",
                  hist->snapshot(), /*with_header=*/false);
}

std::string render_prometheus(const MetricsSources& s) {
    std::string out;
    if (s.engine) engine_metrics(out, *s.engine, s.model_name);
    if (s.preparation) {
        const std::string l = "model_name=\"" + escape_label_value(s.model_name) + "\"";
        header(out, "autoglm_request_preparation_seconds", "histogram",
               "Request work on the HTTP thread before the engine: parse (JSON body, request "
               "fields), media (images fetched, decoded, preprocessed), prompt (template, "
               "tokenizer), submit (engine intake).");
        const std::pair<const char*, const Histogram*> stages[] = {
            {"parse", &s.preparation->parse},
            {"media", &s.preparation->media},
            {"prompt", &s.preparation->prompt},
            {"submit", &s.preparation->submit}};
        for (const auto& [stage, hist] : stages)
            histogram(out, "autoglm_request_preparation_seconds", "",
                      l + ",stage=\"" + std::string(stage) + "\"", hist->snapshot(),
                      /*with_header=*/false);
    }
    if (s.http) s.http->render(out);
    process_metrics(out, s.start_time_seconds);
    if (s.tensor_parallel_size > 0) {
        const std::string l = "model_name=\"" + escape_label_value(s.model_name) + "\"";
        header(out, "autoglm_tensor_parallel_size", "gauge",
               "Tensor-parallel ranks the text decoder runs on.");
        sample(out, "autoglm_tensor_parallel_size", l, s.tensor_parallel_size);
    }
    if (s.gpu_memory_used_bytes >= 0) {
        const std::string l = "model_name=\"" + escape_label_value(s.model_name) + "\"";
        header(out, "autoglm:gpu_memory_used_bytes", "gauge", "Device memory in use, bytes.");
        sample(out, "autoglm:gpu_memory_used_bytes", l, s.gpu_memory_used_bytes);
        header(out, "autoglm:gpu_memory_total_bytes", "gauge", "Device memory, bytes.");
        sample(out, "autoglm:gpu_memory_total_bytes", l, s.gpu_memory_total_bytes);
    }
    return out;
}

}  // namespace autoglm
