// Percentile summaries of latency samples and a small Prometheus text-format reader (the server's
// own counters before and after a run).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace autoglm::loadgen {

struct Distribution {
    int64_t count = 0;
    double mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;
};
// Percentiles by linear interpolation between order statistics (numpy's default).
Distribution summarize(std::vector<double> values);
double percentile(std::vector<double> sorted_values, double p);

// Samples of a Prometheus text exposition: "name{labels}" -> value (comments skipped).
class PromSamples {
  public:
    static PromSamples parse(const std::string& text);
    // Sum over every label set of `name` (0 when absent).
    double sum(const std::string& name) const;
    // The sample whose labels contain `label_part` (e.g. finished_reason="stop"), or 0.
    double with_label(const std::string& name, const std::string& label_part) const;
    bool has(const std::string& name) const;
    bool empty() const { return samples_.empty(); }

  private:
    std::multimap<std::string, std::pair<std::string, double>> samples_;  // name -> labels, value
};

}  // namespace autoglm::loadgen
