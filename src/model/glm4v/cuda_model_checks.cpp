// What the CUDA backend supports of a model and its options, checked before anything is
// allocated (CudaGlm4vModel::create): device, head shapes, and the FP8 modes' hardware and widths.
#include <string>

#include "core/cuda_check.h"
#include "model/glm4v/cuda_model.h"
#include "model/glm4v/cuda_model_internal.h"

static_assert(autoglm::kFp8VisionMaxMlpWidth == autoglm::cuda::kSiluMulFp8MaxWidth,
              "fp8_vision_fits's MLP limit is the FP8 SwiGLU kernel's");

namespace autoglm::detail {
namespace {

// FP8 tensor cores (sm_89 or newer) on the device, or why not; `what` names the mode.
Status fp8_tensor_cores(int device, const std::string& what) {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    if (prop.major * 10 + prop.minor >= 89) return {};
    return Error{what + " need" + (what.back() == 's' ? "" : "s") +
                 " FP8 tensor cores (compute capability 8.9 or newer); " + prop.name + " is " +
                 std::to_string(prop.major) + "." + std::to_string(prop.minor)};
}

}  // namespace

Status check_cuda_support(const Glm4vModel& host, const CudaModelOptions& options) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count <= options.device)
        return Error{"no CUDA device " + std::to_string(options.device) + " (" +
                     std::to_string(count) + " found)"};
    const auto& t = host.config().text;
    if (t.head_dim() != 16 && t.head_dim() != 32 && t.head_dim() != 64 && t.head_dim() != 128)
        return Error{"the CUDA backend is built for head_dim 16/32/64/128, the model has " +
                     std::to_string(t.head_dim())};
    if (t.num_attention_heads / t.num_key_value_heads > 16)
        return Error{"the CUDA backend supports GQA groups up to 16"};
    if (t.rotary_dim() / 2 > cuda::MropeParams::kMaxPairs)
        return Error{"rotary dims exceed the CUDA backend's limit"};
    if (options.fp8_weights) {
        if (Status s = fp8_tensor_cores(options.device, "FP8 weights"); !s) return s;
        const int64_t H = t.hidden_size, I = t.intermediate_size;
        const int64_t q = t.num_attention_heads * t.head_dim();
        if (H % 16 != 0 || I % 16 != 0 || q % 16 != 0)
            return Error{
                "FP8 weights need hidden, intermediate and attention widths that are "
                "multiples of 16"};
    }
    if (options.fp8_vision) {
        if (Status s = fp8_tensor_cores(options.device, "an FP8 vision tower"); !s) return s;
        if (!fp8_vision_fits(host.config().vision))
            return Error{
                "an FP8 vision tower needs hidden and MLP widths that are multiples of "
                "16 (hidden at most 8192, MLP at most " +
                std::to_string(cuda::kSiluMulFp8MaxWidth) + ")"};
    }
    return {};
}

}  // namespace autoglm::detail
