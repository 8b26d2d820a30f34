// Engine metrics with the meaning of vLLM's Prometheus series (the server names and exports them):
// gauges (waiting, running, KV usage), counters, and histograms with fixed bucket bounds.
// Written by the engine thread, read by any thread (atomics and a mutex per histogram).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
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
};

}  // namespace autoglm
