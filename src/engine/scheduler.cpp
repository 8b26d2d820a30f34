// Scheduler::schedule: running requests first (preempting the newest when the pool is full),
// then admission from the waiting queue.
#include "engine/scheduler.h"

#include <algorithm>

#include "core/check.h"

namespace autoglm {

Scheduler::Scheduler(const SchedulerConfig& config, KvCacheManager& kv) : config_(config), kv_(kv) {
    CHECK(config.max_num_batched_tokens > 0 && config.max_num_seqs > 0) << "bad scheduler config";
}

void Scheduler::add(Request* r) {
    r->status = RequestStatus::kWaiting;
    r->arrival_order = next_arrival_++;
    waiting_.push_back(r);
}

void Scheduler::sync_block_table(Request* r) const {
    const auto table = kv_.block_table(r->id);
    r->block_table.assign(table.begin(), table.end());
}

void Scheduler::preempt(Request* r) {
    kv_.free(r->id);
    r->block_table.clear();
    r->num_computed_tokens = 0;  // recompute: prompt and outputs so far become the new prompt
    r->status = RequestStatus::kWaiting;
    running_.erase(std::find(running_.begin(), running_.end(), r));
    waiting_.push_front(r);
    ++stats_.num_preemptions;
}

// Plans r's catch-up; preempts newer requests while blocks are short. False if r itself had to
// be preempted.
bool Scheduler::schedule_running(Request* r, Budget& budget, StepPlan& plan) {
    const int64_t wanted = r->num_tokens() - r->num_computed_tokens;
    const int64_t num_new = budget.take(wanted);
    if (num_new <= 0) return true;
    while (!kv_.allocate_slots(r->kv_view(), num_new)) {
        Request* victim = running_.back();
        preempt(victim);
        if (victim == r) return false;
    }
    kv_.cache_full_blocks(r->kv_view(), r->num_computed_tokens + num_new);
    sync_block_table(r);
    plan.chunks.push_back({r, num_new});
    budget.spend(wanted, num_new);
    return true;
}

// Only images can be missing: a text-only request is ready without a prefix-cache lookup.
bool Scheduler::inputs_known_ready(Request* r) {
    return !inputs_ready_ || r->images.empty() || inputs_ready_(*r, peek_hit(r));
}

int64_t Scheduler::peek_hit(Request* r) {
    return kv_.get_computed_blocks(r->kv_view(), /*record=*/false).num_computed_tokens;
}

// Admits the front waiting request if it fits and its inputs are ready; false when admission
// must stop this step (first come, first served: nobody overtakes the front).
bool Scheduler::admit_waiting(Budget& budget, StepPlan& plan) {
    Request* r = waiting_.front();
    if (!inputs_known_ready(r)) return false;
    const ComputedBlocks hit = kv_.get_computed_blocks(r->kv_view());
    const int64_t wanted = r->num_tokens() - hit.num_computed_tokens;
    const int64_t num_new = budget.take(wanted);
    if (num_new <= 0 || !kv_.allocate_slots(r->kv_view(), num_new, hit)) {
        kv_.free(r->id);  // drops the lookup's record; the request stays waiting
        return false;
    }
    r->num_computed_tokens = hit.num_computed_tokens;
    kv_.cache_full_blocks(r->kv_view(), r->num_computed_tokens + num_new);
    sync_block_table(r);
    waiting_.pop_front();
    r->status = RequestStatus::kRunning;
    running_.push_back(r);
    plan.chunks.push_back({r, num_new});
    budget.spend(wanted, num_new);
    return true;
}

StepPlan Scheduler::schedule() {
    StepPlan plan;
    Budget budget{config_.max_num_batched_tokens, config_.max_num_batched_tokens};
    // Decodes in this step: prefill chunks then get only their own, smaller share, and what the
    // decodes leave of the step's bound.
    const auto decodes = std::count_if(running_.begin(), running_.end(), [](const Request* r) {
        return r->num_tokens() - r->num_computed_tokens == 1;
    });
    if (decodes > 0 && config_.max_prefill_tokens_while_decoding > 0)
        budget.prefill = config_.max_prefill_tokens_while_decoding;
    if (decodes > 0 && config_.max_tokens_while_decoding > 0)
        budget.prefill = std::min(
            budget.prefill, std::max<int64_t>(0, config_.max_tokens_while_decoding - decodes));
    // Look ahead: the next waiting requests' image encodes start now, beside this step.
    if (inputs_ready_) {
        int64_t n = 0;
        for (Request* r : waiting_) {
            if (n++ >= config_.input_lookahead) break;
            inputs_known_ready(r);
        }
    }
    const uint64_t preemptions_before = stats_.num_preemptions;
    // Iterate over a snapshot: preemption removes requests from running_.
    const std::vector<Request*> running = running_;
    for (Request* r : running) {
        if (budget.tokens <= 0) break;
        if (std::find(running_.begin(), running_.end(), r) == running_.end()) continue;
        if (!schedule_running(r, budget, plan)) break;
    }
    // Victims are always the newest requests, not yet planned this step (or r itself).
    DCHECK(std::all_of(plan.chunks.begin(), plan.chunks.end(), [](const ScheduledChunk& c) {
        return c.request->status == RequestStatus::kRunning;
    }));
    // As vLLM: no admissions in a step that had to preempt (the pool is full).
    if (stats_.num_preemptions != preemptions_before) return plan;
    while (!waiting_.empty() && budget.tokens > 0 && budget.prefill > 0 &&
           static_cast<int64_t>(running_.size()) < config_.max_num_seqs)
        if (!admit_waiting(budget, plan)) break;
    return plan;
}

void Scheduler::remove(Request* r) {
    kv_.free(r->id);
    r->block_table.clear();
    r->status = RequestStatus::kFinished;
    std::erase(running_, r);
    std::erase(waiting_, r);
}

}  // namespace autoglm
