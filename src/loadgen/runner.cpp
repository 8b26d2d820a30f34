// run_load: the I/O threads, sessions / arrivals, the monitor and the progress line.
#include "loadgen/runner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

namespace autoglm::loadgen {
namespace {

using asio::awaitable;
using asio::use_awaitable;

awaitable<void> sleep_for(double seconds) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6)));
    co_await timer.async_wait(use_awaitable);
}

// State every coroutine of a run shares.
struct Ctx {
    const RunOptions& o;
    Workload& workload;
    asio::thread_pool workers{2};  // request building (screenshots) off the I/O threads
    std::mutex mu;
    std::mt19937_64 rng;
    RunResult result;
    std::atomic<int64_t> issued{0}, completed{0}, errors{0}, in_flight{0}, out_tokens{0};
    std::atomic<int64_t> outstanding{0};  // coroutines still running (open loop)
    std::atomic<bool> stop{false}, measuring{false}, finished{false};

    Ctx(const RunOptions& options, Workload& w) : o(options), workload(w), rng(options.seed) {}

    bool repeat_sessions() const { return o.duration > 0 || o.num_prompts > 0; }
    bool take_ticket() {
        if (stop.load()) return false;
        const int64_t n = issued.fetch_add(1);
        if (o.num_prompts > 0 && n >= o.num_prompts) {
            stop.store(true);
            return false;
        }
        return true;
    }
    std::optional<int64_t> abort_point() {
        if (o.abort_fraction <= 0) return std::nullopt;
        std::lock_guard lock(mu);
        if (std::uniform_real_distribution<double>(0, 1)(rng) >= o.abort_fraction)
            return std::nullopt;
        const int64_t most = std::max<int64_t>(1, o.workload.max_tokens / 2);
        return std::uniform_int_distribution<int64_t>(1, most)(rng);
    }
};

awaitable<std::optional<RequestSpec>> build_on_workers(Ctx& c, SessionScript& script) {
    co_return co_await asio::co_spawn(
        c.workers.get_executor(),
        [&script]() -> awaitable<std::optional<RequestSpec>> { co_return script.next(); },
        use_awaitable);
}

awaitable<RequestResult> send(Ctx& c, const RequestSpec& spec, bool measured) {
    RequestOptions ro;
    if (measured) ro.abort_after_chunks = c.abort_point();
    const int64_t now_in_flight = c.in_flight.fetch_add(1) + 1;
    RequestResult r = co_await post_request(c.o.endpoint, spec.path, spec.body, ro);
    c.in_flight.fetch_sub(1);
    if (!measured) co_return r;
    c.completed.fetch_add(1);
    c.out_tokens.fetch_add(r.completion_tokens);
    if (!r.ok() && !r.aborted) c.errors.fetch_add(1);
    std::lock_guard lock(c.mu);
    c.result.max_in_flight = std::max(c.result.max_in_flight, now_in_flight);
    if (r.ok() && c.o.workload.kind == WorkloadKind::kAgent) ++c.result.agent_steps;
    c.result.requests.push_back(r);
    co_return r;
}

awaitable<void> session_loop(Ctx& c, int64_t slot) {
    for (int64_t index = slot;; index += c.o.sessions) {
        auto script = c.workload.new_session(index);
        for (;;) {
            if (!c.take_ticket()) co_return;
            auto spec = co_await build_on_workers(c, *script);
            if (!spec) {
                c.issued.fetch_sub(1);
                break;
            }
            const RequestResult r = co_await send(c, *spec, true);
            script->on_reply(r);
            if (const double think = script->think_seconds(); think > 0 && !c.stop.load())
                co_await sleep_for(think);
        }
        if (!c.repeat_sessions()) co_return;
    }
}

awaitable<void> one_arrival(Ctx& c, int64_t index) {
    auto script = c.workload.new_session(index);
    if (auto spec = co_await build_on_workers(c, *script)) co_await send(c, *spec, true);
    c.outstanding.fetch_sub(1);
}

awaitable<void> arrivals(Ctx& c) {
    auto ex = co_await asio::this_coro::executor;
    std::exponential_distribution<double> gap(std::isfinite(c.o.request_rate) ? c.o.request_rate
                                                                              : 1.0);
    for (int64_t k = 0; c.take_ticket(); ++k) {
        while (c.o.max_concurrency > 0 && c.outstanding.load() >= c.o.max_concurrency &&
               !c.stop.load())
            co_await sleep_for(0.002);
        c.outstanding.fetch_add(1);
        asio::co_spawn(ex, one_arrival(c, k), asio::detached);
        if (std::isfinite(c.o.request_rate)) {
            double wait = 1.0 / c.o.request_rate;
            if (c.o.poisson) {
                std::lock_guard lock(c.mu);
                wait = gap(c.rng);
            }
            co_await sleep_for(wait);
        }
    }
    while (c.outstanding.load() > 0) co_await sleep_for(0.01);
}

awaitable<PromSamples> scrape(const Endpoint& e) {
    const GetResult g = co_await get(e, "/metrics");
    co_return g.status == 200 ? PromSamples::parse(g.body) : PromSamples{};
}

