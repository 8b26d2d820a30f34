// summarize / percentile and PromSamples.
#include "loadgen/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>

namespace autoglm::loadgen {

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(rank));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

Distribution summarize(std::vector<double> v) {
    Distribution d;
    if (v.empty()) return d;
    std::sort(v.begin(), v.end());
    d.count = static_cast<int64_t>(v.size());
    d.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    d.p50 = percentile(v, 50);
    d.p90 = percentile(v, 90);
    d.p95 = percentile(v, 95);
    d.p99 = percentile(v, 99);
    d.max = v.back();
    return d;
}

PromSamples PromSamples::parse(const std::string& text) {
    PromSamples out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        const std::string line = text.substr(pos, eol - pos);
        pos = eol + 1;
        if (line.empty() || line[0] == '#') continue;
        const size_t brace = line.find('{');
        const size_t space = line.rfind(' ');
        if (space == std::string::npos) continue;
        std::string name, labels;
        if (brace != std::string::npos && brace < space) {
            name = line.substr(0, brace);
            const size_t close = line.find('}', brace);
            if (close == std::string::npos) continue;
            labels = line.substr(brace + 1, close - brace - 1);
        } else {
            name = line.substr(0, space);
        }
        char* end = nullptr;
        const double value = std::strtod(line.c_str() + space + 1, &end);
        out.samples_.emplace(name, std::make_pair(labels, value));
    }
    return out;
}

double PromSamples::sum(const std::string& name) const {
    double total = 0;
    const auto [b, e] = samples_.equal_range(name);
    for (auto it = b; it != e; ++it) total += it->second.second;
    return total;
}

double PromSamples::with_label(const std::string& name, const std::string& label_part) const {
    const auto [b, e] = samples_.equal_range(name);
    for (auto it = b; it != e; ++it)
        if (it->second.first.find(label_part) != std::string::npos) return it->second.second;
    return 0;
}

bool PromSamples::has(const std::string& name) const {
    return samples_.count(name) != 0;
}

}  // namespace autoglm::loadgen
