// GpuSpanTimer: a ring of event pairs; cudaEventQuery tells finished spans without waiting.
#include "model/glm4v/gpu_span_timer.h"

#include <algorithm>

#include "core/check.h"
#include "core/cuda_check.h"

namespace autoglm {

GpuSpanTimer::~GpuSpanTimer() {
    for (auto& pair : events_)
        for (cudaEvent_t e : pair)
            if (e) cudaEventDestroy(e);
}

void GpuSpanTimer::begin(cudaStream_t stream) {
    auto& pair = events_[num_ % kSpans];
    if (!pair[0]) {
        CUDA_CHECK(cudaEventCreate(&pair[0]));
        CUDA_CHECK(cudaEventCreate(&pair[1]));
    }
    // The slot's previous span is kSpans back: drop it if it was never collected.
    next_ = std::max(next_, num_ + 1 - kSpans);
    CUDA_CHECK(cudaEventRecord(pair[0], stream));
}

void GpuSpanTimer::end(cudaStream_t stream) {
    CUDA_CHECK(cudaEventRecord(events_[num_ % kSpans][1], stream));
    ++num_;
}

float GpuSpanTimer::last_ms() const {
    CHECK(num_ > 0) << "no span recorded yet";
    const auto& pair = events_[(num_ - 1) % kSpans];
    CUDA_CHECK(cudaEventSynchronize(pair[1]));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, pair[0], pair[1]));
    return ms;
}

bool GpuSpanTimer::collect(std::vector<float>& done) {
    for (; next_ < num_; ++next_) {
        const auto& pair = events_[next_ % kSpans];
        const cudaError_t state = cudaEventQuery(pair[1]);
        if (state == cudaErrorNotReady) {
            // Not an error, but clear it in case the runtime latched it.
            const cudaError_t last = cudaGetLastError();
            CHECK(last == cudaSuccess || last == cudaErrorNotReady)
                << "CUDA error: " << cudaGetErrorString(last);
            return false;
        }
        CUDA_CHECK(state);
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, pair[0], pair[1]));
        done.push_back(ms);
    }
    return true;
}

}  // namespace autoglm
