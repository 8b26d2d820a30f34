// Element types of checkpoint tensors and their conversions to/from f32.
// bf16 and f16 are stored as uint16_t bit patterns; conversions round to nearest even.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace autoglm {

// kF8E4M3: FP8 e4m3 ("F8_E4M3" in safetensors; the e4m3 helpers below), as FP8 checkpoints
// store linear weights.
enum class DType { kF32, kF16, kBF16, kI64, kI32, kU8, kF8E4M3 };

size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);  // safetensors spelling: "F32", "BF16", ...
std::optional<DType> dtype_from_name(std::string_view name);

inline float bf16_to_f32(uint16_t bits) {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, sizeof(f));
    return f;
}

inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
    return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float f);

// FP8 e4m3 as one byte (the OCP "e4m3fn" format of Hopper and Ada's tensor cores: bias 7, no
// infinities, 0x7f / 0xff NaN, largest finite ±448). f32 -> e4m3 rounds to nearest even and
// saturates to ±448, as the GPU's satfinite conversion does.
float e4m3_to_f32(uint8_t bits);
uint8_t f32_to_e4m3_sat(float f);

// Converts `count` elements of a float dtype (F32/F16/BF16) to f32. `src` may be unaligned.
void to_f32(DType dtype, const void* src, float* dst, size_t count);

}  // namespace autoglm
