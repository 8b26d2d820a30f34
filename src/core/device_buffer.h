// DeviceBuffer: a move-only owner of one cudaMalloc allocation, plus GPU discovery.
#pragma once

#include <cstddef>
#include <string>

namespace autoglm {

// Number of usable CUDA devices; 0 when the build has no CUDA or no driver/GPU is present.
int cuda_device_count();
// "NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90" or a reason why there is none.
std::string cuda_device_summary();

#ifdef AUTOGLM_HAS_CUDA
class DeviceBuffer {
  public:
    DeviceBuffer() = default;
    explicit DeviceBuffer(size_t nbytes);
    ~DeviceBuffer();
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    DeviceBuffer(DeviceBuffer&& other) noexcept;
    DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;

    void* data() const { return data_; }
    size_t nbytes() const { return nbytes_; }
    template <typename T>
    T* as() const {
        return static_cast<T*>(data_);
    }
    void copy_from_host(const void* src, size_t nbytes);
    void copy_to_host(void* dst, size_t nbytes) const;

  private:
    void* data_ = nullptr;
    size_t nbytes_ = 0;
};
#endif

}  // namespace autoglm
