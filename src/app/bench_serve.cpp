// autoglm bench serve: flags -> loadgen::RunOptions, then the run, the report files and the exit
// status (1 when a KPI row or soak check fails).
#include <cmath>
#include <cstdio>
#include <fstream>

#include "app/commands.h"
#include "app/common.h"
#include "loadgen/report.h"

namespace autoglm {
namespace {

using loadgen::RunOptions;

void add_bench_serve_flags(Flags& f) {
    f.add("base-url", "http://127.0.0.1:8000", "the server (ours or any OpenAI-compatible one)");
    f.add("model", "autoglm-phone-9b", "model name sent in requests");
    f.add("api-key", "", "sent as a bearer token (also from OPENAI_API_KEY)");
    f.add("workload", "agent",
          "agent (phone-agent sessions, one screenshot per step), random (token-length prompts), "
          "chat (short prompts, users waiting 1-3 s), file (a JSONL of request bodies)");
    f.add("sessions", "",
          "closed loop: this many sessions / users at once (default for agent and chat: 1)");
    f.add("steps", "5", "agent: steps per session");
    f.add("think-time", "",
          "seconds a session waits between requests (agent default 0: the phone acting; chat: "
          "1-3 s)");
    f.add("request-rate", "inf", "open loop: requests per second (inf = all at once)");
    f.add("arrival", "poisson", "open loop: poisson or constant spacing");
    f.add("max-concurrency", "0", "open loop: requests in flight at most (0 = no cap)");
    f.add("num-prompts", "", "measured requests at most (open loop default 100)");
    f.add("duration", "", "seconds of measured load (sessions start over until it ends)");
    f.add("warmup", "1", "requests sent first and not measured");
    f.add("seed", "0", "seed of every random choice (screenshots, lengths, arrivals)");
    f.add("max-tokens", "64", "agent and chat: output tokens per request");
    f.add("free-output", "", "agent: stop at eos (default: exactly --max-tokens with ignore_eos)",
          true);
    f.add("image-size", "1080x2400", "agent: screenshot WIDTHxHEIGHT");
    f.add("png-level", "6", "agent: zlib level of the screenshots (about 1 MB at 6)");
    f.add("random-input-len", "1024", "random: prompt tokens");
    f.add("random-output-len", "128", "random: output tokens");
    f.add("random-range-ratio", "0", "random: lengths uniform in len * [1 - r, 1 + r]");
    f.add("dataset-path", "", "file: JSONL, one chat or completion request body per line");
    f.add("slo", "", "goodput counts requests within ttft=MS,tpot=MS,e2e=MS");
    f.add("kpi", "", "seeds: check the seeds' KPI table and print PASS/FAIL rows");
    f.add("abort-fraction", "0", "soak: share of requests the client hangs up on mid-stream");
    f.add("soak", "",
          "after the run wait for the server to go idle and check it (implied by "
          "--abort-fraction)",
          true);
    f.add("idle-timeout", "60", "soak: seconds to wait for the server to go idle");
    f.add("settle", "5",
          "soak: seconds an idle server gets before each RSS reading (after the warm-up and at "
          "the end), to return freed memory");
    f.add("json", "", "write every figure to this JSON file");
    f.add("html", "", "write a self-contained HTML report with plots to this file");
    f.add("threads", "2", "client I/O threads");
    f.add("no-progress", "", "no live progress line", true);
    f.add("help", "", "show this help", true);
}

Status read_workload(const Flags& f, loadgen::WorkloadOptions& w) {
    auto kind = loadgen::parse_workload_kind(f.get("workload"));
    if (!kind) return kind.error();
    w.kind = kind.value();
    w.model = f.get("model");
    w.ignore_eos = !f.enabled("free-output");
    w.file = f.get("dataset-path");
    if (w.kind == loadgen::WorkloadKind::kFile && w.file.empty())
        return Error{"--workload file needs --dataset-path"};
    const std::string size = f.get("image-size");
    if (std::sscanf(size.c_str(), "%ldx%ld", &w.image_width, &w.image_height) != 2)
        return Error{"--image-size: expected WIDTHxHEIGHT, got '" + size + "'"};
    auto steps = f.get_int("steps", 1, 1 << 20);
    auto max_tokens = f.get_int("max-tokens", 1, 1 << 20);
    auto in = f.get_int("random-input-len", 1, 1 << 24);
    auto out = f.get_int("random-output-len", 1, 1 << 24);
    auto level = f.get_int("png-level", 0, 9);
    auto seed = f.get_int("seed", 0, INT64_MAX);
    for (const auto* r : {&steps, &max_tokens, &in, &out, &level, &seed})
        if (!*r) return r->error();
    auto ratio = f.get_double("random-range-ratio", 0);
    if (!ratio) return ratio.error();
    w.steps = steps.value(), w.max_tokens = max_tokens.value();
    w.input_len = in.value(), w.output_len = out.value();
    w.png_level = static_cast<int>(level.value());
    w.seed = static_cast<uint64_t>(seed.value());
    w.range_ratio = ratio.value();
    return {};
}

Status read_load(const Flags& f, RunOptions& o) {
    const bool stateful = o.workload.kind == loadgen::WorkloadKind::kAgent ||
                          o.workload.kind == loadgen::WorkloadKind::kChat;
    if (f.has("sessions") && f.has("request-rate"))
        return Error{"give --sessions (closed loop) or --request-rate (open loop), not both"};
    if (f.has("sessions") || (stateful && !f.has("request-rate"))) {
        auto s = f.get_int("sessions", 1, 1 << 20);
        if (f.has("sessions") && !s) return s.error();
        o.sessions = f.has("sessions") ? s.value() : 1;
    }
    if (f.get("request-rate") != "inf") {
        auto rate = f.get_double("request-rate", 1e-6);
        if (!rate) return rate.error();
        o.request_rate = rate.value();
    }
    if (f.get("arrival") != "poisson" && f.get("arrival") != "constant")
        return Error{"--arrival: poisson or constant"};
    o.poisson = f.get("arrival") == "poisson";
    auto conc = f.get_int("max-concurrency", 0, 1 << 20);
    auto warmup = f.get_int("warmup", 0, 1 << 20);
    auto threads = f.get_int("threads", 1, 256);
    for (const auto* r : {&conc, &warmup, &threads})
        if (!*r) return r->error();
    o.max_concurrency = conc.value(), o.warmup = warmup.value();
    o.threads = static_cast<int>(threads.value());
    if (f.has("num-prompts")) {
        auto n = f.get_int("num-prompts", 1, INT64_MAX);
        if (!n) return n.error();
        o.num_prompts = n.value();
    }
    if (f.has("duration")) {
        auto d = f.get_double("duration", 0.1);
        if (!d) return d.error();
        o.duration = d.value();
    }
    const bool bounded_by_steps =
        o.workload.kind == loadgen::WorkloadKind::kAgent && o.sessions > 0;
    if (o.num_prompts == 0 && o.duration == 0 && !bounded_by_steps) {
        if (o.sessions > 0) return Error{"give --num-prompts or --duration for this workload"};
        o.num_prompts = 100;
    }
    if (f.has("think-time")) {
        auto t = f.get_double("think-time", 0);
        if (!t) return t.error();
        o.think_time = t.value();
    }
    auto abort = f.get_double("abort-fraction", 0);
    if (!abort || abort.value() > 1) return Error{"--abort-fraction must be in [0, 1]"};
    o.abort_fraction = abort.value();
    o.progress = !f.enabled("no-progress");
    o.seed = o.workload.seed;
    return {};
}

bool write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    return static_cast<bool>(out);
}

}  // namespace

