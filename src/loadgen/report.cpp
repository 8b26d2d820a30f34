// make_report (figures, server deltas, KPI rows, soak checks) and the console table.
#include "loadgen/report.h"

#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <thread>

namespace autoglm::loadgen {
namespace {

using OJson = nlohmann::ordered_json;

OJson dist_json(const Distribution& d) {
    const auto r = [](double v) { return std::round(v * 1000) / 1000; };
    return {{"count", d.count}, {"mean", r(d.mean)}, {"p50", r(d.p50)}, {"p90", r(d.p90)},
            {"p95", r(d.p95)},  {"p99", r(d.p99)},   {"max", r(d.max)}};
}

struct Latencies {
    std::vector<double> ttft, tpot, itl, e2e;  // milliseconds
    std::vector<double> written, headers;      // ms from the start: request sent, headers read
};

Latencies latencies(const std::vector<RequestResult>& requests) {
    Latencies l;
    for (const RequestResult& r : requests) {
        if (!r.ok()) continue;
        l.e2e.push_back((r.end - r.start) * 1e3);
        if (r.written > 0) l.written.push_back((r.written - r.start) * 1e3);
        if (r.headers > 0) l.headers.push_back((r.headers - r.start) * 1e3);
        if (r.first_token > 0) l.ttft.push_back((r.first_token - r.start) * 1e3);
        if (r.completion_tokens > 1 && r.first_token > 0)
            l.tpot.push_back((r.end - r.first_token) * 1e3 /
                             static_cast<double>(r.completion_tokens - 1));
        for (size_t i = 1; i < r.token_times.size(); ++i)
            l.itl.push_back((r.token_times[i] - r.token_times[i - 1]) * 1e3);
    }
    return l;
}

bool meets(const RequestResult& r, const Slo& slo) {
    if (!r.ok()) return false;
    const double ttft = (r.first_token - r.start) * 1e3, e2e = (r.end - r.start) * 1e3;
    const double tpot = r.completion_tokens > 1 ? (r.end - r.first_token) * 1e3 /
                                                      static_cast<double>(r.completion_tokens - 1)
                                                : 0;
    return (!slo.ttft_ms || ttft <= *slo.ttft_ms) && (!slo.tpot_ms || tpot <= *slo.tpot_ms) &&
           (!slo.e2e_ms || e2e <= *slo.e2e_ms);
}

OJson server_json(const RunResult& res, double secs) {
    const PromSamples &a = res.before, &b = res.after;
    const auto delta = [&](const char* name) { return b.sum(name) - a.sum(name); };
    const double queries = delta("vllm:prefix_cache_queries_total");
    const double queue_n = delta("vllm:request_queue_time_seconds_count");
    const double ttft_n = delta("vllm:time_to_first_token_seconds_count");
    OJson s = {{"requests", delta("vllm:request_success_total")},
               {"prompt_tokens", delta("vllm:prompt_tokens_total")},
               {"generation_tokens", delta("vllm:generation_tokens_total")},
               {"prefix_cache_hit_rate",
                queries > 0 ? delta("vllm:prefix_cache_hits_total") / queries : 0.0},
               {"queue_time_mean_ms",
                queue_n > 0 ? delta("vllm:request_queue_time_seconds_sum") / queue_n * 1e3 : 0.0},
               {"ttft_mean_ms",  // from the server's intake of the request (after its media)
                ttft_n > 0 ? delta("vllm:time_to_first_token_seconds_sum") / ttft_n * 1e3 : 0.0},
               {"preemptions", delta("vllm:num_preemptions_total")},
               {"kv_cache_usage_peak", res.kv_usage_peak},
               {"cpu_cores_busy", secs > 0 ? delta("process_cpu_seconds_total") / secs : 0.0},
               {"rss_bytes_start", a.sum("process_resident_memory_bytes")},
               {"rss_bytes_end", b.sum("process_resident_memory_bytes")}};
    const double steps = delta("vllm:iteration_tokens_total_count");
    if (steps > 0) {
        s["engine_steps"] = steps;
        s["tokens_per_step"] = delta("vllm:iteration_tokens_total_sum") / steps;
    }
    // Our server's breakdown (autoglm_...): step phases and request preparation stages.
    // Per label value of `family` (a histogram): observations, their mean and their share of
    // the window's wall time.
    const auto by_label = [&](const std::string& family, const char* key,
                              std::initializer_list<const char*> values) {
        OJson out = OJson::object();
        for (const char* v : values) {
            const std::string l = std::string(key) + "=\"" + v + "\"";
            const double n =
                b.with_label(family + "_count", l) - a.with_label(family + "_count", l);
            const double sum = b.with_label(family + "_sum", l) - a.with_label(family + "_sum", l);
            out[v] = {{"count", n},
                      {"mean_ms", n > 0 ? sum / n * 1e3 : 0.0},
                      {"busy_share", secs > 0 ? sum / secs : 0.0}};
        }
        return out;
    };
    if (b.has("autoglm_engine_step_phase_seconds_count"))
        s["step_phases"] =
            by_label("autoglm_engine_step_phase_seconds", "phase",
                     {"schedule", "prepare", "vision", "forward", "output", "gap", "total"});
    if (b.has("autoglm_request_preparation_seconds_count"))
        s["preparation"] = by_label("autoglm_request_preparation_seconds", "stage",
                                    {"parse", "media", "prompt", "submit"});
    if (b.has("autoglm_tensor_parallel_size"))
        s["tensor_parallel_size"] = b.sum("autoglm_tensor_parallel_size");
    if (b.has("autoglm:gpu_memory_used_bytes")) {
        s["gpu_memory_used_bytes"] = b.sum("autoglm:gpu_memory_used_bytes");
        s["gpu_memory_total_bytes"] = b.sum("autoglm:gpu_memory_total_bytes");
    }
    return s;
}

OJson row(const std::string& name, const std::string& target, double value, const std::string& unit,
          std::optional<bool> pass) {
    OJson r = {{"name", name},
               {"target", target},
               {"value", std::round(value * 100) / 100},
               {"unit", unit}};
    r["pass"] = pass ? OJson(*pass) : OJson();
    return r;
}

// The seeds' KPI table: first token P50 / P95, end to end, tokens/s per GPU, concurrency, GPU
// memory, CPU, no OOM.
OJson kpi_rows(const OJson& rep) {
    const OJson& s = rep["server"];
    const double cores = std::max(1u, std::thread::hardware_concurrency());
    OJson rows = OJson::array();
    rows.push_back(row("first token P50", "< 500 ms", rep["ttft_ms"]["p50"], "ms",
                       rep["ttft_ms"]["p50"].get<double>() < 500));
    rows.push_back(row("first token P95", "< 610 ms", rep["ttft_ms"]["p95"], "ms",
                       rep["ttft_ms"]["p95"].get<double>() < 610));
    rows.push_back(row("end to end P50", "< 1200 ms", rep["e2e_ms"]["p50"], "ms",
                       rep["e2e_ms"]["p50"].get<double>() < 1200));
    rows.push_back(row("output tokens per GPU", ">= 195 tok/s", rep["output_tok_per_s"], "tok/s",
                       rep["output_tok_per_s"].get<double>() >= 195));
    rows.push_back(row("concurrent requests served", ">= 16, no errors", rep["max_in_flight"],
                       "requests",
                       rep["max_in_flight"].get<int64_t>() >= 16 && rep["failed"] == 0));
    if (s.contains("gpu_memory_used_bytes"))
        rows.push_back(row("GPU memory", "reported",
                           s["gpu_memory_used_bytes"].get<double>() / (1 << 30), "GiB", true));
    else
        rows.push_back(row("GPU memory", "reported", 0, "GiB (not exported)", std::nullopt));
    const double cpu = s["cpu_cores_busy"].get<double>() / cores * 100;
    rows.push_back(row("server CPU", "< 70 % of this host's cores", cpu, "%", cpu < 70));
    rows.push_back(row("OOM / 5xx", "0", rep["errors_5xx"], "errors", rep["errors_5xx"] == 0));
    return rows;
}

OJson soak_rows(const OJson& rep, const ReportOptions& o) {
    OJson rows = OJson::array();
    const IdleState& idle = *o.idle;
    const double running = idle.metrics.sum("vllm:num_requests_running");
    const double waiting = idle.metrics.sum("vllm:num_requests_waiting");
    const double kv = idle.metrics.sum("vllm:kv_cache_usage_perc");
    rows.push_back(row("running = waiting = 0", "0", running + waiting, "requests",
                       idle.idle && running + waiting == 0));
    rows.push_back(row("KV cache usage", "0", kv, "", idle.idle && kv == 0));
    rows.push_back(row("no 5xx", "0", rep["errors_5xx"], "errors", rep["errors_5xx"] == 0));
    rows.push_back(row("/health", "200", idle.health_status, "status", idle.health_status == 200));
    const double base = rep["server"]["rss_bytes_start"];
    const double end = idle.metrics.sum("process_resident_memory_bytes");
    const double drift = base > 0 ? (end - base) / base * 100 : 0;
    rows.push_back(row("RSS vs after warm-up",
                       "within " + std::to_string(int(o.rss_tolerance * 100)) + " %", drift, "%",
                       base > 0 && std::fabs(drift) <= o.rss_tolerance * 100));
    return rows;
}

}  // namespace

Result<Slo> parse_slo(const std::string& text) {
    Slo slo;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t end = std::min(text.find(',', pos), text.size());
        const std::string item = text.substr(pos, end - pos);
        pos = end + 1;
        const size_t eq = item.find('=');
        char* stop = nullptr;
        const double v = eq == std::string::npos ? -1 : std::strtod(item.c_str() + eq + 1, &stop);
        if (eq == std::string::npos || *stop != '\0' || !(v > 0))
            return Error{"--slo: expected ttft=MS,tpot=MS,e2e=MS, got '" + item + "'"};
        const std::string key = item.substr(0, eq);
        if (key == "ttft")
            slo.ttft_ms = v;
        else if (key == "tpot")
            slo.tpot_ms = v;
        else if (key == "e2e")
            slo.e2e_ms = v;
        else
            return Error{"--slo: unknown key '" + key + "' (ttft, tpot, e2e)"};
    }
    return slo;
}

