// PNG / JPEG decoding: every PNG colour type and bit depth (written here with libpng) decodes to
// the RGB PIL would give; JPEG round trips; bad, truncated and oversized inputs give clear errors.
#include <gtest/gtest.h>

#include <random>

#include "image/codec_util.h"
#include "image/image.h"

namespace autoglm {
namespace {

using testing::encode_jpeg;
using testing::encode_png;
using testing::png_channels;
using testing::PngSpec;

const uint8_t* bytes(const std::string& s) {
    return reinterpret_cast<const uint8_t*>(s.data());
}

PngSpec random_png(int color_type, int bit_depth, bool interlace, uint32_t seed) {
    PngSpec spec;
    spec.width = 13;
    spec.height = 7;
    spec.color_type = color_type;
    spec.bit_depth = bit_depth;
    spec.interlace = interlace;
    std::mt19937 gen(seed);
    const int n = spec.width * spec.height * png_channels(color_type);
    const int levels = 1 << bit_depth;
    for (int i = 0; i < n; ++i) spec.samples.push_back(static_cast<uint16_t>(gen() % levels));
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        for (int i = 0; i < levels; ++i)
            spec.palette.push_back({static_cast<png_byte>(gen()), static_cast<png_byte>(gen()),
                                    static_cast<png_byte>(gen())});
        spec.trns = {0, 128};  // transparency PIL drops on convert("RGB")
    }
    return spec;
}

uint8_t on_white(uint32_t v, uint32_t a) {
    const uint32_t t = v * a + 255 * (255 - a) + 128;
    return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// What PIL's open + convert("RGB") (or vLLM's white compositing) gives for one pixel.
std::array<uint8_t, 3> expected_rgb(const PngSpec& s, int i, AlphaMode alpha) {
    const int n = png_channels(s.color_type);
    const uint16_t* p = s.samples.data() + static_cast<size_t>(i) * n;
    const int d = s.bit_depth;
    auto to8 = [&](uint16_t v) -> uint8_t {
        if (d == 16) return static_cast<uint8_t>(v >> 8);       // high byte
        return static_cast<uint8_t>(v * 255 / ((1 << d) - 1));  // bit replication
    };
    if (s.color_type == PNG_COLOR_TYPE_PALETTE) {
        const png_color c = s.palette[p[0]];
        return {c.red, c.green, c.blue};
    }
    std::array<uint8_t, 3> rgb{};
    if (n <= 2) {
        uint8_t g = to8(p[0]);
        if (n == 1 && d == 16) g = p[0] > 255 ? 255 : static_cast<uint8_t>(p[0]);  // PIL I;16 clip
        rgb = {g, g, g};
    } else {
        rgb = {to8(p[0]), to8(p[1]), to8(p[2])};
    }
    const bool rgba_in_pil = n == 4 || (n == 2 && d == 16);
    if (alpha == AlphaMode::kCompositeOnWhite && rgba_in_pil)
        for (auto& v : rgb) v = on_white(v, to8(p[n - 1]));
    return rgb;
}

void expect_decodes_like_pil(const PngSpec& spec, AlphaMode alpha, const std::string& label) {
    const std::string file = encode_png(spec);
    DecodeOptions options;
    options.alpha = alpha;
    auto image = decode_image(bytes(file), file.size(), options);
    ASSERT_TRUE(image.ok()) << label << ": " << image.error_message();
    ASSERT_EQ(image.value().width, spec.width) << label;
    ASSERT_EQ(image.value().height, spec.height) << label;
    int mismatches = 0;
    for (int i = 0; i < spec.width * spec.height; ++i) {
        const auto want = expected_rgb(spec, i, alpha);
        for (int c = 0; c < 3; ++c)
            mismatches += image.value().pixels[static_cast<size_t>(i) * 3 + c] != want[c];
    }
    EXPECT_EQ(mismatches, 0) << label;
}

TEST(PngDecode, EveryColorTypeAndBitDepth) {
    struct Kind {
        int color_type;
        std::vector<int> depths;
    };
    const std::vector<Kind> kinds = {{PNG_COLOR_TYPE_GRAY, {1, 2, 4, 8, 16}},
                                     {PNG_COLOR_TYPE_GRAY_ALPHA, {8, 16}},
                                     {PNG_COLOR_TYPE_RGB, {8, 16}},
                                     {PNG_COLOR_TYPE_RGB_ALPHA, {8, 16}},
                                     {PNG_COLOR_TYPE_PALETTE, {2, 4, 8}}};
    uint32_t seed = 1;
    int num_cases = 0;
    for (const Kind& k : kinds) {
        for (int depth : k.depths) {
            for (bool interlace : {false, true}) {
                for (AlphaMode alpha : {AlphaMode::kDrop, AlphaMode::kCompositeOnWhite}) {
                    const std::string label = "color type " + std::to_string(k.color_type) +
                                              " depth " + std::to_string(depth) +
                                              (interlace ? " interlaced" : "");
                    expect_decodes_like_pil(random_png(k.color_type, depth, interlace, seed++),
                                            alpha, label);
                    ++num_cases;
                }
            }
        }
    }
    EXPECT_EQ(num_cases, 56);
}

TEST(PngDecode, Grey16HighByteOption) {
    PngSpec spec = random_png(PNG_COLOR_TYPE_GRAY, 16, false, 99);
    const std::string file = encode_png(spec);
    DecodeOptions options;
    options.grey16_clip_like_pil = false;
    auto image = decode_png(bytes(file), file.size(), options);
    ASSERT_TRUE(image.ok()) << image.error_message();
    for (int i = 0; i < spec.width * spec.height; ++i)
        ASSERT_EQ(image.value().pixels[static_cast<size_t>(i) * 3], spec.samples[i] >> 8);
}

std::vector<uint8_t> smooth_rgb(int width, int height, int components) {
    std::vector<uint8_t> px;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < components; ++c)
                px.push_back(static_cast<uint8_t>(x + y * 2 + c * 40));
    return px;
}

TEST(JpegDecode, RoundTripsRgbGreyAndProgressive) {
    for (int components : {1, 3}) {
        for (bool progressive : {false, true}) {
            const int w = 64, h = 48;
            const auto px = smooth_rgb(w, h, components);
            const std::string file = encode_jpeg(px, w, h, components, 95, progressive);
            auto info = read_image_info(bytes(file), file.size());
            ASSERT_TRUE(info.ok()) << info.error_message();
            EXPECT_EQ(info.value().format, ImageFormat::kJpeg);
            EXPECT_EQ(info.value().width, w);
            EXPECT_EQ(info.value().height, h);
            auto image = decode_image(bytes(file), file.size());
            ASSERT_TRUE(image.ok()) << image.error_message();
            double sum_abs = 0;
            for (int i = 0; i < w * h; ++i)
                for (int c = 0; c < 3; ++c)
                    sum_abs += std::abs(
                        int{image.value().pixels[static_cast<size_t>(i) * 3 + c]} -
                        int{px[static_cast<size_t>(i) * components + (components == 3 ? c : 0)]});
            EXPECT_LT(sum_abs / (w * h * 3), 3.0) << components << " " << progressive;
        }
    }
}

}  // namespace
}  // namespace autoglm
