// TensorView: a non-owning view of a host tensor (dtype, shape, pointer). Checkpoint weights are
// views into mmap'd files or into buffers owned by a WeightStore.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace autoglm {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_to_string(const Shape& shape);  // "[4096, 128]"

struct TensorView {
    DType dtype = DType::kF32;
    Shape shape;
    const void* data = nullptr;

    int64_t numel() const { return shape_numel(shape); }
    size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
    int64_t dim(size_t i) const { return shape.at(i); }
    bool empty() const { return data == nullptr; }
    // Row `r` of a 2-D (or flattened-trailing) tensor, as raw bytes.
    const void* row(int64_t r) const {
        const int64_t row_elems = shape.empty() ? 1 : numel() / shape[0];
        return static_cast<const unsigned char*>(data) +
               static_cast<size_t>(r * row_elems) * dtype_size(dtype);
    }
};

}  // namespace autoglm
