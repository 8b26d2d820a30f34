// Scheduler bookkeeping (budget, chunking, prefix hits, preemption) without a model, and end to
// end with the model runner: many greedy requests through a deliberately small KV pool give
// exactly the ids each gives alone.
#include "engine/scheduler.h"
#include "engine/model_runner.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <utility>

#include "model/glm4v/model.h"

namespace autoglm {
namespace {

std::vector<int32_t> ids(size_t n, int32_t first) {
    std::vector<int32_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = first + static_cast<int32_t>(i);
    return v;
}

// Pretends the plan ran: computed tokens catch up; a request that reached its end samples `next`.
void apply(const StepPlan& plan, int32_t next = 7) {
    for (const ScheduledChunk& c : plan.chunks) {
        c.request->num_computed_tokens += c.num_new_tokens;
        if (c.request->num_computed_tokens == c.request->num_tokens())
            c.request->append_output(next);
    }
}

TEST(Scheduler, ChunksLongPromptsUnderTheBudgetBesideDecodes) {
    KvCacheManager kv(64, 4);
    Scheduler s({.max_num_batched_tokens = 8, .max_num_seqs = 4}, kv);
    Request a = Request::make(1, ids(3, 10)), b = Request::make(2, ids(20, 100));
    s.add(&a);
    s.add(&b);
    StepPlan p1 = s.schedule();  // a's 3 tokens, then 5 of b
    ASSERT_EQ(p1.chunks.size(), 2u);
    EXPECT_EQ(p1.chunks[0].num_new_tokens, 3);
    EXPECT_EQ(p1.chunks[1].num_new_tokens, 5);
    apply(p1);
    StepPlan p2 = s.schedule();  // a decodes 1, b continues with 7
    ASSERT_EQ(p2.chunks.size(), 2u);
    EXPECT_EQ(p2.chunks[0].num_new_tokens, 1);
    EXPECT_EQ(p2.chunks[1].num_new_tokens, 7);
    EXPECT_EQ(b.block_table.size(), 3u);  // 12 tokens in blocks of 4
}

TEST(Scheduler, PrefillShareWhileDecodingCapsChunksButNotDecodes) {
    KvCacheManager kv(64, 4);
    Scheduler s(
        {.max_num_batched_tokens = 16, .max_num_seqs = 4, .max_prefill_tokens_while_decoding = 5},
        kv);
    Request a = Request::make(1, ids(3, 10)), b = Request::make(2, ids(20, 100));
    Request c = Request::make(3, ids(9, 200));
    s.add(&a);
    s.add(&b);
    StepPlan p1 = s.schedule();  // nobody decodes yet: the whole budget (3 of a, 13 of b)
    ASSERT_EQ(p1.chunks.size(), 2u);
    EXPECT_EQ(p1.chunks[0].num_new_tokens, 3);
    EXPECT_EQ(p1.chunks[1].num_new_tokens, 13);
    apply(p1);
    s.add(&c);
    StepPlan p2 = s.schedule();  // a decodes: b's chunk gets the prefill share, c waits
    ASSERT_EQ(p2.chunks.size(), 2u);
    EXPECT_EQ(p2.chunks[0].request, &a);
    EXPECT_EQ(p2.chunks[0].num_new_tokens, 1);
    EXPECT_EQ(p2.chunks[1].num_new_tokens, 5);
    EXPECT_EQ(s.num_waiting(), 1u);
    apply(p2);
    StepPlan p3 = s.schedule();  // b's last 2 prompt tokens, then 3 of c's 9
    ASSERT_EQ(p3.chunks.size(), 3u);
    EXPECT_EQ(p3.chunks[1].num_new_tokens, 2);
    EXPECT_EQ(p3.chunks[2].request, &c);
    EXPECT_EQ(p3.chunks[2].num_new_tokens, 3);
    apply(p3);
    StepPlan p4 = s.schedule();  // two decodes and 5 more of c
    ASSERT_EQ(p4.chunks.size(), 3u);
    EXPECT_EQ(p4.chunks[0].num_new_tokens, 1);
    EXPECT_EQ(p4.chunks[1].num_new_tokens, 1);
    EXPECT_EQ(p4.chunks[2].num_new_tokens, 5);
}

// The step bound while decoding: the decodes run first, prompt chunks get what they leave
// (and no more than the prefill share); without decodes the whole budget applies.
TEST(Scheduler, StepBoundWhileDecodingLeavesPromptsWhatTheDecodesDoNotTake) {
    KvCacheManager kv(64, 4);
    Scheduler s({.max_num_batched_tokens = 16,
                 .max_num_seqs = 5,
                 .max_prefill_tokens_while_decoding = 6,
                 .max_tokens_while_decoding = 8},
                kv);
    Request a = Request::make(1, ids(2, 10)), b = Request::make(2, ids(2, 20));
    Request c = Request::make(3, ids(2, 30)), d = Request::make(4, ids(30, 100));
    for (Request* r : {&a, &b, &c}) s.add(r);
    StepPlan p1 = s.schedule();  // three short prompts, nobody decodes yet
    ASSERT_EQ(p1.chunks.size(), 3u);
    apply(p1);
    s.add(&d);
    StepPlan p2 = s.schedule();  // three decodes; d gets 8 - 3 = 5 (under the share of 6)
    ASSERT_EQ(p2.chunks.size(), 4u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(p2.chunks[static_cast<size_t>(i)].num_new_tokens, 1);
    EXPECT_EQ(p2.chunks[3].request, &d);
    EXPECT_EQ(p2.chunks[3].num_new_tokens, 5);
    apply(p2);
    s.remove(&a);
    s.remove(&b);
    StepPlan p3 = s.schedule();  // one decode: the share (6) binds before the bound (8 - 1)
    ASSERT_EQ(p3.chunks.size(), 2u);
    EXPECT_EQ(p3.chunks[0].request, &c);
    EXPECT_EQ(p3.chunks[0].num_new_tokens, 1);
    EXPECT_EQ(p3.chunks[1].num_new_tokens, 6);
    apply(p3);
    s.remove(&c);
    StepPlan p4 = s.schedule();  // nobody decodes: the step's whole budget
    ASSERT_EQ(p4.chunks.size(), 1u);
    EXPECT_EQ(p4.chunks[0].num_new_tokens, 16);
}

TEST(Scheduler, SharedThreeBlockPrefixComputesOnlyNewTokens) {
    KvCacheManager kv(64, 4);
    Scheduler s({.max_num_batched_tokens = 64, .max_num_seqs = 4}, kv);
    std::vector<int32_t> prompt_a = ids(14, 500), prompt_b = ids(12, 500);
    prompt_b.insert(prompt_b.end(), {1, 2, 3, 4, 5});
    Request a = Request::make(1, prompt_a), b = Request::make(2, prompt_b);
    s.add(&a);
    apply(s.schedule());
    s.add(&b);
    StepPlan p = s.schedule();
    ASSERT_EQ(p.chunks.size(), 2u);
    EXPECT_EQ(p.chunks[1].request, &b);
    EXPECT_EQ(b.num_computed_tokens, 12);      // 3 full blocks found in the prefix cache
    EXPECT_EQ(p.chunks[1].num_new_tokens, 5);  // only the new tokens run
    EXPECT_EQ(std::vector<int32_t>(b.block_table.begin(), b.block_table.begin() + 3),
              std::vector<int32_t>(a.block_table.begin(), a.block_table.begin() + 3));
    EXPECT_EQ(kv.pool().stats().num_hit_tokens, 12u);
}

TEST(Scheduler, PreemptsNewestWhenBlocksRunOutAndRemoveFreesEverything) {
    KvCacheManager kv(4, 4);  // 16 token slots
    Scheduler s({.max_num_batched_tokens = 64, .max_num_seqs = 4}, kv);
    Request a = Request::make(1, ids(7, 10)), b = Request::make(2, ids(7, 50));
    s.add(&a);
    s.add(&b);
    apply(s.schedule());        // both prefilled: 2 blocks each, pool full
    apply(s.schedule());        // decodes fit in the second blocks (8 tokens each)
    StepPlan p = s.schedule();  // a needs a third block: b (newest) is preempted
    EXPECT_EQ(s.stats().num_preemptions, 1u);
    ASSERT_EQ(p.chunks.size(), 1u);
    EXPECT_EQ(p.chunks[0].request, &a);
    EXPECT_EQ(b.status, RequestStatus::kWaiting);
    EXPECT_EQ(b.num_computed_tokens, 0);
    s.remove(&a);
    s.remove(&b);
    EXPECT_EQ(kv.pool().num_free_blocks(), 4);
}

// End to end on the tiny fixture.
// A request whose image is still being encoded waits (nobody overtakes it) while running
// requests keep decoding; the check sees the next waiting requests ahead of time, each with
// its prefix-cache hit, and the prefix-cache statistics count only the admission.
TEST(Scheduler, AdmitsOnlyRequestsWhoseInputsAreReady) {
    KvCacheManager kv(64, 4);
    Scheduler s({.max_num_batched_tokens = 64, .max_num_seqs = 8, .input_lookahead = 2}, kv);
    std::map<int64_t, bool> ready;
    std::vector<std::pair<int64_t, int64_t>> asked;  // (request, from)
    s.set_inputs_ready([&](const Request& r, int64_t from) {
        asked.emplace_back(r.id, from);
        return ready[r.id];
    });
    Request a = Request::make(1, ids(9, 10));
    ready[1] = true;
    s.add(&a);
    apply(s.schedule());  // a admitted: its prompt computed, one output
    Request b = Request::make(2, ids(9, 10)), c = Request::make(3, ids(5, 300)),
            d = Request::make(4, ids(5, 400));
    for (Request* r :
         {&b, &c, &d})  // an image in the last token (text-only requests skip the check)
        r->images.push_back({nullptr, 0, r->num_prompt_tokens - 1, 1});
    s.add(&b);
    s.add(&c);
    s.add(&d);
    const uint64_t queries = kv.pool().stats().num_query_tokens;
    asked.clear();
    StepPlan p = s.schedule();  // b not ready: only a decodes; c (ready) does not overtake b
    ASSERT_EQ(p.chunks.size(), 1u);
    EXPECT_EQ(p.chunks[0].request, &a);
    EXPECT_EQ(s.num_waiting(), 3u);
    EXPECT_EQ(s.front_waiting(), &b);
    // Look-ahead over b and c (b shares a's first two full blocks), then b's admission check.
    const std::vector<std::pair<int64_t, int64_t>> want{{2, 8}, {3, 0}, {2, 8}};
    EXPECT_EQ(asked, want);
    EXPECT_EQ(kv.pool().stats().num_query_tokens, queries);  // look-aheads are not queries
    apply(p);
    ready[2] = ready[3] = ready[4] = true;
    p = s.schedule();
    ASSERT_EQ(p.chunks.size(), 4u);
    EXPECT_EQ(p.chunks[1].request, &b);
    EXPECT_EQ(b.num_computed_tokens, 8);
    EXPECT_EQ(p.chunks[1].num_new_tokens, 1);
    EXPECT_GT(kv.pool().stats().num_query_tokens, queries);
}

TEST(SchedulerWithModel, ManyRequestsThroughATinyPoolMatchSingleRuns) {
    LoadOptions options;
    options.model = std::string(AUTOGLM_TEST_DATA_DIR) + "/tiny_bf16_sharded/model";
    const auto model = std::move(Glm4vModel::load(options)).value();
    constexpr int32_t kBlock = 4;
    constexpr int64_t kNewTokens = 8;
    PagedKvCache cache(model->config().text, /*num_blocks=*/24, kBlock);
    KvCacheManager kv(24, kBlock);
    ModelRunner runner(*model, cache);
    Scheduler s({.max_num_batched_tokens = 32, .max_num_seqs = 8}, kv);
    std::mt19937 gen(5);
    const std::vector<int32_t> shared = ids(13, 200);
    std::vector<Request> requests;
    for (int i = 0; i < 12; ++i) {
        std::vector<int32_t> prompt = i % 3 == 0 ? shared : std::vector<int32_t>{};
        for (size_t n = 3 + gen() % 20; n > 0; --n)
            prompt.push_back(static_cast<int32_t>(gen() % 1500));
        requests.push_back(Request::make(i, prompt));
    }
    for (Request& r : requests) s.add(&r);
    const auto vocab = static_cast<size_t>(model->config().text.vocab_size);
    for (int step = 0; step < 500 && (s.num_running() + s.num_waiting()) > 0; ++step) {
        const StepPlan plan = s.schedule();
        const StepOutput out = runner.run(plan);
        for (size_t i = 0; i < out.sampling_chunks.size(); ++i) {
            Request* r = plan.chunks[static_cast<size_t>(out.sampling_chunks[i])].request;
            r->append_output(static_cast<int32_t>(argmax({out.logits.data() + i * vocab, vocab})));
            if (r->num_output_tokens() == kNewTokens) s.remove(r);
        }
    }
    EXPECT_GT(s.stats().num_preemptions, 0u);         // the pool was too small for all at once
    EXPECT_GT(kv.pool().stats().num_hit_tokens, 0u);  // and shared prefixes hit
    for (const Request& r : requests) {
        const std::vector<int32_t> prompt(r.token_ids.begin(),
                                          r.token_ids.begin() + r.num_prompt_tokens);
        const auto alone = generate_greedy(model->text(), prompt, kNewTokens);
        const auto got = r.output_ids();
        EXPECT_EQ(std::vector<int32_t>(got.begin(), got.end()), alone) << "request " << r.id;
    }
}

}  // namespace
}  // namespace autoglm
