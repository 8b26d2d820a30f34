// CUDA ops against their CPU twins; skipped (with a message) where no GPU is present.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "core/device_buffer.h"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/ops.h"

namespace autoglm {
namespace {

#define REQUIRE_GPU() \
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_device_summary()

TEST(CudaOps, RmsNormMatchesCpuTwin) {
    REQUIRE_GPU();
    std::mt19937 gen(3);
    std::normal_distribution<float> dist(0.0f, 2.0f);
    for (auto [rows, dim] : {std::pair{1, 1}, {3, 37}, {17, 4096}, {5, 1000}}) {
        std::vector<float> x(static_cast<size_t>(rows * dim)), w(static_cast<size_t>(dim));
        for (float& v : x) v = dist(gen);
        for (float& v : w) v = dist(gen);
        std::vector<float> ref(x.size()), got(x.size());
        cpu::rms_norm(x.data(), TensorView{DType::kF32, {dim}, w.data()}, rows, dim, 1e-5f,
                      ref.data());
        DeviceBuffer dx(x.size() * 4), dw(w.size() * 4), dy(x.size() * 4);
        dx.copy_from_host(x.data(), x.size() * 4);
        dw.copy_from_host(w.data(), w.size() * 4);
        cuda::rms_norm(dx.as<float>(), dw.as<float>(), rows, dim, 1e-5f, dy.as<float>(), nullptr);
        dy.copy_to_host(got.data(), got.size() * 4);
        int shown = 0;
        for (size_t i = 0; i < got.size(); ++i) {
            const float tol = 1e-5f * (1.0f + std::fabs(ref[i]));
            if (std::fabs(got[i] - ref[i]) > tol && shown++ < 5)
                ADD_FAILURE() << "rows " << rows << " dim " << dim << " at " << i << ": " << got[i]
                              << " vs " << ref[i];
        }
    }
}

}  // namespace
}  // namespace autoglm
