// Engine metrics with the meaning of vLLM's Prometheus series (the server names and exports them):
// gauges (waiting, running, KV usage), counters, and histograms with fixed bucket bounds.
// Written by the engine thread, read by any thread (atomics and a mutex per histogram).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace autoglm {

class Histogram {
  public:
    explicit Histogram(std::vector<double> upper_bounds);
    void observe(double value);

    struct Snapshot {
        std::vector<double> upper_bounds;
        std::vector<uint64_t> cumulative_counts;  // per bound, then +Inf last
        double sum = 0;
        uint64_t count = 0;
    };
    Snapshot snapshot() const;

  private:
    std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::vector<uint64_t> counts_;  // per bucket (not cumulative), +Inf last
    double sum_ = 0;
    uint64_t count_ = 0;
};

// vLLM's bucket bounds (seconds) for the latency histograms.
std::vector<double> ttft_buckets();
std::vector<double> inter_token_buckets();
std::vector<double> request_latency_buckets();
// vLLM's bounds for vllm:iteration_tokens_total (tokens one engine step runs).
std::vector<double> iteration_tokens_buckets();
// Seconds, 50 us to 10 s: the phases of one engine step and of preparing a request.
std::vector<double> phase_buckets();

// Where one engine step's wall time goes (autoglm_engine_step_phase_seconds{phase=...}):
// schedule (admit, abort, plan), prepare (flatten, stage, launch: host work of the step; on the
// GPU also any wait for earlier device work), vision (one observation per image encoded; device
// time on the GPU), forward (the text model; device time on the GPU), output (sampling, token
// bookkeeping, detokenizing, delivery; on the GPU it includes waiting for the forward), total,
// and gap = total - the step's vision - its forward (the model not running: host overhead),
// observed for steps whose device times are known by the step's end.
struct StepPhaseHistograms {
    Histogram schedule{phase_buckets()}, prepare{phase_buckets()}, vision{phase_buckets()},
        forward{phase_buckets()}, output{phase_buckets()}, gap{phase_buckets()},
        total{phase_buckets()};
    // (name, histogram) in a fixed order, for exporters.
    std::vector<std::pair<const char*, const Histogram*>> all() const;
};

struct EngineMetrics {
    std::atomic<int64_t> num_waiting{0};
    std::atomic<int64_t> num_running{0};
    std::atomic<double> kv_cache_usage{0.0};  // fraction of blocks in use, 0..1
    std::atomic<uint64_t> prompt_tokens{0};
    std::atomic<uint64_t> generation_tokens{0};
    std::atomic<uint64_t> preemptions{0};
    std::atomic<uint64_t> prefix_cache_queries{0};  // tokens looked up
    std::atomic<uint64_t> prefix_cache_hits{0};     // tokens found
    std::atomic<uint64_t> finished_stop{0}, finished_length{0}, finished_abort{0};
    Histogram time_to_first_token{ttft_buckets()};
    Histogram inter_token_latency{inter_token_buckets()};
    Histogram e2e_request_latency{request_latency_buckets()};
    Histogram request_queue_time{request_latency_buckets()};
    Histogram iteration_tokens{iteration_tokens_buckets()};
    StepPhaseHistograms step_phases;
};

}  // namespace autoglm
