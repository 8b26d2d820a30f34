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

TEST(DType, E4m3DecodesEveryCodeAndRoundsToNearestEvenWithSaturation) {
    EXPECT_EQ(e4m3_to_f32(0x00), 0.0f);
    EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
    EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
    EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
    EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
    EXPECT_EQ(e4m3_to_f32(0xfe), -448.0f);
    EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7f)));
    EXPECT_TRUE(std::isnan(e4m3_to_f32(0xff)));
    EXPECT_EQ(e4m3_to_f32(0x39), 1.125f);
    for (int code = 0; code < 256; ++code) {
        const auto b = static_cast<uint8_t>(code);
        if ((code & 0x7f) == 0x7f) continue;
        EXPECT_EQ(f32_to_e4m3_sat(e4m3_to_f32(b)), code == 0x80 ? 0x80 : b) << code;
        // Halfway to the next code up: ties go to the even code, just above goes up.
        if ((code & 0x7f) < 0x7e) {
            const float lo = e4m3_to_f32(b), hi = e4m3_to_f32(static_cast<uint8_t>(code + 1));
            const float mid = 0.5f * (lo + hi);
            EXPECT_EQ(f32_to_e4m3_sat(mid), (code & 1) ? code + 1 : code) << code;
            EXPECT_EQ(f32_to_e4m3_sat(std::nextafter(mid, 1e9f * (code & 0x80 ? -1 : 1))), code + 1)
                << code;
        }
    }
    EXPECT_EQ(f32_to_e4m3_sat(1.0625f), 0x38);  // 1 + 1/16: tie, to the even 1.0
    EXPECT_EQ(f32_to_e4m3_sat(1e6f), 0x7e);     // saturated, not NaN
    EXPECT_EQ(f32_to_e4m3_sat(-500.0f), 0xfe);
    EXPECT_EQ(f32_to_e4m3_sat(std::ldexp(1.0f, -11)), 0x00);  // a quarter step: to zero
    EXPECT_EQ(f32_to_e4m3_sat(std::ldexp(3.0f, -11)), 0x01);  // 0.75 of a step: up
    EXPECT_EQ(f32_to_e4m3_sat(std::ldexp(3.0f, -10)), 0x02);  // 1.5 steps: to the even 2
    EXPECT_EQ(f32_to_e4m3_sat(std::nanf("")) & 0x7f, 0x7f);
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
    for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kI64, DType::kI32, DType::kU8,
                    DType::kF8E4M3})
        EXPECT_EQ(dtype_from_name(dtype_name(d)), d);
    EXPECT_EQ(dtype_name(DType::kF8E4M3), "F8_E4M3");
    EXPECT_FALSE(dtype_from_name("F8_E5M2").has_value());
    EXPECT_EQ(dtype_size(DType::kBF16), 2u);
    EXPECT_EQ(dtype_size(DType::kF8E4M3), 1u);
}

}  // namespace
}  // namespace autoglm
