// The load: closed-loop sessions or open-loop arrivals (Poisson or constant rate, with a
// concurrency cap), warm-up, a 1 s monitor (progress line, /metrics scrape for KV usage and queue
// depth), optional hang-ups mid-stream, and the server's counters before and after.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "loadgen/client.h"
#include "loadgen/stats.h"
#include "loadgen/workloads.h"

namespace autoglm::loadgen {

struct RunOptions {
    Endpoint endpoint;
    WorkloadOptions workload;
    int64_t sessions = 0;  // > 0: closed loop with this many sessions at once
    double request_rate = std::numeric_limits<double>::infinity();  // open loop (req/s)
    bool poisson = true;                                            // else constant spacing
    int64_t max_concurrency = 0;                                    // open loop cap; 0 = none
    int64_t num_prompts = 0;    // measured requests at most (0: by duration, or one pass)
    double duration = 0;        // seconds of measured load (0: by count)
    int64_t warmup = 0;         // requests sent before measuring (not counted)
    double think_time = -1;     // seconds between a session's requests (-1: the workload's own)
    double abort_fraction = 0;  // share of requests the client hangs up on mid-stream
    // > 0 (soak): after the warm-up, wait for the server to go idle and then this many seconds
    // before the starting scrape, so the run's RSS baseline is an idle server's, as the end's is.
    double settle = 0;
    uint64_t seed = 0;
    int threads = 2;  // client I/O threads
    bool progress = true;
};

struct TimelinePoint {
    double t = 0;  // seconds since the measured start
    int64_t completed = 0;
    int64_t output_tokens = 0;
    int64_t in_flight = 0;
    double kv_usage = 0;
    double running = 0, waiting = 0;
};

struct RunResult {
    std::vector<RequestResult> requests;  // measured ones, in completion order
    int64_t agent_steps = 0;              // completed agent steps (ok requests of agent sessions)
    double start = 0, end = 0;            // steady seconds of the measured window
    std::vector<TimelinePoint> timeline;
    int64_t max_in_flight = 0;
    PromSamples before, after;  // /metrics at the start and end of the measured window
    double kv_usage_peak = 0;
    bool metrics_available = false;
};

Result<RunResult> run_load(const RunOptions& options);

// After a run: polls /metrics until nothing runs or waits (at most `timeout` seconds), then
// waits `settle` seconds more (the server returns freed memory when idle); returns the last
// scrape and whether it went idle.
struct IdleState {
    bool idle = false;
    PromSamples metrics;
    int health_status = 0;
};
IdleState wait_for_idle(const Endpoint& endpoint, double timeout, double settle = 0);

}  // namespace autoglm::loadgen
