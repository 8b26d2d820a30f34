// Dummy weights: counter-based random numbers (splitmix64 of seed, name hash and index), so
// filling is parallel and reproducible. Scales keep activations near unit variance.
#include "loader/dummy.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/parallel.h"

namespace autoglm {
namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

// Uniform in [-1, 1).
float uniform_pm1(uint64_t key, uint64_t index) {
    const uint64_t r = splitmix64(key ^ splitmix64(index));
    return static_cast<float>(static_cast<double>(r >> 40) * (1.0 / 8388608.0) - 1.0);
}

}  // namespace

DummyWeights::DummyWeights(uint64_t seed, DType dtype) : seed_(seed), dtype_(dtype) {
    CHECK(dtype == DType::kBF16 || dtype == DType::kF32) << "dummy weights are BF16 or F32";
}

Result<TensorView> DummyWeights::get(const TensorRequest& request) {
    const int64_t numel = shape_numel(request.shape);
    const size_t nbytes = static_cast<size_t>(numel) * dtype_size(dtype_);
    std::unique_ptr<uint64_t[]> buffer(new (std::nothrow) uint64_t[(nbytes + 7) / 8]);
    if (!buffer)
        return Error{"dummy weights: out of host memory allocating '" + request.name + "' (" +
                     std::to_string(nbytes) + " bytes)"};
    const int64_t fan_in = request.shape.size() > 1 ? numel / request.shape[0] : 1;
    float scale = 0.0f;
    float offset = 0.0f;
    switch (request.init) {
        // Uniform[-a, a] has variance a^2/3: a = sqrt(3/fan_in) keeps unit-variance activations.
        case WeightInit::kLinear:
            scale = std::sqrt(3.0f / static_cast<float>(fan_in));
            break;
        case WeightInit::kEmbedding:
            scale = 1.0f;
            break;
        case WeightInit::kNorm:
            offset = 1.0f, scale = 0.1f;
            break;
        case WeightInit::kBias:
            scale = 0.1f;
            break;
    }
    const uint64_t key = splitmix64(seed_) ^ fnv1a(request.name);
    void* data = buffer.get();
    const DType dtype = dtype_;
    parallel_for(
        numel,
        [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
                const float v = offset + scale * uniform_pm1(key, static_cast<uint64_t>(i));
                if (dtype == DType::kBF16) {
                    static_cast<uint16_t*>(data)[i] = f32_to_bf16(v);
                } else {
                    static_cast<float*>(data)[i] = v;
                }
            }
        },
        1 << 16);
    buffers_.push_back(std::move(buffer));
    return TensorView{dtype_, request.shape, data};
}

std::string DummyWeights::describe() const {
    std::ostringstream ss;
    ss << "dummy " << dtype_name(dtype_) << " weights (seed " << seed_ << ")";
    return ss.str();
}

uint64_t host_memory_available() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t value = 0;
    std::string unit;
    while (in >> key >> value) {
        std::getline(in, unit);
        if (key == "MemAvailable:") return value * 1024;
    }
    return 0;
}

}  // namespace autoglm
