// NCCL collectives over the GPUs of one process, for tensor parallelism. libnccl.so.2 is loaded
// at run time (dlopen), so the binary runs without it on one GPU. NVLink multicast (NVLS) stays
// off unless NCCL_NVLS_ENABLE is set: its buffers are not graph-capture friendly everywhere.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/result.h"

namespace autoglm::cuda {

class Collectives {
  public:
    // One communicator per device, rank i on devices[i] (ncclCommInitAll).
    static Result<std::unique_ptr<Collectives>> create(const std::vector<int>& devices);
    ~Collectives();
    Collectives(const Collectives&) = delete;
    Collectives& operator=(const Collectives&) = delete;

    int size() const { return static_cast<int>(comms_.size()); }
    // data [count] becomes the sum over the ranks (f32 or bf16), in place, on rank's stream;
    // every rank calls it with the same count. Graph-capturable.
    void all_reduce_sum_f32(int rank, float* data, int64_t count, cudaStream_t stream);
    void all_reduce_sum_bf16(int rank, void* data, int64_t count, cudaStream_t stream);
    // out [size][count] f32 gets every rank's part [count], in rank order.
    void all_gather_f32(int rank, const float* part, float* out, int64_t count,
                        cudaStream_t stream);

    struct Api;  // the library's entry points (collectives.cpp)

  private:
    Collectives() = default;
    const Api* api_ = nullptr;
    std::vector<void*> comms_;
};

}  // namespace autoglm::cuda
