// Scheduler: vLLM v1's one rule. Every step, each running request's computed tokens catch up with
// its tokens under a token budget, then waiting requests are admitted (prefix-cache hits counted
// as computed) while the budget, max_num_seqs and the KV pool allow. Long prompts are chunked;
// decodes and prefill chunks share a step. When blocks run out the newest running request is
// preempted by recompute: its blocks are freed and it waits again at the front of the queue.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/model_runner.h"
#include "engine/request.h"

namespace autoglm {

struct SchedulerConfig {
    int64_t max_num_batched_tokens = 2048;  // token budget of one step
    int64_t max_num_seqs = 64;              // running requests at most
};

struct SchedulerStats {
    uint64_t num_preemptions = 0;
};

class Scheduler {
  public:
    Scheduler(const SchedulerConfig& config, KvCacheManager& kv);

    void add(Request* request);  // joins the waiting queue
    // The next step's plan; block tables of the planned requests are up to date.
    StepPlan schedule();
    // Frees the request's blocks and forgets it (finished or aborted), wherever it is.
    void remove(Request* request);

    size_t num_waiting() const { return waiting_.size(); }
    size_t num_running() const { return running_.size(); }
    const SchedulerStats& stats() const { return stats_; }

  private:
    bool schedule_running(Request* r, int64_t& budget, StepPlan& plan);
    bool admit_waiting(int64_t& budget, StepPlan& plan);
    void preempt(Request* r);
    void sync_block_table(Request* r) const;

    SchedulerConfig config_;
    KvCacheManager& kv_;
    std::deque<Request*> waiting_;
    std::vector<Request*> running_;  // in admission order: the back is the newest
    SchedulerStats stats_;
    int64_t next_arrival_ = 0;
};

}  // namespace autoglm
