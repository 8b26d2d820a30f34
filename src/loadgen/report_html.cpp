// html_page: one self-contained page (inline CSS and SVG, no scripts, no network) with the
// summary, the KPI / soak rows, TTFT and E2E CDFs, and throughput and concurrency over time.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "loadgen/report.h"

namespace autoglm::loadgen {
namespace {

using OJson = nlohmann::ordered_json;

struct Series {
    std::string name;
    std::string color;
    std::vector<std::pair<double, double>> points;
};

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), std::fabs(v) >= 100 ? "%.0f" : "%.3g", v);
    return buf;
}

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '<')
            out += "&lt;";
        else if (c == '>')
            out += "&gt;";
        else if (c == '&')
            out += "&amp;";
        else if (c == '"')
            out += "&quot;";
        else
            out += c;
    }
    return out;
}

// A line chart with axes, 5 ticks per axis and a legend.
std::string chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                  const std::vector<Series>& series) {
    const double w = 460, h = 260, left = 56, right = 12, top = 28, bottom = 40;
    double x0 = 0, x1 = 1e-9, y1 = 1e-9;
    for (const Series& s : series)
        for (const auto& [x, y] : s.points) x1 = std::max(x1, x), y1 = std::max(y1, y);
    y1 *= 1.05;
    const auto sx = [&](double x) { return left + (x - x0) / (x1 - x0) * (w - left - right); };
    const auto sy = [&](double y) { return h - bottom - y / y1 * (h - top - bottom); };
    std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='" + num(w) + "' height='" +
                      num(h) + "' class='chart'><text x='" + num(w / 2) +
                      "' y='16' text-anchor='middle' class='title'>" + escape(title) + "</text>";
    for (int i = 0; i <= 4; ++i) {
        const double xv = x0 + (x1 - x0) * i / 4, yv = y1 * i / 4;
        svg += "<line x1='" + num(sx(xv)) + "' y1='" + num(sy(0)) + "' x2='" + num(sx(xv)) +
               "' y2='" + num(sy(y1)) + "' class='grid'/>";
        svg += "<line x1='" + num(sx(x0)) + "' y1='" + num(sy(yv)) + "' x2='" + num(sx(x1)) +
               "' y2='" + num(sy(yv)) + "' class='grid'/>";
        svg += "<text x='" + num(sx(xv)) + "' y='" + num(h - bottom + 14) +
               "' text-anchor='middle'>" + num(xv) + "</text>";
        svg += "<text x='" + num(left - 4) + "' y='" + num(sy(yv) + 4) + "' text-anchor='end'>" +
               num(yv) + "</text>";
    }
    svg += "<text x='" + num((left + w - right) / 2) + "' y='" + num(h - 6) +
           "' text-anchor='middle'>" + escape(x_label) + "</text>";
    svg += "<text x='12' y='" + num((top + h - bottom) / 2) + "' transform='rotate(-90 12 " +
           num((top + h - bottom) / 2) + ")' text-anchor='middle'>" + escape(y_label) + "</text>";
    double legend_x = left + 6;
    for (const Series& s : series) {
        std::string path;
        for (const auto& [x, y] : s.points)
            path += (path.empty() ? "M" : " L") + num(sx(x)) + " " + num(sy(y));
        if (!path.empty()) svg += "<path d='" + path + "' stroke='" + s.color + "' class='line'/>";
        svg += "<text x='" + num(legend_x) + "' y='" + num(top + 10) + "' fill='" + s.color + "'>" +
               escape(s.name) + "</text>";
        legend_x += 9.0 * static_cast<double>(s.name.size()) + 16;
    }
    return svg + "</svg>";
}

Series cdf(const OJson& samples, const std::string& name, const std::string& color) {
    std::vector<double> v = samples.get<std::vector<double>>();
    std::sort(v.begin(), v.end());
    Series s{name, color, {}};
    for (size_t i = 0; i < v.size(); ++i)
        s.points.emplace_back(v[i], static_cast<double>(i + 1) / static_cast<double>(v.size()));
    return s;
}

