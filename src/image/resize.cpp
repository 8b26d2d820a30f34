// Antialiased bicubic resize (see resize.h for the exact arithmetic it reproduces).
#include "image/resize.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace autoglm {
namespace {

// Keys cubic convolution kernel with a = -0.5 (PIL's and torch's antialiased bicubic), written in
// the same operation order as ATen so the double results agree bit for bit.
double keys_cubic(double x) {
    constexpr double a = -0.5;
    x = std::abs(x);
    if (x < 1.0) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2.0) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0.0;
}

inline uint8_t clamp_u8(int32_t v) {
    return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

// Weights of one output sample (in double, normalised); returns the largest.
double output_weights(const ResampleAxis& axis, int64_t i, double scale, double support,
                      double* w) {
    const double center = scale * (static_cast<double>(i) + 0.5);
    const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), int64_t{0});
    int64_t xsize = std::min(static_cast<int64_t>(center + support + 0.5), axis.in_size) - xmin;
    xsize = std::clamp(xsize, int64_t{0}, axis.max_taps);
    double total = 0.0;
    for (int64_t j = 0; j < xsize; ++j) {
        w[j] = keys_cubic((static_cast<double>(j + xmin) - center + 0.5) * invscale);
        total += w[j];
    }
    double wt_max = 0.0;
    if (total != 0.0) {
        for (int64_t j = 0; j < xsize; ++j) {
            w[j] /= total;
            wt_max = std::max(wt_max, w[j]);
        }
    }
    for (int64_t j = xsize; j < axis.max_taps; ++j) w[j] = 0.0;
    return wt_max;
}

// One row of the horizontal pass, each output with its own tap count.
void horizontal_row_variable(const uint8_t* in, const ResampleAxis& ax, uint8_t* out) {
    const int32_t half = 1 << (ax.precision - 1);
    for (int64_t x = 0; x < ax.out_size; ++x, out += 3) {
        const uint8_t* p = in + static_cast<int64_t>(ax.start[x]) * 3;
        const int16_t* w = ax.weights.data() + x * ax.max_taps;
        int32_t r = half, g = half, b = half;
        for (int32_t k = 0; k < ax.count[x]; ++k, p += 3) {
            r += p[0] * w[k];
            g += p[1] * w[k];
            b += p[2] * w[k];
        }
        out[0] = clamp_u8(r >> ax.precision);
        out[1] = clamp_u8(g >> ax.precision);
        out[2] = clamp_u8(b >> ax.precision);
    }
}

// One row of the horizontal pass with exactly T taps per output (see pad_to_fixed_taps).
template <int T>
void horizontal_row(const uint8_t* in, const ResampleAxis& ax, uint8_t* out) {
    const int32_t half = 1 << (ax.precision - 1);
    const int shift = ax.precision;
    const int16_t* w = ax.weights.data();
    const int taps = T > 0 ? T : static_cast<int>(ax.max_taps);
    for (int64_t x = 0; x < ax.out_size; ++x, out += 3, w += ax.max_taps) {
        const uint8_t* p = in + static_cast<int64_t>(ax.start[x]) * 3;
        int32_t r = half, g = half, b = half;
        for (int k = 0; k < taps; ++k, p += 3) {
            r += p[0] * w[k];
            g += p[1] * w[k];
            b += p[2] * w[k];
        }
        out[0] = clamp_u8(r >> shift);
        out[1] = clamp_u8(g >> shift);
        out[2] = clamp_u8(b >> shift);
    }
}

// Gives every output exactly max_taps taps by moving windows that stop short of max_taps away
// from the border and shifting their weights (the extra taps weigh 0: the sums are unchanged).
ResampleAxis pad_to_fixed_taps(ResampleAxis ax) {
    for (int64_t x = 0; x < ax.out_size; ++x) {
        const int64_t start = std::min<int64_t>(ax.start[x], ax.in_size - ax.max_taps);
        const int64_t shift = ax.start[x] - start;
        int16_t* w = ax.weights.data() + x * ax.max_taps;
        for (int64_t k = ax.max_taps - 1; k >= 0; --k)
            w[k] = k - shift >= 0 && k - shift < ax.count[x] ? w[k - shift] : 0;
        ax.start[x] = static_cast<int32_t>(start);
        ax.count[x] = static_cast<int32_t>(ax.max_taps);
    }
    return ax;
}

void horizontal_rows(const RgbImage& src, const ResampleAxis& ax, bool fixed, int64_t y0,
                     int64_t y1, RgbImage& dst) {
    for (int64_t y = y0; y < y1; ++y) {
        const uint8_t* in = src.row(y);
        uint8_t* out = dst.row(y);
        if (!fixed) {
            horizontal_row_variable(in, ax, out);
            continue;
        }
        switch (ax.max_taps) {
            case 5:
                horizontal_row<5>(in, ax, out);
                break;
            case 7:
                horizontal_row<7>(in, ax, out);
                break;
            case 9:
                horizontal_row<9>(in, ax, out);
                break;
            case 11:
                horizontal_row<11>(in, ax, out);
                break;
            default:
                horizontal_row<0>(in, ax, out);
                break;
        }
    }
}

