// NCCL through dlopen: the few entry points tensor parallelism calls, declared by their public
// C signatures (opaque communicators, enums as ints).
#include "kernels/cuda/collectives.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <type_traits>

#include "core/check.h"
#include "core/cuda_check.h"

namespace autoglm::cuda {

namespace {
// Values of NCCL's public enums (nccl.h).
constexpr int kNcclSuccess = 0;
constexpr int kNcclSum = 0;
constexpr int kNcclFloat32 = 7;
constexpr int kNcclBfloat16 = 9;
}  // namespace

struct Collectives::Api {
    int (*comm_init_all)(void** comms, int ndev, const int* devlist) = nullptr;
    int (*comm_destroy)(void* comm) = nullptr;
    int (*all_reduce)(const void* send, void* recv, size_t count, int dtype, int op, void* comm,
                      cudaStream_t stream) = nullptr;
    int (*all_gather)(const void* send, void* recv, size_t count, int dtype, void* comm,
                      cudaStream_t stream) = nullptr;
    const char* (*error_string)(int result) = nullptr;
    int (*get_version)(int* version) = nullptr;
};

namespace {

// The library's entry points, resolved once; null (with the reason) when it cannot be loaded.
const Collectives::Api* load_api(std::string* why) {
    static std::string reason;
    static const Collectives::Api* api = []() -> const Collectives::Api* {
        void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
        if (!lib) lib = dlopen("libnccl.so", RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            const char* e = dlerror();
            reason = std::string(
                         "cannot load libnccl.so.2 (NCCL, needed for tensor parallelism on "
                         "GPUs; put its folder on LD_LIBRARY_PATH): ") +
                     (e ? e : "not found");
            return nullptr;
        }
        auto* a = new Collectives::Api;
        auto sym = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
            if (!fn && reason.empty()) reason = std::string("libnccl lacks ") + name;
        };
        sym(a->comm_init_all, "ncclCommInitAll");
        sym(a->comm_destroy, "ncclCommDestroy");
        sym(a->all_reduce, "ncclAllReduce");
        sym(a->all_gather, "ncclAllGather");
        sym(a->error_string, "ncclGetErrorString");
        sym(a->get_version, "ncclGetVersion");
        if (!reason.empty()) return nullptr;
        int version = 0;  // major * 10000 + minor * 100 + patch from 2.9 on
        if (a->get_version(&version) != kNcclSuccess || version < 21000) {
            reason = "NCCL " + std::to_string(version) +
                     " is too old: tensor parallelism needs 2.10 or newer (bf16 collectives)";
            return nullptr;
        }
        return a;
    }();
    if (!api && why) *why = reason;
    return api;
}

}  // namespace

#define NCCL_CHECK(call)                                                                  \
    do {                                                                                  \
        const int nccl_result_ = (call);                                                  \
        CHECK(nccl_result_ == kNcclSuccess)                                               \
            << "NCCL error " << nccl_result_ << ": " << api_->error_string(nccl_result_); \
    } while (0)

Result<std::unique_ptr<Collectives>> Collectives::create(const std::vector<int>& devices) {
    std::string why;
    const Api* api = load_api(&why);
    if (!api) return Error{why};
    setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
    std::unique_ptr<Collectives> c(new Collectives);
    c->api_ = api;
    c->comms_.assign(devices.size(), nullptr);
    int current = 0;
    CUDA_CHECK(cudaGetDevice(&current));
    const int r =
        api->comm_init_all(c->comms_.data(), static_cast<int>(devices.size()), devices.data());
    CUDA_CHECK(cudaSetDevice(current));
    if (r != kNcclSuccess) {
        c->comms_.clear();
        return Error{std::string("NCCL could not join the GPUs: ") + api->error_string(r)};
    }
    return c;
}

Collectives::~Collectives() {
    for (void* comm : comms_)
        if (comm) api_->comm_destroy(comm);
}

void Collectives::all_reduce_sum_f32(int rank, float* data, int64_t count, cudaStream_t stream) {
    NCCL_CHECK(api_->all_reduce(data, data, static_cast<size_t>(count), kNcclFloat32, kNcclSum,
                                comms_[static_cast<size_t>(rank)], stream));
}

void Collectives::all_reduce_sum_bf16(int rank, void* data, int64_t count, cudaStream_t stream) {
    NCCL_CHECK(api_->all_reduce(data, data, static_cast<size_t>(count), kNcclBfloat16, kNcclSum,
                                comms_[static_cast<size_t>(rank)], stream));
}

void Collectives::all_gather_f32(int rank, const float* part, float* out, int64_t count,
                                 cudaStream_t stream) {
    NCCL_CHECK(api_->all_gather(part, out, static_cast<size_t>(count), kNcclFloat32,
                                comms_[static_cast<size_t>(rank)], stream));
}

}  // namespace autoglm::cuda
