// dtype names, sizes and the f16 conversions (bf16 ones are inline in dtype.h).
#include "core/dtype.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"

namespace autoglm {

size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::kF32:
            return 4;
        case DType::kF16:
            return 2;
        case DType::kBF16:
            return 2;
        case DType::kI64:
            return 8;
        case DType::kI32:
            return 4;
        case DType::kU8:
        case DType::kF8E4M3:
            return 1;
    }
    return 0;
}

std::string_view dtype_name(DType dtype) {
    switch (dtype) {
        case DType::kF32:
            return "F32";
        case DType::kF16:
            return "F16";
        case DType::kBF16:
            return "BF16";
        case DType::kI64:
            return "I64";
        case DType::kI32:
            return "I32";
        case DType::kU8:
            return "U8";
        case DType::kF8E4M3:
            return "F8_E4M3";
    }
    return "?";
}

std::optional<DType> dtype_from_name(std::string_view name) {
    if (name == "F32") return DType::kF32;
    if (name == "F16") return DType::kF16;
    if (name == "BF16") return DType::kBF16;
    if (name == "I64") return DType::kI64;
    if (name == "I32") return DType::kI32;
    if (name == "U8") return DType::kU8;
    if (name == "F8_E4M3") return DType::kF8E4M3;
    return std::nullopt;
}

float e4m3_to_f32(uint8_t bits) {
    const int exp = (bits >> 3) & 0xf, mant = bits & 7;
    const float sign = (bits & 0x80) ? -1.0f : 1.0f;
    if (exp == 0xf && mant == 7) return std::numeric_limits<float>::quiet_NaN();
    if (exp == 0) return sign * std::ldexp(static_cast<float>(mant), -9);
    return sign * std::ldexp(static_cast<float>(8 + mant), exp - 10);
}

uint8_t f32_to_e4m3_sat(float f) {
    const uint8_t sign = std::signbit(f) ? 0x80 : 0;
    if (std::isnan(f)) return static_cast<uint8_t>(sign | 0x7f);
    const float a = std::fabs(f);
    if (a >= 448.0f) return static_cast<uint8_t>(sign | 0x7e);
    if (a < std::ldexp(1.0f, -6))  // subnormal steps of 2^-9; 8 steps is the smallest normal
        return static_cast<uint8_t>(sign | static_cast<int>(std::nearbyint(std::ldexp(a, 9))));
    int exp = 0;
    (void)std::frexp(a, &exp);  // a = m * 2^exp, m in [0.5, 1)
    exp -= 1;                   // a in [2^exp, 2^(exp+1))
    auto r = static_cast<int>(std::nearbyint(std::ldexp(a, 3 - exp)));  // 8..16
    if (r == 16) r = 8, ++exp;
    const int code = ((exp + 7) << 3) | (r - 8);
    return static_cast<uint8_t>(sign | std::min(code, 0x7e));
}

float f16_to_f32(uint16_t bits) {
    const uint32_t sign = (bits >> 15) & 1u;
    const uint32_t exponent = (bits >> 10) & 0x1fu;
    const uint32_t mantissa = bits & 0x3ffu;
    float value;
    if (exponent == 0) {
        value = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal
    } else if (exponent == 31) {
        value = mantissa ? NAN : INFINITY;
    } else {
        value = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
    }
    return sign ? -value : value;
}

uint16_t f32_to_f16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof(u));
    const uint32_t sign = (u >> 16) & 0x8000u;
    const uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
    if (abs < 0x38800000u) {  // subnormal or zero in f16: round to nearest even in units of 2^-24
        const float mag = std::fabs(f) * 16777216.0f;
        return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(mag)));
    }
    uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

void to_f32(DType dtype, const void* src, float* dst, size_t count) {
    const auto* bytes = static_cast<const unsigned char*>(src);
    switch (dtype) {
        case DType::kF32:
            std::memcpy(dst, src, count * sizeof(float));
            return;
        case DType::kBF16:
            for (size_t i = 0; i < count; ++i) {
                uint16_t b;
                std::memcpy(&b, bytes + 2 * i, 2);
                dst[i] = bf16_to_f32(b);
            }
            return;
        case DType::kF16:
            for (size_t i = 0; i < count; ++i) {
                uint16_t b;
                std::memcpy(&b, bytes + 2 * i, 2);
                dst[i] = f16_to_f32(b);
            }
            return;
        default:
            CHECK(false) << "to_f32: not a float dtype: " << dtype_name(dtype);
    }
}

}  // namespace autoglm
