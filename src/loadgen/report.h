// Results of a run: the JSON document (every figure, the server's /metrics deltas, the timeline),
// the console table, the seeds' KPI rows, the soak checks and a self-contained HTML page with SVG
// plots.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "loadgen/runner.h"

namespace autoglm::loadgen {

struct Slo {
    std::optional<double> ttft_ms, tpot_ms, e2e_ms;
};
// "ttft=500,tpot=50" (milliseconds; keys ttft, tpot, e2e).
Result<Slo> parse_slo(const std::string& text);

struct ReportOptions {
    RunOptions run;
    Slo slo;
    bool kpi_seeds = false;
    bool soak = false;              // run the soak checks (needs `idle`)
    std::optional<IdleState> idle;  // the server after the run went quiet
    double rss_tolerance = 0.02;
};

nlohmann::ordered_json make_report(const RunResult& result, const ReportOptions& options);
std::string console_table(const nlohmann::ordered_json& report);
std::string html_page(const nlohmann::ordered_json& report);
// False when a KPI or soak check failed.
bool report_passed(const nlohmann::ordered_json& report);

}  // namespace autoglm::loadgen