OJson make_report(const RunResult& res, const ReportOptions& o) {
    const double secs = std::max(1e-9, res.end - res.start);
    int64_t ok = 0, aborted = 0, failed = 0, in_tok = 0, out_tok = 0, errors_5xx = 0, good = 0;
    OJson errors = OJson::object();
    for (const RequestResult& r : res.requests) {
        if (r.aborted) ++aborted;
        if (r.ok()) ++ok, in_tok += r.prompt_tokens, out_tok += r.completion_tokens;
        if (!r.ok() && !r.aborted) {
            ++failed;
            const std::string key = r.status ? "HTTP " + std::to_string(r.status) : r.error;
            errors[key] = errors.value(key, 0) + 1;
        }
        if (r.status >= 500) ++errors_5xx;
        if (meets(r, o.slo)) ++good;
    }
    const Latencies l = latencies(res.requests);
    const RunOptions& ro = o.run;
    OJson rep;
    rep["workload"] = workload_name(ro.workload.kind);
    rep["config"] = {
        {"base_url", "http://" + ro.endpoint.host + ":" + std::to_string(ro.endpoint.port) +
                         ro.endpoint.base_path},
        {"model", ro.workload.model},
        {"sessions", ro.sessions},
        {"request_rate", std::isfinite(ro.request_rate) ? OJson(ro.request_rate) : OJson("inf")},
        {"max_concurrency", ro.max_concurrency},
        {"num_prompts", ro.num_prompts},
        {"duration_s", ro.duration},
        {"warmup", ro.warmup},
        {"think_time_s", ro.think_time},
        {"abort_fraction", ro.abort_fraction},
        {"seed", ro.seed}};
    rep["duration_s"] = secs;
    rep["completed"] = ok;
    rep["failed"] = failed;
    rep["aborted"] = aborted;
    rep["errors"] = errors;
    rep["errors_5xx"] = errors_5xx;
    rep["requests_per_s"] = static_cast<double>(ok) / secs;
    rep["agent_steps_per_s"] = static_cast<double>(res.agent_steps) / secs;
    rep["input_tokens"] = in_tok;
    rep["output_tokens"] = out_tok;
    rep["input_tok_per_s"] = static_cast<double>(in_tok) / secs;
    rep["output_tok_per_s"] = static_cast<double>(out_tok) / secs;
    rep["max_in_flight"] = res.max_in_flight;
    rep["ttft_ms"] = dist_json(summarize(l.ttft));
    rep["tpot_ms"] = dist_json(summarize(l.tpot));
    rep["itl_ms"] = dist_json(summarize(l.itl));
    rep["e2e_ms"] = dist_json(summarize(l.e2e));
    // Where a first token's time goes on the way: the request's upload, then the server's work
    // until it answers with headers (a streamed answer starts once the request is accepted).
    rep["request_written_ms"] = dist_json(summarize(l.written));
    rep["response_headers_ms"] = dist_json(summarize(l.headers));
    if (o.slo.ttft_ms || o.slo.tpot_ms || o.slo.e2e_ms)
        rep["goodput"] = {{"requests", good}, {"requests_per_s", static_cast<double>(good) / secs}};
    rep["server"] = res.metrics_available ? server_json(res, secs) : OJson();
    if (o.kpi_seeds && res.metrics_available) rep["kpi"] = kpi_rows(rep);
    if (o.soak && o.idle && res.metrics_available) rep["soak"] = soak_rows(rep, o);
    OJson timeline = OJson::array();
    for (const TimelinePoint& p : res.timeline)
        timeline.push_back({{"t", std::round(p.t * 100) / 100},
                            {"completed", p.completed},
                            {"output_tokens", p.output_tokens},
                            {"in_flight", p.in_flight},
                            {"kv_usage", p.kv_usage},
                            {"running", p.running},
                            {"waiting", p.waiting}});
    rep["timeline"] = timeline;
    OJson samples = OJson::object();  // for the CDF plots
    samples["ttft_ms"] = l.ttft;
    samples["e2e_ms"] = l.e2e;
    rep["samples"] = samples;
    return rep;
}