std::string summary_rows(const OJson& rep) {
    std::string rows;
    const auto add = [&](const std::string& k, const std::string& v) {
        rows += "<tr><th>" + escape(k) + "</th><td>" + escape(v) + "</td></tr>";
    };
    add("completed / failed / aborted", std::to_string(rep["completed"].get<int64_t>()) + " / " +
                                            std::to_string(rep["failed"].get<int64_t>()) + " / " +
                                            std::to_string(rep["aborted"].get<int64_t>()));
    add("duration", num(rep["duration_s"].get<double>()) + " s");
    add("requests/s", num(rep["requests_per_s"].get<double>()));
    if (rep["workload"] == "agent")
        add("agent steps/s", num(rep["agent_steps_per_s"].get<double>()));
    add("input / output tok/s", num(rep["input_tok_per_s"].get<double>()) + " / " +
                                    num(rep["output_tok_per_s"].get<double>()));
    if (rep.contains("goodput"))
        add("goodput (requests/s within the SLO)",
            num(rep["goodput"]["requests_per_s"].get<double>()));
    for (const char* k : {"TTFT", "TPOT", "ITL", "E2E"}) {
        std::string key = k;
        for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const OJson& d = rep[key + "_ms"];
        add(std::string(k) + " ms (mean / p50 / p90 / p95 / p99)",
            num(d["mean"]) + " / " + num(d["p50"]) + " / " + num(d["p90"]) + " / " + num(d["p95"]) +
                " / " + num(d["p99"]));
    }
    if (rep["server"].is_object()) {
        const OJson& s = rep["server"];
        add("server: prefix-cache hit rate",
            num(s["prefix_cache_hit_rate"].get<double>() * 100) + " %");
        add("server: queue time mean", num(s["queue_time_mean_ms"].get<double>()) + " ms");
        add("server: KV usage peak", num(s["kv_cache_usage_peak"].get<double>() * 100) + " %");
        add("server: preemptions", num(s["preemptions"].get<double>()));
    }
    return rows;
}

std::string check_rows(const OJson& rows) {
    std::string out;
    for (const OJson& r : rows) {
        const std::string verdict = r["pass"].is_null()     ? "n/a"
                                    : r["pass"].get<bool>() ? "PASS"
                                                            : "FAIL";
        out += "<tr class='" + verdict + "'><td>" + verdict + "</td><td>" +
               escape(r["name"].get<std::string>()) + "</td><td>" + num(r["value"].get<double>()) +
               " " + escape(r["unit"].get<std::string>()) + "</td><td>" +
               escape(r["target"].get<std::string>()) + "</td></tr>";
    }
    return out;
}

}  // namespace

std::string html_page(const OJson& rep) {
    std::vector<Series> tput{{"output tok/s", "#1f77b4", {}}, {"requests/s x10", "#ff7f0e", {}}};
    std::vector<Series> conc{{"client in flight", "#2ca02c", {}},
                             {"server running", "#9467bd", {}},
                             {"server waiting", "#d62728", {}}};
    double last_t = 0, last_tok = 0, last_done = 0;
    for (const OJson& p : rep["timeline"]) {
        const double t = p["t"], dt = std::max(1e-9, t - last_t);
        tput[0].points.emplace_back(t, (p["output_tokens"].get<double>() - last_tok) / dt);
        tput[1].points.emplace_back(t, (p["completed"].get<double>() - last_done) / dt * 10);
        conc[0].points.emplace_back(t, p["in_flight"].get<double>());
        conc[1].points.emplace_back(t, p["running"].get<double>());
        conc[2].points.emplace_back(t, p["waiting"].get<double>());
        last_t = t, last_tok = p["output_tokens"], last_done = p["completed"];
    }
    std::string html =
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>autoglm bench serve</title>"
        "<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;"
        "margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;"
        "font-size:13px}.PASS td:first-child{color:#1a7f37;font-weight:bold}.FAIL td:first-child"
        "{color:#c62828;font-weight:bold}.chart{border:1px solid #ddd;margin:6px}.chart text{font-"
        "size:11px}.chart .title{font-size:13px;font-weight:bold}.grid{stroke:#eee}.line{fill:"
        "none;stroke-width:1.6}code{background:#f4f4f4;padding:1px "
        "4px;word-break:break-all}</style></head><body>";
    html +=
        "<h1>autoglm bench serve &mdash; " + escape(rep["workload"].get<std::string>()) + "</h1>";
    html += "<p>config: <code>" + escape(rep["config"].dump()) + "</code></p>";
    html += "<table>" + summary_rows(rep) + "</table>";
    for (const char* key : {"kpi", "soak"})
        if (rep.contains(key))
            html += std::string("<h2>") + (key[0] == 'k' ? "KPI (seeds)" : "Soak checks") +
                    "</h2><table><tr><th></th><th>check</th><th>measured</th><th>target</th></tr>" +
                    check_rows(rep[key]) + "</table>";
    html += "<div>" + chart("TTFT CDF", "ms", "fraction",
                            {cdf(rep["samples"]["ttft_ms"], "TTFT", "#1f77b4")});
    html += chart("E2E latency CDF", "ms", "fraction",
                  {cdf(rep["samples"]["e2e_ms"], "E2E", "#ff7f0e")});
    html += "</div><div>" + chart("Throughput over time", "s", "per second", tput);
    html += chart("Concurrency over time", "s", "requests", conc) + "</div>";
    return html + "</body></html>\n";
}

}  // namespace autoglm::loadgen
