// Helpers the CUDA op tests share: random bf16-rounded inputs, uploads, poisoned outputs,
// downloads (FP8 rows dequantized too) and the error measures (max|got - want| / max|want|,
// max |a - b|).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/cuda_check.h"
#include "core/device_buffer.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace autoglm::cuda_test {
#define REQUIRE_GPU() \
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_device_summary()

// Random values already rounded to bf16, so the CPU twin sees exactly the GPU's inputs.
inline std::vector<float> random_bf16_values(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = bf16_to_f32(f32_to_bf16(dist(gen)));
    return v;
}

inline DeviceBuffer upload_bf16(const std::vector<float>& v) {
    std::vector<uint16_t> bits(v.size());
    for (size_t i = 0; i < v.size(); ++i) bits[i] = f32_to_bf16(v[i]);
    DeviceBuffer d(std::max<size_t>(bits.size() * 2, 16));
    if (!bits.empty()) d.copy_from_host(bits.data(), bits.size() * 2);
    return d;
}

template <typename T>
inline DeviceBuffer upload(const std::vector<T>& v) {
    DeviceBuffer d(std::max<size_t>(v.size() * sizeof(T), 16));
    if (!v.empty()) d.copy_from_host(v.data(), v.size() * sizeof(T));
    return d;
}

inline DeviceBuffer poisoned(size_t bytes) {
    DeviceBuffer d(std::max<size_t>(bytes, 16));
    CUDA_CHECK(cudaMemset(d.data(), 0xff, bytes));  // NaN in bf16 and f32
    return d;
}

inline std::vector<float> download_bf16(const DeviceBuffer& d, size_t n) {
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<uint16_t> bits(n);
    d.copy_to_host(bits.data(), n * 2);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = bf16_to_f32(bits[i]);
    return v;
}

inline std::vector<float> download_f32(const DeviceBuffer& d, size_t n) {
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> v(n);
    d.copy_to_host(v.data(), n * 4);
    return v;
}

inline double rel_error(const std::vector<float>& got, const std::vector<float>& want) {
    if (got.size() != want.size()) return INFINITY;
    double diff = 0, ref = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        diff = std::max(diff, std::fabs(static_cast<double>(got[i]) - want[i]));
        ref = std::max(ref, std::fabs(static_cast<double>(want[i])));
    }
    return ref > 0 ? diff / ref : diff;
}

inline TensorView f32_view(const std::vector<float>& v, Shape shape) {
    return TensorView{DType::kF32, std::move(shape), v.data()};
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
        d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
    }
    return d;
}

// The device bytes of a buffer.
inline std::vector<uint8_t> download_bytes(const DeviceBuffer& d, int64_t n) {
    std::vector<uint8_t> out(static_cast<size_t>(n));
    CUDA_CHECK(cudaDeviceSynchronize());
    d.copy_to_host(out.data(), out.size());
    return out;
}

inline bool has_fp8_tensor_cores() {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    return prop.major * 10 + prop.minor >= 89;
}

// Dequantized FP8 rows from the device: q * scale per row.
inline std::vector<float> download_fp8_rows(const DeviceBuffer& q, const DeviceBuffer& scale,
                                            int64_t rows, int64_t cols) {
    std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
    std::vector<float> s(static_cast<size_t>(rows)), out(codes.size());
    CUDA_CHECK(cudaDeviceSynchronize());
    q.copy_to_host(codes.data(), codes.size());
    scale.copy_to_host(s.data(), s.size() * 4);
    for (size_t i = 0; i < codes.size(); ++i)
        out[i] = e4m3_to_f32(codes[i]) * s[i / static_cast<size_t>(cols)];
    return out;
}

}  // namespace autoglm::cuda_test
