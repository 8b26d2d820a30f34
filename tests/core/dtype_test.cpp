// dtype conversions: exact values, round-to-nearest-even, specials.
#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace autoglm {
namespace {

TEST(DType, Bf16RoundTripsExactValues) {
    for (float v : {0.0f, 1.0f, -2.5f, 0.15625f, 65504.0f, -1e-3f}) {
        const float back = bf16_to_f32(f32_to_bf16(v));
        EXPECT_NEAR(back, v, std::fabs(v) * (1.0f / 128.0f)) << v;
    }
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
}

TEST(DType, Bf16RoundsToNearestEven) {
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
    EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256.0f), 0x3f80);
    // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to even.
    EXPECT_EQ(f32_to_bf16(1.0f + 3.0f / 256.0f), 0x3f82);
    EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256.0f + 1.0f / 4096.0f), 0x3f81);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(INFINITY)), INFINITY);
}

TEST(DType, F16Conversions) {
    EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
    EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);                   // overflow -> inf
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
    EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
    for (uint32_t bits = 0; bits < 0x7c00; bits += 7) {  // every 7th finite positive half
        const auto h = static_cast<uint16_t>(bits);
        EXPECT_EQ(f32_to_f16(f16_to_f32(h)), h) << bits;
    }
}

TEST(DType, ToF32HandlesUnalignedSources) {
    std::vector<unsigned char> bytes(1 + 3 * 2);
    const uint16_t vals[3] = {f32_to_bf16(1.5f), f32_to_bf16(-3.0f), f32_to_bf16(0.25f)};
    std::memcpy(bytes.data() + 1, vals, sizeof(vals));
    float out[3];
    to_f32(DType::kBF16, bytes.data() + 1, out, 3);
    EXPECT_EQ(out[0], 1.5f);
    EXPECT_EQ(out[1], -3.0f);
    EXPECT_EQ(out[2], 0.25f);
}

TEST(DType, Names) {
    for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kI64, DType::kI32, DType::kU8})
        EXPECT_EQ(dtype_from_name(dtype_name(d)), d);
    EXPECT_FALSE(dtype_from_name("F8_E4M3").has_value());
    EXPECT_EQ(dtype_size(DType::kBF16), 2u);
}

}  // namespace
}  // namespace autoglm
