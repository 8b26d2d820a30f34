// DeviceBuffer and device discovery (compiled only when AUTOGLM_CUDA is on).
#include <utility>

#include "core/cuda_check.h"
#include "core/device_buffer.h"

namespace autoglm {

int cuda_device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();  // clear the sticky "no device" error
        return 0;
    }
    return count;
}

std::string cuda_device_summary() {
    if (cuda_device_count() == 0) return "no CUDA device (driver or GPU absent)";
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    char buf[256];
    snprintf(buf, sizeof(buf), "%s, %.1f GiB, sm_%d%d, %d SMs", prop.name,
             static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), prop.major,
             prop.minor, prop.multiProcessorCount);
    return buf;
}

DeviceBuffer::DeviceBuffer(size_t nbytes) : nbytes_(nbytes) {
    if (nbytes_ > 0) CUDA_CHECK(cudaMalloc(&data_, nbytes_));
}

DeviceBuffer::~DeviceBuffer() {
    if (data_) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), nbytes_(std::exchange(other.nbytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
        if (data_) cudaFree(data_);
        data_ = std::exchange(other.data_, nullptr);
        nbytes_ = std::exchange(other.nbytes_, 0);
    }
    return *this;
}

void DeviceBuffer::copy_from_host(const void* src, size_t nbytes) {
    CHECK(nbytes <= nbytes_) << "copy of " << nbytes << " bytes into a buffer of " << nbytes_;
    CUDA_CHECK(cudaMemcpy(data_, src, nbytes, cudaMemcpyHostToDevice));
}

void DeviceBuffer::copy_to_host(void* dst, size_t nbytes) const {
    CHECK(nbytes <= nbytes_) << "copy of " << nbytes << " bytes from a buffer of " << nbytes_;
    CUDA_CHECK(cudaMemcpy(dst, data_, nbytes, cudaMemcpyDeviceToHost));
}

}  // namespace autoglm
