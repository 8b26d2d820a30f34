// CPU reference GEMM for y = x * W^T (+ b) with f32 accumulation; weights converted to f32 a block
// of rows at a time so bf16 checkpoints are read straight from the mmap.
#include <algorithm>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/ops.h"

namespace autoglm::cpu {
namespace {

constexpr int64_t kRowBlock = 16;  // weight rows converted and reused across all m rows

inline float dot(const float* a, const float* b, int64_t k) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= k; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < k; ++i) sum += a[i] * b[i];
    return sum;
}

}  // namespace

void linear(const float* x, int64_t m, const TensorView& w, const TensorView* bias, float* y) {
    CHECK(w.shape.size() == 2) << "linear weight must be 2-D, got " << shape_to_string(w.shape);
    const int64_t n = w.dim(0);
    const int64_t k = w.dim(1);
    std::vector<float> b;
    if (bias && !bias->empty()) {
        CHECK(bias->numel() == n) << "bias " << shape_to_string(bias->shape) << " vs " << n;
        b.resize(static_cast<size_t>(n));
        to_f32(bias->dtype, bias->data, b.data(), b.size());
    }
    const int64_t num_blocks = (n + kRowBlock - 1) / kRowBlock;
    parallel_for(num_blocks, [&](int64_t block_begin, int64_t block_end) {
        std::vector<float> wf(static_cast<size_t>(kRowBlock * k));
        for (int64_t blk = block_begin; blk < block_end; ++blk) {
            const int64_t n0 = blk * kRowBlock;
            const int64_t rows = std::min(kRowBlock, n - n0);
            to_f32(w.dtype, w.row(n0), wf.data(), static_cast<size_t>(rows * k));
            for (int64_t i = 0; i < m; ++i) {
                const float* xi = x + i * k;
                float* yi = y + i * n + n0;
                for (int64_t r = 0; r < rows; ++r) {
                    yi[r] = dot(xi, wf.data() + r * k, k) + (b.empty() ? 0.0f : b[n0 + r]);
                }
            }
        }
    });
}

}  // namespace autoglm::cpu
