#include "kernels/cuda/smem_opt_in.h"

#include "core/check.h"

namespace autoglm::cuda {

cudaError_t SmemOptIn::ensure_raw(const void* kernel, int bytes) {
    int dev = 0;
    if (const cudaError_t e = cudaGetDevice(&dev); e != cudaSuccess) return e;
    CHECK(dev >= 0 && dev < kMaxDevices) << "device ordinal " << dev << " beyond " << kMaxDevices;
    std::atomic<int>& raised = raised_[dev];
    if (raised.load(std::memory_order_acquire) >= bytes) return cudaSuccess;
    std::lock_guard<std::mutex> lock(mu_);
    if (raised.load(std::memory_order_relaxed) >= bytes) return cudaSuccess;
    const cudaError_t e =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e == cudaSuccess) raised.store(bytes, std::memory_order_release);
    return e;
}

}  // namespace autoglm::cuda
