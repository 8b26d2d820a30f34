// The PNG fast path against libpng: every row filter, RGB and RGBA (both alpha modes), odd sizes,
// split IDATs, ancillary chunks; and the inputs it must hand to libpng (bad CRC, bad filter,
// other depths, no IEND) giving exactly libpng's answer through decode_png.
#include "image/png_fast.h"

#include <gtest/gtest.h>
#include <libdeflate.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "image/image.h"

namespace autoglm {
namespace {

void put32(std::string& out, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((v >> s) & 0xff);
}

void chunk(std::string& out, const char* type, const std::string& body) {
    put32(out, static_cast<uint32_t>(body.size()));
    const std::string typed = std::string(type, 4) + body;
    out += typed;
    put32(out, libdeflate_crc32(0, typed.data(), typed.size()));
}

int paeth(int a, int b, int c) {
    const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

struct PngSpec {
    uint32_t width = 7, height = 5;
    int channels = 3;           // 3 = colour type 2, 4 = colour type 6
    int filter = -1;            // every row's filter type; -1: row y uses y % 5
    int depth = 8;              // written into IHDR only
    int interlace = 0;          // written into IHDR only
    size_t idat_split = 0;      // > 0: IDAT chunks of this many bytes
    bool extra_chunks = false;  // tEXt and tRNS before the data
    bool iend = true;
};

// A PNG written by hand from `pixels` [height][width * channels], filtering each row as told.
std::string write_png(const PngSpec& spec, const std::vector<uint8_t>& pixels) {
    const size_t stride = size_t{spec.width} * static_cast<size_t>(spec.channels);
    const int bpp = spec.channels;
    std::string raw;
    for (uint32_t y = 0; y < spec.height; ++y) {
        const int f = spec.filter >= 0 ? spec.filter : static_cast<int>(y % 5);
        raw += static_cast<char>(f);
        const uint8_t* row = pixels.data() + y * stride;
        for (size_t i = 0; i < stride; ++i) {
            const int a = i >= static_cast<size_t>(bpp) ? row[i - bpp] : 0;
            const int b = y > 0 ? row[i - stride] : 0;
            const int c = y > 0 && i >= static_cast<size_t>(bpp) ? row[i - stride - bpp] : 0;
            const int pred = f == 0   ? 0
                             : f == 1 ? a
                             : f == 2 ? b
                             : f == 3 ? (a + b) / 2
                             : f == 4 ? paeth(a, b, c)
                                      : 0;
            raw += static_cast<char>((row[i] - pred) & 0xff);
        }
    }
    libdeflate_compressor* comp = libdeflate_alloc_compressor(6);
    std::string z(libdeflate_zlib_compress_bound(comp, raw.size()), '\0');
    z.resize(libdeflate_zlib_compress(comp, raw.data(), raw.size(), z.data(), z.size()));
    libdeflate_free_compressor(comp);
    std::string png("\x89PNG\r\n\x1a\n", 8), ihdr;
    put32(ihdr, spec.width);
    put32(ihdr, spec.height);
    ihdr += static_cast<char>(spec.depth);
    ihdr += static_cast<char>(spec.channels == 3 ? 2 : 6);
    ihdr += std::string("\0\0", 2);
    ihdr += static_cast<char>(spec.interlace);
    chunk(png, "IHDR", ihdr);
    if (spec.extra_chunks) {
        chunk(png, "tEXt", std::string("Software\0test", 13));
        if (spec.channels == 3) chunk(png, "tRNS", std::string("\0\1\0\2\0\3", 6));
    }
    const size_t step = spec.idat_split ? spec.idat_split : z.size();
    for (size_t at = 0; at < z.size(); at += step) chunk(png, "IDAT", z.substr(at, step));
    if (spec.iend) chunk(png, "IEND", "");
    return png;
}

std::vector<uint8_t> random_pixels(const PngSpec& spec, uint32_t seed) {
    std::mt19937 gen(seed);
    std::vector<uint8_t> v(size_t{spec.width} * spec.height * spec.channels);
    for (auto& x : v) x = static_cast<uint8_t>(gen() & 0xff);
    if (spec.channels == 4)  // some opaque and some clear pixels besides the random alphas
        for (size_t i = 3; i < v.size(); i += 12) v[i] = i % 24 == 3 ? 255 : 0;
    return v;
}

const uint8_t* bytes(const std::string& s) {
    return reinterpret_cast<const uint8_t*>(s.data());
}

// The fast path takes it (or not, as expected), and decode_png's answer equals libpng's alone.
void expect_same(const std::string& png, bool fast_takes_it, const DecodeOptions& options = {}) {
    RgbImage fast, slow, via;
    EXPECT_EQ(decode_png_fast(bytes(png), png.size(), options, fast), fast_takes_it);
    const Status s_slow = decode_png_libpng_into(bytes(png), png.size(), options, slow);
    const Status s_via = decode_png_into(bytes(png), png.size(), options, via);
    ASSERT_EQ(s_via.ok(), s_slow.ok()) << s_via.error_message() << " / " << s_slow.error_message();
    EXPECT_EQ(s_via.error_message(), s_slow.error_message());
    if (!s_slow.ok()) return;
    EXPECT_EQ(via.width, slow.width);
    EXPECT_EQ(via.height, slow.height);
    EXPECT_EQ(via.pixels, slow.pixels);
    if (fast_takes_it) {
        EXPECT_EQ(fast.pixels, slow.pixels);
    }
}

TEST(PngFast, EveryFilterEveryShapeEqualsLibpng) {
    for (int channels : {3, 4})
        for (int filter : {-1, 0, 1, 2, 3, 4})
            for (uint32_t w : {1u, 2u, 7u, 33u})
                for (uint32_t h : {1u, 6u}) {
                    PngSpec spec;
                    spec.width = w, spec.height = h, spec.channels = channels, spec.filter = filter;
                    SCOPED_TRACE(std::to_string(channels) + " channels, filter " +
                                 std::to_string(filter) + ", " + std::to_string(w) + "x" +
                                 std::to_string(h));
                    const std::string png = write_png(spec, random_pixels(spec, w * 31 + h));
                    expect_same(png, true);
                    DecodeOptions white;
                    white.alpha = AlphaMode::kCompositeOnWhite;
                    expect_same(png, true, white);
                }
}

TEST(PngFast, SplitDataAndAncillaryChunks) {
    PngSpec spec;
    spec.width = 40, spec.height = 9, spec.idat_split = 7, spec.extra_chunks = true;
    expect_same(write_png(spec, random_pixels(spec, 1)), true);
    spec.channels = 4;
    expect_same(write_png(spec, random_pixels(spec, 2)), true);
}

TEST(PngFast, ARealScreenshotFile) {
    const std::string path = std::string(AUTOGLM_TEST_DATA_DIR) + "/images/phone.png";
    FILE* f = std::fopen(path.c_str(), "rb");
    ASSERT_NE(f, nullptr) << path;
    std::string png;
    char buf[65536];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) png.append(buf, n);
    std::fclose(f);
    expect_same(png, true);
}

TEST(PngFast, LeavesEverythingElseToLibpng) {
    PngSpec spec;
    spec.width = 9, spec.height = 4;
    const auto pixels = random_pixels(spec, 3);
    std::string png = write_png(spec, pixels);
    // A corrupted byte inside the data: the IDAT CRC no longer matches (libpng: an error).
    std::string bad_crc = png;
    bad_crc[bad_crc.find("IDAT") + 6] ^= 0x40;
    expect_same(bad_crc, false);
    // An unknown filter type: libpng's error.
    PngSpec bad_filter = spec;
    bad_filter.filter = 5;
    expect_same(write_png(bad_filter, pixels), false);
    // Other depths and interlacing are libpng's (here they fail there too: the data is 8-bit).
    PngSpec deep = spec;
    deep.depth = 16;
    expect_same(write_png(deep, pixels), false);
    PngSpec interlaced = spec;
    interlaced.interlace = 1;
    expect_same(write_png(interlaced, pixels), false);
    // No IEND: libpng still reads every row.
    PngSpec cut = spec;
    cut.iend = false;
    expect_same(write_png(cut, pixels), false);
    // Truncated inside the data stream.
    expect_same(png.substr(0, png.size() / 2), false);
}

}  // namespace
}  // namespace autoglm
