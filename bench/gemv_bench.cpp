// The decode GEMVs against the HBM roofline, on the AutoGLM-Phone-9B text decoder's shapes (qkv
// 4608 x 4096, o 4096 x 4096, gate_up 27392 x 4096, down 4096 x 13696): bf16 and FP8 weights at 1,
// 2, 4 and 8 rows, and the FP8 cuBLASLt path those rows take otherwise (quantize x, FP8 GEMM,
// scale pass). Each launch reads a different copy of the weights (more bytes than L2 holds), back
// to back on one stream as in a decode step; an iteration is one launch on each copy. Counters:
// us_a_launch, weight_TBps (weight bytes read a second, 1e12) and of_copy (that rate over the
// device-to-device copy rate, read + write, measured at start in the same run).
//   build/release/bench/gemv_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/cuda_check.h"
#include "core/device_buffer.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/ops.h"

namespace {

using autoglm::DeviceBuffer;
namespace cuda = autoglm::cuda;

struct Shape {
    const char* name;
    int64_t n, k;
};
constexpr Shape kShapes[] = {
    {"qkv", 4608, 4096}, {"o", 4096, 4096}, {"gate_up", 27392, 4096}, {"down", 4096, 13696}};
constexpr size_t kRotateBytes = size_t{320} << 20;  // weights a pass reads: > 6x the H200's L2

double g_copy_bps = 0;  // bytes read + written a second, device to device

double measure_copy(cudaStream_t st) {
    const size_t bytes = size_t{1} << 30;
    DeviceBuffer a(bytes), b(bytes);
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    std::vector<float> ms;
    for (int i = 0; i < 12; ++i) {
        CUDA_CHECK(cudaEventRecord(e0, st));
        CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, st));
        CUDA_CHECK(cudaEventRecord(e1, st));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float t = 0;
        CUDA_CHECK(cudaEventElapsedTime(&t, e0, e1));
        if (i >= 2) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return 2.0 * static_cast<double>(bytes) / (ms[ms.size() / 2] * 1e-3);
}

enum class Path { kBf16Gemv, kFp8Gemv, kFp8Lt };

// args: shape index, rows.
template <Path kPath>
void BM_Linear(benchmark::State& state) {
    const Shape sh = kShapes[state.range(0)];
    const int64_t m = state.range(1);
    const bool fp8 = kPath != Path::kBf16Gemv;
    const size_t w_bytes = static_cast<size_t>(sh.n * sh.k) * (fp8 ? 1 : 2);
    const size_t copies = std::max<size_t>(2, (kRotateBytes + w_bytes - 1) / w_bytes);
    cudaStream_t st = nullptr;
    CUDA_CHECK(cudaStreamCreate(&st));
    std::vector<DeviceBuffer> w, scale;
    {
        DeviceBuffer w16(static_cast<size_t>(sh.n * sh.k) * 2);
        for (size_t c = 0; c < copies; ++c) {
            if (!fp8) {
                w.emplace_back(w_bytes);
                cuda::fill_uniform(w.back().as<cuda::bf16>(), sh.n * sh.k, 10 + c, 0, 0.05f, st);
                continue;
            }
            cuda::fill_uniform(w16.as<cuda::bf16>(), sh.n * sh.k, 10 + c, 0, 0.05f, st);
            w.emplace_back(w_bytes);
            scale.emplace_back(static_cast<size_t>(sh.n) * 4);
            cuda::quantize_rows_fp8(w16.as<cuda::bf16>(), sh.n, sh.k, w.back().as<uint8_t>(),
                                    scale.back().as<float>(), st);
        }
        CUDA_CHECK(cudaStreamSynchronize(st));
    }
    DeviceBuffer x(static_cast<size_t>(m * sh.k) * 2), y(static_cast<size_t>(m * sh.n) * 2);
    cuda::fill_uniform(x.as<cuda::bf16>(), m * sh.k, 3, 0, 1.0f, st);
    cuda::Gemm gemm;
    if (kPath == Path::kFp8Lt) gemm.reserve_fp8(m, sh.k);
    auto launch = [&](size_t c) {
        cuda::LinearArgs a;
        a.x = x.as<cuda::bf16>(), a.m = m, a.n = sh.n, a.k = sh.k, a.y = y.data();
        if (fp8)
            a.w_fp8 = w[c].as<uint8_t>(), a.w_scale = scale[c].as<float>();
        else
            a.w = w[c].as<cuda::bf16>();
        if (kPath == Path::kFp8Lt)
            gemm.lt_linear(a, st);
        else
            cuda::gemv(a, st);
    };
    for (size_t c = 0; c < copies; ++c) launch(c);  // warm-up (plans, first launches)
    CUDA_CHECK(cudaStreamSynchronize(st));
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    double seconds = 0;     // all launches
    for (auto _ : state) {  // an iteration: one launch on each copy
        CUDA_CHECK(cudaEventRecord(e0, st));
        for (size_t c = 0; c < copies; ++c) launch(c);
        CUDA_CHECK(cudaEventRecord(e1, st));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        state.SetIterationTime(ms * 1e-3);
        seconds += ms * 1e-3;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    CUDA_CHECK(cudaStreamDestroy(st));
    state.SetLabel(std::string(sh.name) + (fp8 ? " fp8" : " bf16"));
    const double launches = static_cast<double>(copies) * static_cast<double>(state.iterations());
    const double bps = static_cast<double>(w_bytes) * launches / std::max(seconds, 1e-12);
    state.counters["us_a_launch"] = seconds / launches * 1e6;
    state.counters["weight_TBps"] = bps * 1e-12;
    state.counters["of_copy"] = bps / g_copy_bps;
}

void Args(benchmark::internal::Benchmark* b, bool one_row) {
    for (int s = 0; s < 4; ++s)
        for (int m : {1, 2, 4, 8})
            if (m > 1 || one_row) b->Args({s, m});
    b->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(0.1);
}

void AllRows(benchmark::internal::Benchmark* b) {
    Args(b, true);
}
void SeveralRows(benchmark::internal::Benchmark* b) {
    Args(b, false);
}

BENCHMARK_TEMPLATE(BM_Linear, Path::kBf16Gemv)->Apply(AllRows);
BENCHMARK_TEMPLATE(BM_Linear, Path::kFp8Gemv)->Apply(AllRows);
BENCHMARK_TEMPLATE(BM_Linear, Path::kFp8Lt)->Apply(SeveralRows);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (autoglm::cuda_device_count() == 0) {
        std::printf("gemv_bench: %s; nothing to measure\n", autoglm::cuda_device_summary().c_str());
        return 0;
    }
    cudaStream_t st = nullptr;
    CUDA_CHECK(cudaStreamCreate(&st));
    g_copy_bps = measure_copy(st);
    CUDA_CHECK(cudaStreamDestroy(st));
    std::printf("device: %s; copy %.2f TB/s (read + write, median of 10)\n",
                autoglm::cuda_device_summary().c_str(), g_copy_bps * 1e-12);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
