// Scheduler: vLLM v1's one rule. Every step, each running request's computed tokens catch up with
// its tokens under a token budget, then waiting requests are admitted (prefix-cache hits counted
// as computed) while the budget, max_num_seqs and the KV pool allow. Long prompts are chunked;
// decodes and prefill chunks share a step. When blocks run out the newest running request is
// preempted by recompute: its blocks are freed and it waits again at the front of the queue.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/request.h"
#include "engine/step.h"

namespace autoglm {

struct SchedulerConfig {
    int64_t max_num_batched_tokens = 2048;  // token budget of one step
    int64_t max_num_seqs = 64;              // running requests at most
    int64_t input_lookahead = 4;            // waiting requests whose inputs are prepared ahead
    // While a running request decodes, a step computes at most this many prompt tokens (prefill
    // chunks), so decodes are not held up by long prefill steps; 0 = only the step's budget.
    int64_t max_prefill_tokens_while_decoding = 0;
    // While a running request decodes, a step holds at most this many tokens in all, its decodes
    // first (prompt tokens get what the decodes leave, within the share above); 0 = no such
    // bound. A GPU step's cost does not grow evenly with its tokens (the GEMMs' row tiles): a
    // step of 512 costs little more than one of ~420 (docs/PERFORMANCE.md).
    int64_t max_tokens_while_decoding = 0;
};

// Whether a request's inputs from token `from` on are ready to compute (image embeddings);
// asking starts what is missing. Requests are admitted only when ready, so no step waits for
// an image encode.
using InputsReady = std::function<bool(const Request& request, int64_t from)>;

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

    // Installs the readiness check; without one every request is ready.
    void set_inputs_ready(InputsReady check) { inputs_ready_ = std::move(check); }
    // The request at the front of the waiting queue, or null.
    Request* front_waiting() const { return waiting_.empty() ? nullptr : waiting_.front(); }
    // The prefix-cache hit a waiting request would get now (not counted as a query).
    int64_t peek_hit(Request* r);

    size_t num_waiting() const { return waiting_.size(); }
    size_t num_running() const { return running_.size(); }
    const SchedulerStats& stats() const { return stats_; }

  private:
    // The two budgets of a step: all tokens, and prompt tokens (prefill chunks) among them.
    struct Budget {
        int64_t tokens = 0;
        int64_t prefill = 0;
        // How many of a request's `wanted` new tokens fit; more than one are prompt tokens.
        int64_t take(int64_t wanted) const {
            return std::min(wanted, wanted > 1 ? std::min(tokens, prefill) : tokens);
        }
        void spend(int64_t wanted, int64_t n) {
            tokens -= n;
            if (wanted > 1) prefill -= n;
        }
    };
    bool schedule_running(Request* r, Budget& budget, StepPlan& plan);
    bool admit_waiting(Budget& budget, StepPlan& plan);
    bool inputs_known_ready(Request* r);  // asks the check (starting encodes) if r has images
    void preempt(Request* r);
    void sync_block_table(Request* r) const;

    SchedulerConfig config_;
    KvCacheManager& kv_;
    std::deque<Request*> waiting_;
    std::vector<Request*> running_;  // in admission order: the back is the newest
    SchedulerStats stats_;
    int64_t next_arrival_ = 0;
    InputsReady inputs_ready_;
};

}  // namespace autoglm
