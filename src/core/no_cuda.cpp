// Device discovery for builds without CUDA.
#include "core/device_buffer.h"

namespace autoglm {

int cuda_device_count() {
    return 0;
}
std::string cuda_device_summary() {
    return "built without CUDA (AUTOGLM_CUDA=OFF)";
}

}  // namespace autoglm
