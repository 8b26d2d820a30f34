// Decoder robustness: bad, truncated, corrupt and oversized inputs give clear errors, and a
// deterministic mutation loop over valid PNG / JPEG files never crashes (ASan build checks leaks).
#include <gtest/gtest.h>

#include <random>

#include "image/codec_util.h"
#include "image/image.h"

namespace autoglm {
namespace {

using testing::encode_jpeg;
using testing::encode_png;
using testing::fix_png_crcs;
using testing::PngSpec;

const uint8_t* bytes(const std::string& s) {
    return reinterpret_cast<const uint8_t*>(s.data());
}

std::string rgb_png(int width, int height, bool interlace) {
    PngSpec spec;
    spec.width = width;
    spec.height = height;
    spec.interlace = interlace;
    for (int i = 0; i < width * height * 3; ++i)
        spec.samples.push_back(static_cast<uint16_t>((i * 7) % 256));
    return encode_png(spec);
}

std::string rgb_jpeg(int width, int height, bool progressive) {
    std::vector<uint8_t> px;
    for (int i = 0; i < width * height * 3; ++i) px.push_back(static_cast<uint8_t>(i * 5));
    return encode_jpeg(px, width, height, 3, 90, progressive);
}

// Overwrites the IHDR width/height and repairs the CRC.
std::string with_png_size(std::string file, uint32_t width, uint32_t height) {
    for (int i = 0; i < 4; ++i) {
        file[16 + i] = static_cast<char>(width >> (24 - 8 * i));
        file[20 + i] = static_cast<char>(height >> (24 - 8 * i));
    }
    std::vector<uint8_t> b(file.begin(), file.end());
    fix_png_crcs(b, b.size());
    return std::string(b.begin(), b.end());
}

std::string decode_error(const std::string& file, const DecodeOptions& options = {}) {
    auto image = decode_image(bytes(file), file.size(), options);
    return image.ok() ? "<decoded>" : image.error_message();
}

void expect_error(const std::string& file, const std::string& expected, const char* label,
                  const DecodeOptions& options = {}) {
    const std::string got = decode_error(file, options);
    EXPECT_NE(got.find(expected), std::string::npos) << label << ": got '" << got << "'";
}

TEST(DecodeErrors, NotAnImage) {
    expect_error("", "unsupported image format", "empty");
    expect_error("GIF89a......", "unsupported image format", "gif");
    expect_error(std::string("\x89PNG\r\n\x1a\n", 8), "truncated before the IHDR", "magic only");
    expect_error("\xff\xd8\xff", "truncated before the frame header", "jpeg magic only");
}

TEST(DecodeErrors, OversizedHeadersAreRefusedBeforeDecoding) {
    const std::string png = rgb_png(16, 8, false);
    expect_error(with_png_size(png, 20000, 8), "exceeds the cap of 16384x16384", "wide png");
    expect_error(with_png_size(png, 9000, 9000), "exceeds the cap of 64000000 pixels", "big png");
    expect_error(with_png_size(png, 0, 8), "is empty", "zero width");
    DecodeOptions small;
    small.max_width = 10;
    expect_error(png, "exceeds the cap of 10x16384", "option cap", small);
    small = {};
    small.max_pixels = 100;
    expect_error(rgb_jpeg(16, 8, false), "exceeds the cap of 100 pixels", "jpeg cap", small);
    std::string jpeg = rgb_jpeg(16, 8, false);
    const size_t sof = jpeg.find("\xff\xc0");
    ASSERT_NE(sof, std::string::npos);
    jpeg[sof + 5] = jpeg[sof + 6] = '\x7f';  // height 32639
    expect_error(jpeg, "exceeds the cap", "jpeg header");
}

TEST(DecodeErrors, TruncatedFiles) {
    for (bool interlace : {false, true}) {
        const std::string png = rgb_png(40, 30, interlace);
        for (size_t cut : {size_t{30}, size_t{50}, png.size() / 2, png.size() - 20})
            expect_error(png.substr(0, cut), "PNG: ", "truncated png");
    }
    for (bool progressive : {false, true}) {
        const std::string jpeg = rgb_jpeg(64, 48, progressive);
        for (size_t cut : {size_t{40}, jpeg.size() / 3, jpeg.size() / 2, jpeg.size() - 10})
            expect_error(jpeg.substr(0, cut), "JPEG: ", "truncated jpeg");
    }
}

TEST(DecodeErrors, CorruptData) {
    std::string png = rgb_png(40, 30, false);
    png[33 + 8 + 4] ^= 0x55;  // inside the first IDAT: CRC mismatch
    expect_error(png, "PNG: ", "bad crc");
    std::string jpeg = rgb_jpeg(64, 48, false);
    const size_t dqt = jpeg.find("\xff\xdb");
    ASSERT_NE(dqt, std::string::npos);
    jpeg[dqt + 2] = '\x00';  // DQT length 0..255 -> bogus table
    jpeg[dqt + 3] = '\x01';
    expect_error(jpeg, "JPEG: ", "bad dqt");
}

// Deterministic mutation fuzzing over valid files: byte flips (PNG also with CRCs repaired so the
// data reaches zlib and the filters), truncations, runs of 0xff. Outcomes must be a clean error
// or a picture of the header's size.
TEST(DecodeErrors, MutatedFilesNeverCrash) {
    const std::vector<std::string> seeds = {rgb_png(37, 23, false), rgb_png(37, 23, true),
                                            rgb_jpeg(40, 24, false), rgb_jpeg(40, 24, true)};
    std::mt19937 gen(4242);
    int num_ok = 0, num_err = 0;
    for (int iter = 0; iter < 4000; ++iter) {
        const std::string& seed = seeds[static_cast<size_t>(iter) % seeds.size()];
        std::vector<uint8_t> buf(seed.begin(), seed.end());
        size_t size = buf.size();
        const int kind = (iter / 4) % 4;
        if (kind == 0 || kind == 1) {
            for (int k = 0; k < 1 + iter % 5; ++k) buf[gen() % size] = static_cast<uint8_t>(gen());
            if (kind == 1 && buf[1] == 'P') fix_png_crcs(buf, size);
        } else if (kind == 2) {
            size = gen() % buf.size();
        } else {
            const size_t at = gen() % size;
            for (size_t i = at; i < std::min(size, at + 1 + gen() % 16); ++i) buf[i] = 0xff;
            if (buf[1] == 'P') fix_png_crcs(buf, size);
        }
        std::vector<uint8_t> exact(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(size));
        auto image = decode_image(exact.data(), exact.size());
        if (!image.ok()) {
            ++num_err;
            EXPECT_FALSE(image.error_message().empty());
            continue;
        }
        ++num_ok;
        const RgbImage& im = image.value();
        ASSERT_EQ(im.pixels.size(), static_cast<size_t>(im.width * im.height * 3));
    }
    EXPECT_GT(num_err, 1000);
    EXPECT_GT(num_ok, 100);
}

}  // namespace
}  // namespace autoglm
