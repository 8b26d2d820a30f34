// Antialiased bicubic resize: the resampling plan's shape, identity and constant images, and
// agreement within 1 LSB with a straightforward double-precision evaluation of the same filter.
// (Bit-exactness against torchvision is checked by tests/model/image_processor_test.cpp goldens.)
#include "image/resize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace autoglm {
namespace {

RgbImage noise_image(int64_t w, int64_t h, uint32_t seed) {
    RgbImage im = RgbImage::zeros(w, h);
    std::mt19937 gen(seed);
    for (auto& v : im.pixels) v = static_cast<uint8_t>(gen());
    return im;
}

double keys(double x) {
    x = std::abs(x);
    if (x < 1) return 1.5 * x * x * x - 2.5 * x * x + 1;
    if (x < 2) return -0.5 * x * x * x + 2.5 * x * x - 4 * x + 2;
    return 0;
}

// One axis of the reference filter, in double: out[i] = sum_j w_ij in[j].
std::vector<std::vector<double>> reference_weights(int64_t in, int64_t out) {
    const double scale = static_cast<double>(in) / static_cast<double>(out);
    const double support = 2 * std::max(scale, 1.0);
    std::vector<std::vector<double>> w(static_cast<size_t>(out), std::vector<double>(in, 0.0));
    for (int64_t i = 0; i < out; ++i) {
        const double center = scale * (i + 0.5);
        double total = 0;
        for (int64_t j = 0; j < in; ++j) {
            if (j + 0.5 < center - support || j + 0.5 > center + support) continue;
            w[i][j] = keys((j + 0.5 - center) / std::max(scale, 1.0));
            total += w[i][j];
        }
        for (auto& v : w[i]) v /= total;
    }
    return w;
}

TEST(Resize, AxisPlanShape) {
    const ResampleAxis down = make_bicubic_aa_axis(2400, 1092);
    EXPECT_EQ(down.max_taps, 11);  // ceil(2 * 2400/1092) * 2 + 1
    const ResampleAxis up = make_bicubic_aa_axis(30, 56);
    EXPECT_EQ(up.max_taps, 5);
    for (const ResampleAxis* ax : {&down, &up}) {
        EXPECT_GT(ax->precision, 10);
        for (int64_t i = 0; i < ax->out_size; ++i) {
            int sum = 0;
            for (int64_t k = 0; k < ax->count[i]; ++k) sum += ax->weights[i * ax->max_taps + k];
            EXPECT_NEAR(sum, 1 << ax->precision, 8) << i;
            EXPECT_GE(ax->start[i], 0);
            EXPECT_LE(ax->start[i] + ax->count[i], ax->in_size);
        }
    }
}

TEST(Resize, SameSizeIsIdentityAndConstantsStayConstant) {
    const RgbImage im = noise_image(17, 9, 1);
    EXPECT_EQ(resize_bicubic_aa(im, 17, 9).pixels, im.pixels);
    RgbImage flat = RgbImage::zeros(50, 31);
    for (auto& v : flat.pixels) v = 200;
    for (auto [w, h] : {std::pair{23, 31}, {50, 77}, {7, 5}, {101, 13}}) {
        const RgbImage out = resize_bicubic_aa(flat, w, h);
        for (uint8_t v : out.pixels) ASSERT_NEAR(v, 200, 1) << w << "x" << h;
    }
}

TEST(Resize, MatchesDoubleReferenceWithinOneLsb) {
    const RgbImage im = noise_image(41, 29, 7);
    for (auto [w, h] : {std::pair{19, 13}, {56, 84}, {41, 11}, {28, 29}}) {
        const auto wx = reference_weights(im.width, w), wy = reference_weights(im.height, h);
        const RgbImage got = resize_bicubic_aa(im, w, h);
        // Horizontal pass with uint8 rounding in between, as the kernel does.
        std::vector<double> mid(static_cast<size_t>(im.height * w * 3));
        for (int64_t y = 0; y < im.height; ++y)
            for (int64_t x = 0; x < w; ++x)
                for (int c = 0; c < 3; ++c) {
                    double s = 0;
                    for (int64_t j = 0; j < im.width; ++j) s += wx[x][j] * im.row(y)[j * 3 + c];
                    mid[(y * w + x) * 3 + c] = w == im.width
                                                   ? im.row(y)[x * 3 + c]
                                                   : std::clamp(std::round(s), 0.0, 255.0);
                }
        int max_diff = 0;
        for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x)
                for (int c = 0; c < 3; ++c) {
                    double s = 0;
                    for (int64_t j = 0; j < im.height; ++j)
                        s += wy[y][j] * mid[(j * w + x) * 3 + c];
                    const double want = h == im.height ? mid[(y * w + x) * 3 + c]
                                                       : std::clamp(std::round(s), 0.0, 255.0);
                    max_diff = std::max(max_diff, std::abs(got.row(y)[x * 3 + c] - int(want)));
                }
        EXPECT_LE(max_diff, 1) << w << "x" << h;
    }
}

}  // namespace
}  // namespace autoglm
