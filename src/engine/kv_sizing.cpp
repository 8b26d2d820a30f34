// parse_memory_size, format_bytes and plan_kv_cache.
#include "engine/kv_sizing.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace autoglm {
namespace {

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string with_commas(int64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(digits[i]);
    }
    return out;
}

}  // namespace

Result<uint64_t> parse_memory_size(const std::string& text) {
    const Error bad{"invalid memory size '" + text + "' (expected e.g. 4GiB, 512MiB, 2G or bytes)"};
    if (text.empty()) return bad;
    const char* begin = text.c_str();
    char* end = nullptr;
    const double value = std::strtod(begin, &end);
    if (end == begin || !std::isfinite(value) || value < 0) return bad;
    std::string suffix = lower(std::string(end));
    if (!suffix.empty() && suffix.back() == 'b') suffix.pop_back();
    double scale = 1;
    if (!suffix.empty()) {
        const bool binary = suffix.size() == 2 && suffix[1] == 'i';
        if (suffix.size() != 1 && !binary) return bad;
        const std::string units = "kmgt";
        const size_t power = units.find(suffix[0]);
        if (power == std::string::npos) return bad;
        scale = std::pow(binary ? 1024.0 : 1000.0, static_cast<double>(power + 1));
    }
    const double bytes = value * scale;
    if (bytes >= 1.8e19) return bad;
    return static_cast<uint64_t>(bytes);
}

std::string format_bytes(uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, ++u;
    char buf[32];
    std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
    return buf;
}

std::string KvCachePlan::describe() const {
    return "KV cache" + (dtype.empty() ? std::string() : " (" + dtype + ")") + ": " +
           with_commas(num_blocks) + " blocks x " + std::to_string(block_size) +
           " tokens = " + with_commas(num_tokens()) + " tokens (" + format_bytes(bytes) + ", " +
           budget_source + "); max model len " + with_commas(max_model_len) +
           ", max concurrency at that length " +
           std::to_string(static_cast<double>(num_tokens()) / static_cast<double>(max_model_len))
               .substr(0, 5) +
           "x";
}

Result<KvCachePlan> plan_kv_cache(const KvSizingRequest& r) {
    CHECK(r.bytes_per_block > 0 && r.block_size > 0) << "bad KV block shape";
    KvCachePlan plan;
    plan.block_size = r.block_size;
    uint64_t budget = 0;
    if (r.kv_cache_memory) {
        budget = *r.kv_cache_memory;
        plan.budget_source = "--kv-cache-memory";
    } else {
        budget = static_cast<uint64_t>(static_cast<double>(r.available_bytes) *
                                       std::clamp(r.memory_utilization, 0.0, 1.0));
        plan.budget_source = std::to_string(static_cast<int>(r.memory_utilization * 100)) +
                             "% of " + format_bytes(r.available_bytes) + " free";
        if (r.default_cap != 0 && budget > r.default_cap) {
            budget = r.default_cap;
            plan.budget_source = "default cap; --kv-cache-memory to change";
        }
        const uint64_t useful =
            static_cast<uint64_t>((r.max_useful_tokens + r.block_size - 1) / r.block_size) *
            static_cast<uint64_t>(r.bytes_per_block);
        if (r.max_useful_tokens > 0 && budget > useful) {
            budget = useful;
            plan.budget_source = "enough for max-num-seqs sequences of max-model-len";
        }
    }
    const auto per_block = static_cast<uint64_t>(r.bytes_per_block);
    plan.num_blocks = static_cast<int64_t>(std::min<uint64_t>(budget / per_block, INT32_MAX));
    plan.bytes = static_cast<uint64_t>(plan.num_blocks) * per_block;
    if (plan.num_blocks < 1)
        return Error{"the KV cache budget (" + format_bytes(budget) +
                     ") cannot hold one block of " + std::to_string(r.block_size) + " tokens (" +
                     format_bytes(per_block) + "); raise --kv-cache-memory"};
    const int64_t fits = plan.num_tokens();
    if (r.max_model_len) {
        if (*r.max_model_len > fits) {
            const uint64_t needed =
                static_cast<uint64_t>((*r.max_model_len + r.block_size - 1) / r.block_size) *
                per_block;
            return Error{"To serve at least one request with the model's max seq len (" +
                         std::to_string(*r.max_model_len) + "), " + format_bytes(needed) +
                         " KV cache is needed, which is larger than the available KV cache "
                         "memory (" +
                         format_bytes(plan.bytes) +
                         "). Based on the available memory, the estimated maximum model length "
                         "is " +
                         std::to_string(fits) +
                         ". Try increasing --kv-cache-memory or decreasing --max-model-len."};
        }
        plan.max_model_len = *r.max_model_len;
    } else {
        plan.max_model_len = std::min(r.model_max_len, fits);
    }
    return plan;
}

}  // namespace autoglm