// Rows are independent in both passes: they are split over the worker pool (the same
// arithmetic per row, so the result does not depend on the split).
constexpr int64_t kRowsPerChunk = 32;

void horizontal_pass(const RgbImage& src, const ResampleAxis& plan, RgbImage& dst) {
    const bool fixed = plan.in_size >= plan.max_taps;
    const ResampleAxis ax = fixed ? pad_to_fixed_taps(plan) : plan;
    parallel_for(
        src.height, [&](int64_t y0, int64_t y1) { horizontal_rows(src, ax, fixed, y0, y1, dst); },
        kRowsPerChunk);
}

void vertical_rows(const RgbImage& src, const ResampleAxis& ax, int64_t y0, int64_t y1,
                   RgbImage& dst) {
    const int64_t n = src.width * 3;
    const int32_t half = 1 << (ax.precision - 1);
    const int shift = ax.precision;
    std::vector<int32_t> acc(static_cast<size_t>(n));
    for (int64_t y = y0; y < y1; ++y) {
        std::fill(acc.begin(), acc.end(), half);
        const int16_t* w = ax.weights.data() + y * ax.max_taps;
        for (int32_t k = 0; k < ax.count[y]; ++k) {
            const uint8_t* in = src.row(ax.start[y] + k);
            const int32_t wk = w[k];
            for (int64_t i = 0; i < n; ++i) acc[i] += in[i] * wk;
        }
        uint8_t* out = dst.row(y);
        for (int64_t i = 0; i < n; ++i) out[i] = clamp_u8(acc[i] >> shift);
    }
}

void vertical_pass(const RgbImage& src, const ResampleAxis& ax, RgbImage& dst) {
    parallel_for(
        ax.out_size, [&](int64_t y0, int64_t y1) { vertical_rows(src, ax, y0, y1, dst); },
        kRowsPerChunk);
}

}  // namespace

ResampleAxis make_bicubic_aa_axis(int64_t in_size, int64_t out_size) {
    CHECK(in_size > 0 && out_size > 0);
    ResampleAxis axis;
    axis.in_size = in_size;
    axis.out_size = out_size;
    const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
    const double support = scale >= 1.0 ? 2.0 * scale : 2.0;  // interp_size 4 * 0.5
    axis.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
    std::vector<double> w(static_cast<size_t>(out_size * axis.max_taps));
    double wt_max = 0.0;
    for (int64_t i = 0; i < out_size; ++i)
        wt_max = std::max(wt_max, output_weights(axis, i, scale, support, &w[i * axis.max_taps]));
    int p = 0;
    for (; p < 22; ++p)
        if (static_cast<int>(0.5 + wt_max * (1 << (p + 1))) >= (1 << 15)) break;
    axis.precision = p;
    axis.weights.resize(w.size());
    for (size_t k = 0; k < w.size(); ++k) {
        const double v = w[k] * (1 << p);
        axis.weights[k] =
            static_cast<int16_t>(v < 0 ? static_cast<int>(-0.5 + v) : static_cast<int>(0.5 + v));
    }
    axis.start.resize(static_cast<size_t>(out_size));
    axis.count.resize(static_cast<size_t>(out_size));
    for (int64_t i = 0; i < out_size; ++i) {
        const double center = scale * (static_cast<double>(i) + 0.5);
        const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), int64_t{0});
        const int64_t xend = std::min(static_cast<int64_t>(center + support + 0.5), in_size);
        axis.start[i] = static_cast<int32_t>(xmin);
        axis.count[i] = static_cast<int32_t>(std::clamp(xend - xmin, int64_t{0}, axis.max_taps));
    }
    return axis;
}

void resize_bicubic_aa_into(const RgbImage& src, int64_t out_width, int64_t out_height,
                            RgbImage& tmp, RgbImage& dst) {
    CHECK(src.width > 0 && src.height > 0 && out_width > 0 && out_height > 0);
    CHECK(&src != &dst && &tmp != &dst && &tmp != &src);
    if (out_width == src.width && out_height == src.height) {
        dst = src;
        return;
    }
    const RgbImage* current = &src;
    if (out_width != src.width) {
        RgbImage& target = out_height == src.height ? dst : tmp;
        target.reshape(out_width, src.height);
        horizontal_pass(src, make_bicubic_aa_axis(src.width, out_width), target);
        if (out_height == src.height) return;
        current = &tmp;
    }
    dst.reshape(out_width, out_height);
    vertical_pass(*current, make_bicubic_aa_axis(src.height, out_height), dst);
}

RgbImage resize_bicubic_aa(const RgbImage& src, int64_t out_width, int64_t out_height) {
    RgbImage tmp, dst;
    resize_bicubic_aa_into(src, out_width, out_height, tmp, dst);
    return dst;
}

}  // namespace autoglm