int run_bench_serve(const std::vector<std::string>& args) {
    Flags f("bench serve",
            "Load-tests a running OpenAI-compatible server (autoglm serve, vLLM, SGLang, ...) and "
            "reports TTFT / TPOT / ITL / E2E percentiles, throughput, goodput and the server's own "
            "/metrics deltas; --json and --html write them, --kpi seeds and the soak checks "
            "(--abort-fraction, --soak) print PASS/FAIL.");
    add_bench_serve_flags(f);
    if (int rc = parse_or_exit(f, args); rc >= 0) return rc;
    RunOptions o;
    auto endpoint = loadgen::parse_base_url(f.get("base-url"));
    if (!endpoint) return fail(endpoint.error_message(), kExitUsage);
    o.endpoint = endpoint.value();
    o.endpoint.api_key = f.get("api-key");
    if (o.endpoint.api_key.empty())
        if (const char* env = std::getenv("OPENAI_API_KEY")) o.endpoint.api_key = env;
    if (Status s = read_workload(f, o.workload); !s) return fail(s.error_message(), kExitUsage);
    if (Status s = read_load(f, o); !s) return fail(s.error_message(), kExitUsage);
    auto slo = loadgen::parse_slo(f.get("slo"));
    if (!slo) return fail(slo.error_message(), kExitUsage);
    if (f.has("kpi") && f.get("kpi") != "seeds") return fail("--kpi: only 'seeds'", kExitUsage);
    auto idle_timeout = f.get_double("idle-timeout", 0);
    if (!idle_timeout) return fail(idle_timeout.error_message(), kExitUsage);
    auto settle = f.get_double("settle", 0);
    if (!settle) return fail(settle.error_message(), kExitUsage);
    const bool soak = f.enabled("soak") || o.abort_fraction > 0;
    if (soak) o.settle = settle.value();

    auto result = loadgen::run_load(o);
    if (!result) return fail(result.error_message(), kExitFailure);
    loadgen::ReportOptions ro;
    ro.run = o;
    ro.slo = slo.value();
    ro.kpi_seeds = f.has("kpi");
    ro.soak = soak;
    if (ro.soak) ro.idle = loadgen::wait_for_idle(o.endpoint, idle_timeout.value(), o.settle);
    const auto report = loadgen::make_report(result.value(), ro);
    std::fputs(loadgen::console_table(report).c_str(), stdout);
    if (f.has("json") && !write_text(f.get("json"), report.dump(1) + "\n"))
        return fail("cannot write " + f.get("json"), kExitFailure);
    if (f.has("html") && !write_text(f.get("html"), loadgen::html_page(report)))
        return fail("cannot write " + f.get("html"), kExitFailure);
    if (!result.value().metrics_available)
        std::fprintf(stderr, "note: %s/metrics did not answer: no server-side figures\n",
                     f.get("base-url").c_str());
    return loadgen::report_passed(report) ? 0 : kExitFailure;
}

}  // namespace autoglm
