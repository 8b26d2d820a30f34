// libFuzzer target for the safetensors header parser (build with -DAUTOGLM_FUZZ=ON and clang):
//   build/fuzz/tests/safetensors_fuzz tests/data/*/golden.safetensors -max_total_time=60
#include <cstddef>
#include <cstdint>

#include "loader/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto file = autoglm::SafetensorsFile::parse(data, size, "fuzz");
    if (!file.ok()) return 0;
    unsigned sum = 0;
    for (const auto& [name, entry] : file.value().entries()) {
        const autoglm::TensorView v = file.value().view(name);
        const auto* p = static_cast<const unsigned char*>(v.data);
        for (size_t i = 0; i < v.nbytes(); ++i) sum += p[i];
    }
    return static_cast<int>(sum & 0);
}
