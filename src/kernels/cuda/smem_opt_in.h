// Opting a kernel in to more than 48 KiB of dynamic shared memory. The limit is an attribute of
// the kernel in one device's context: a process that drives several GPUs (tensor parallelism)
// must raise it on each of them, and their first launches may come from several threads at once.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <mutex>

namespace autoglm::cuda {

// One per kernel (a function-local static beside its launch).
class SmemOptIn {
  public:
    // Raises the kernel's limit to `bytes` on the calling thread's current device unless this
    // object did so already; the CUDA error of the attempt (cudaSuccess: raised, now or before).
    template <typename Kernel>
    cudaError_t ensure(Kernel* kernel, int bytes) {
        return ensure_raw(reinterpret_cast<const void*>(kernel), bytes);
    }

  private:
    cudaError_t ensure_raw(const void* kernel, int bytes);

    static constexpr int kMaxDevices = 64;
    std::mutex mu_;
    std::atomic<int> raised_[kMaxDevices] = {};  // bytes raised to, per device ordinal
};

}  // namespace autoglm::cuda
