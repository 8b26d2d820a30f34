// GpuSpanTimer: the device time of asynchronous spans of work on a stream (a forward, an image
// encode), read back without waiting once they have finished. The last kSpans spans are
// tracked; an older one nobody collected is dropped, never waited for.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace autoglm {

class GpuSpanTimer {
  public:
    static constexpr int kSpans = 16;

    GpuSpanTimer() = default;
    ~GpuSpanTimer();
    GpuSpanTimer(const GpuSpanTimer&) = delete;
    GpuSpanTimer& operator=(const GpuSpanTimer&) = delete;

    void begin(cudaStream_t stream);
    void end(cudaStream_t stream);
    // Milliseconds of the last span (waits for it).
    float last_ms() const;
    // Appends the milliseconds of spans that finished since the last call, oldest first; true
    // when every span so far has been reported (the last one among them, or earlier).
    bool collect(std::vector<float>& done);
    int64_t num_spans() const { return num_; }

  private:
    cudaEvent_t events_[kSpans][2] = {};
    int64_t num_ = 0;   // spans recorded
    int64_t next_ = 0;  // oldest span not yet collected
};

}  // namespace autoglm