awaitable<void> monitor(Ctx& c) {
    int64_t last_done = 0, last_tokens = 0, last_steps = 0;
    double last_t = 0;
    while (!c.finished.load()) {
        co_await sleep_for(1.0);
        const double t = now_seconds() - c.result.start;
        if (c.o.duration > 0 && t >= c.o.duration) c.stop.store(true);
        const PromSamples m = co_await scrape(c.o.endpoint);
        TimelinePoint p{t,
                        c.completed.load(),
                        c.out_tokens.load(),
                        c.in_flight.load(),
                        m.sum("vllm:kv_cache_usage_perc"),
                        m.sum("vllm:num_requests_running"),
                        m.sum("vllm:num_requests_waiting")};
        int64_t steps = 0;
        {
            std::lock_guard lock(c.mu);
            c.result.timeline.push_back(p);
            c.result.kv_usage_peak = std::max(c.result.kv_usage_peak, p.kv_usage);
            steps = c.result.agent_steps;
        }
        if (c.o.progress) {
            const double dt = std::max(1e-9, t - last_t);
            std::fprintf(
                stderr,
                "\r  %6.1f s | done %lld | errors %lld | in flight %lld | %.1f req/s | "
                "%.0f out tok/s%s   ",
                t, static_cast<long long>(p.completed), static_cast<long long>(c.errors.load()),
                static_cast<long long>(p.in_flight),
                static_cast<double>(p.completed - last_done) / dt,
                static_cast<double>(p.output_tokens - last_tokens) / dt,
                c.o.workload.kind == WorkloadKind::kAgent
                    ? (" | " +
                       std::to_string(static_cast<double>(steps - last_steps) / dt).substr(0, 4) +
                       " steps/s")
                          .c_str()
                    : "");
            std::fflush(stderr);
        }
        last_done = p.completed, last_tokens = p.output_tokens, last_steps = steps, last_t = t;
    }
    if (c.o.progress) std::fputs("\n", stderr);
}

// Polls /metrics until nothing runs, waits or holds KV blocks (at most `timeout` seconds), then
// sleeps `settle` seconds and scrapes once more.
awaitable<IdleState> until_idle(const Endpoint& endpoint, double timeout, double settle) {
    IdleState state;
    const double deadline = now_seconds() + timeout;
    for (;;) {
        state.metrics = co_await scrape(endpoint);
        state.idle = !state.metrics.empty() &&
                     state.metrics.sum("vllm:num_requests_running") == 0 &&
                     state.metrics.sum("vllm:num_requests_waiting") == 0 &&
                     state.metrics.sum("vllm:kv_cache_usage_perc") == 0;
        if (state.idle || now_seconds() > deadline) break;
        co_await sleep_for(0.5);
    }
    if (state.idle && settle > 0) {
        co_await sleep_for(settle);
        state.metrics = co_await scrape(endpoint);
    }
    co_return state;
}

awaitable<void> main_task(Ctx& c) {
    auto ex = co_await asio::this_coro::executor;
    // Warm-up at the run's concurrency (so buffers sized by batch are in place), not measured.
    const int64_t lanes =
        std::min<int64_t>(c.o.warmup, std::max<int64_t>({1, c.o.sessions, c.o.max_concurrency}));
    std::atomic<int64_t> warm_left{c.o.warmup}, warm_lanes{lanes};
    for (int64_t lane = 0; lane < lanes; ++lane)
        asio::co_spawn(
            ex,
            [&c, &warm_left]() -> awaitable<void> {
                while (warm_left.fetch_sub(1) > 0) {
                    auto script = c.workload.new_session(1'000'000 + warm_left.load());
                    if (auto spec = co_await build_on_workers(c, *script))
                        co_await send(c, *spec, false);
                }
            },
            [&warm_lanes](std::exception_ptr) { --warm_lanes; });
    while (warm_lanes.load() > 0) co_await sleep_for(0.01);
    if (c.o.settle > 0) co_await until_idle(c.o.endpoint, 60, c.o.settle);
    c.result.before = co_await scrape(c.o.endpoint);
    c.result.metrics_available = !c.result.before.empty();
    c.result.start = now_seconds();
    asio::co_spawn(ex, monitor(c), asio::detached);
    if (c.o.sessions > 0) {
        std::atomic<int64_t> running{c.o.sessions};
        for (int64_t s = 0; s < c.o.sessions; ++s)
            asio::co_spawn(ex, session_loop(c, s), [&running](std::exception_ptr) { --running; });
        while (running.load() > 0) co_await sleep_for(0.01);
    } else {
        co_await arrivals(c);
    }
    c.result.end = now_seconds();
    c.result.after = co_await scrape(c.o.endpoint);
    c.finished.store(true);
}

}  // namespace

Result<RunResult> run_load(const RunOptions& o) {
    auto workload = make_workload(o.workload, o.think_time);
    if (!workload) return workload.error();
    Ctx c(o, *workload.value());
    asio::io_context ioc;
    std::exception_ptr failure;
    asio::co_spawn(ioc, main_task(c), [&](std::exception_ptr e) { failure = e; });
    std::vector<std::thread> threads;
    for (int i = 1; i < std::max(1, o.threads); ++i) threads.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    c.workers.join();
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            return Error{std::string("bench: ") + e.what()};
        }
    }
    return std::move(c.result);
}

IdleState wait_for_idle(const Endpoint& endpoint, double timeout, double settle) {
    IdleState state;
    asio::io_context ioc;
    asio::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            state = co_await until_idle(endpoint, timeout, settle);
            state.health_status = (co_await get(endpoint, "/health")).status;
        },
        asio::detached);
    ioc.run();
    return state;
}

}  // namespace autoglm::loadgen
