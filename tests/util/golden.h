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
#include "model/glm4v/vision_model.h"

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

// The golden's image grids (image_grid_thw: t, h, w per image).
inline std::vector<ImageGrid> read_grids(const SafetensorsFile& golden) {
    const auto thw = read_tensor<int32_t>(golden, "image_grid_thw");
    std::vector<ImageGrid> grids;
    for (size_t i = 0; i + 2 < thw.size(); i += 3)
        grids.push_back({thw[i], thw[i + 1], thw[i + 2]});
    return grids;
}

// The patch rows of `grids`, the first images of the golden's pixel_values (patch_dim floats a
// patch).
inline std::vector<float> read_pixels(const SafetensorsFile& golden,
                                      const std::vector<ImageGrid>& grids, int64_t patch_dim) {
    int64_t patches = 0;
    for (const ImageGrid& g : grids) patches += g.num_patches();
    std::vector<float> all = read_tensor<float>(golden, "pixel_values");
    all.resize(static_cast<size_t>(patches * patch_dim));
    return all;
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