bool report_passed(const OJson& rep) {
    for (const char* key : {"kpi", "soak"})
        if (rep.contains(key))
            for (const OJson& r : rep[key])
                if (r["pass"].is_boolean() && !r["pass"].get<bool>()) return false;
    return true;
}

std::string console_table(const OJson& rep) {
    std::string out;
    char line[256];
    const auto add = [&](const char* fmt, auto... args) {
        std::snprintf(line, sizeof(line), fmt, args...);
        out += line;
    };
    add("============ autoglm bench serve: %s ============\n",
        rep["workload"].get<std::string>().c_str());
    add("%-28s %10.2f\n", "duration (s)", rep["duration_s"].get<double>());
    add("%-28s %10lld\n", "completed requests",
        static_cast<long long>(rep["completed"].get<int64_t>()));
    add("%-28s %10lld\n", "failed requests", static_cast<long long>(rep["failed"].get<int64_t>()));
    add("%-28s %10lld\n", "aborted by the client",
        static_cast<long long>(rep["aborted"].get<int64_t>()));
    add("%-28s %10.3f\n", "requests/s", rep["requests_per_s"].get<double>());
    if (rep["workload"] == "agent")
        add("%-28s %10.3f\n", "agent steps/s", rep["agent_steps_per_s"].get<double>());
    add("%-28s %10.1f\n", "input tok/s", rep["input_tok_per_s"].get<double>());
    add("%-28s %10.1f\n", "output tok/s", rep["output_tok_per_s"].get<double>());
    if (rep.contains("goodput"))
        add("%-28s %10.3f\n", "goodput (req/s within SLO)",
            rep["goodput"]["requests_per_s"].get<double>());
    add("%-10s %9s %9s %9s %9s %9s\n", "ms", "mean", "p50", "p90", "p95", "p99");
    for (const char* k : {"ttft", "tpot", "itl", "e2e"}) {
        const OJson& d = rep[std::string(k) + "_ms"];
        add("%-10s %9.1f %9.1f %9.1f %9.1f %9.1f\n", k, d["mean"].get<double>(),
            d["p50"].get<double>(), d["p90"].get<double>(), d["p95"].get<double>(),
            d["p99"].get<double>());
    }
    if (rep.contains("request_written_ms") && rep["request_written_ms"]["count"].get<double>() > 0)
        add("client, mean ms from the start: request written %.1f, response headers %.1f, "
            "first token %.1f\n",
            rep["request_written_ms"]["mean"].get<double>(),
            rep["response_headers_ms"]["mean"].get<double>(), rep["ttft_ms"]["mean"].get<double>());
    if (rep["server"].is_object()) {
        const OJson& s = rep["server"];
        add("server: %.0f requests, %.0f prompt + %.0f generated tokens, prefix hit %.1f %%, queue "
            "%.1f ms mean, TTFT from intake %.1f ms mean, %.0f preemptions, KV peak %.1f %%\n",
            s["requests"].get<double>(), s["prompt_tokens"].get<double>(),
            s["generation_tokens"].get<double>(), s["prefix_cache_hit_rate"].get<double>() * 100,
            s["queue_time_mean_ms"].get<double>(), s.value("ttft_mean_ms", 0.0),
            s["preemptions"].get<double>(), s["kv_cache_usage_peak"].get<double>() * 100);
        if (s.contains("tensor_parallel_size"))
            add("server: tensor parallel size %.0f\n", s["tensor_parallel_size"].get<double>());
        if (s.contains("step_phases")) {
            const OJson& p = s["step_phases"];
            const auto ms = [&](const char* k) { return p[k]["mean_ms"].get<double>(); };
            add("server steps: %.0f, %.0f tokens each; mean ms: schedule %.2f, prepare %.2f, "
                "vision %.1f (%.0f images), forward %.1f, output %.2f, gap %.2f, total %.1f; "
                "busy %.0f %% of the window\n",
                s.value("engine_steps", 0.0), s.value("tokens_per_step", 0.0), ms("schedule"),
                ms("prepare"), ms("vision"), p["vision"]["count"].get<double>(), ms("forward"),
                ms("output"), ms("gap"), ms("total"), p["total"]["busy_share"].get<double>() * 100);
        }
        if (s.contains("preparation")) {
            const OJson& p = s["preparation"];
            add("server request preparation, mean ms: parse %.2f, media %.1f (%.0f requests), "
                "prompt %.2f, submit %.2f\n",
                p["parse"]["mean_ms"].get<double>(), p["media"]["mean_ms"].get<double>(),
                p["media"]["count"].get<double>(), p["prompt"]["mean_ms"].get<double>(),
                p["submit"]["mean_ms"].get<double>());
        }
    }
    for (const char* key : {"kpi", "soak"}) {
        if (!rep.contains(key)) continue;
        add("---- %s ----\n", key);
        for (const OJson& r : rep[key])
            add("%-4s %-28s %12.2f %-10s target %s\n",
                r["pass"].is_null()     ? "--"
                : r["pass"].get<bool>() ? "PASS"
                                        : "FAIL",
                r["name"].get<std::string>().c_str(), r["value"].get<double>(),
                r["unit"].get<std::string>().c_str(), r["target"].get<std::string>().c_str());
    }
    return out;
}

}  // namespace autoglm::loadgen
