// Helpers for golden tests: a LayerObserver that records every tap, typed reads of golden
// tensors, the max|a-b| / max|b| error measure, and whole-file reads.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/file.h"
#include "loader/safetensors.h"
#include "model/forward_batch.h"

namespace autoglm::testing {

class Recorder : public LayerObserver {
  public:
    void on_tensor(const char* name, const float* data, int64_t rows, int64_t cols) override {
        order.push_back(name);
        tensors[name].assign(data, data + rows * cols);
    }
    std::vector<std::string> order;  // tap names in forward order
    std::map<std::string, std::vector<float>> tensors;
};

// A golden tensor's elements as T (no conversion: the dtype must match T's size).
template <typename T>
std::vector<T> read_tensor(const SafetensorsFile& file, const std::string& name) {
    const TensorView v = file.view(name);
    if (dtype_size(v.dtype) != sizeof(T)) return {};
    const auto* p = static_cast<const T*>(v.data);
    return std::vector<T>(p, p + v.numel());
}

// max|got - want| / max|want| (infinite on a size mismatch).
inline double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
    if (got.size() != want.size()) return INFINITY;
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[i]) - want[i]));
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    }
    return max_ref > 0 ? max_diff / max_ref : max_diff;
}

// The file's bytes, or "" when it cannot be read (tests then fail on the content).
inline std::string read_text(const std::string& path) {
    auto text = read_file(path);
    return text.ok() ? text.value() : std::string();
}

}  // namespace autoglm::testing
