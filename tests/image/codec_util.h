// Test helpers: in-memory PNG and JPEG encoders (libpng / libjpeg writers) for building inputs of
// every colour type and bit depth, and PNG chunk CRC repair for mutation tests.
#pragma once

#include <png.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
// clang-format off
#include <jpeglib.h>
// clang-format on

namespace autoglm::testing {

struct PngSpec {
    int width = 0;
    int height = 0;
    int color_type = PNG_COLOR_TYPE_RGB;
    int bit_depth = 8;
    bool interlace = false;
    std::vector<uint16_t> samples;  // [height, width, channels], each < 2^bit_depth
    std::vector<png_color> palette;
    std::vector<uint8_t> trns;  // palette alpha entries (palette images only)
};

inline int png_channels(int color_type) {
    switch (color_type) {
        case PNG_COLOR_TYPE_GRAY_ALPHA:
            return 2;
        case PNG_COLOR_TYPE_RGB:
            return 3;
        case PNG_COLOR_TYPE_RGB_ALPHA:
            return 4;
        default:
            return 1;  // grey, palette
    }
}

// Packs one row of samples at the spec's bit depth (MSB first; 16-bit big-endian).
inline std::vector<uint8_t> pack_png_row(const PngSpec& spec, int y) {
    const int n = spec.width * png_channels(spec.color_type);
    const uint16_t* s = spec.samples.data() + static_cast<size_t>(y) * n;
    std::vector<uint8_t> row(static_cast<size_t>((n * spec.bit_depth + 7) / 8), 0);
    for (int i = 0; i < n; ++i) {
        if (spec.bit_depth == 16) {
            row[2 * i] = static_cast<uint8_t>(s[i] >> 8);
            row[2 * i + 1] = static_cast<uint8_t>(s[i] & 0xff);
        } else if (spec.bit_depth == 8) {
            row[i] = static_cast<uint8_t>(s[i]);
        } else {
            const int bit = i * spec.bit_depth;
            row[bit / 8] |= static_cast<uint8_t>(s[i] << (8 - spec.bit_depth - bit % 8));
        }
    }
    return row;
}

inline void png_write_to_string(png_structp png, png_bytep data, size_t n) {
    static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), n);
}
[[noreturn]] inline void png_test_abort(png_structp, png_const_charp msg) {
    std::fprintf(stderr, "test PNG writer: %s\n", msg);
    std::abort();
}

inline std::string encode_png(const PngSpec& spec) {
    std::string out;
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, png_test_abort, nullptr);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &out, png_write_to_string, nullptr);
    png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
                 spec.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (!spec.palette.empty())
        png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
    if (!spec.trns.empty())
        png_set_tRNS(png, info, spec.trns.data(), static_cast<int>(spec.trns.size()), nullptr);
    png_write_info(png, info);
    std::vector<std::vector<uint8_t>> rows;
    std::vector<png_bytep> pointers;
    for (int y = 0; y < spec.height; ++y) rows.push_back(pack_png_row(spec, y));
    for (auto& r : rows) pointers.push_back(r.data());
    png_write_image(png, pointers.data());
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
}

// Recomputes every chunk CRC so that mutated chunk data reaches the decoder's deeper stages.
inline void fix_png_crcs(std::vector<uint8_t>& b, size_t size) {
    size_t pos = 8;
    while (pos + 12 <= size) {
        const uint32_t len = (uint32_t{b[pos]} << 24) | (uint32_t{b[pos + 1]} << 16) |
                             (uint32_t{b[pos + 2]} << 8) | b[pos + 3];
        if (len > size - pos - 12) return;
        const uint32_t crc =
            static_cast<uint32_t>(crc32(0, b.data() + pos + 4, static_cast<uInt>(len + 4)));
        for (int i = 0; i < 4; ++i)
            b[pos + 8 + len + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
        pos += 12 + len;
    }
}

// Encodes 8-bit pixels (components 1 = grey or 3 = RGB) as a JPEG.
inline std::string encode_jpeg(const std::vector<uint8_t>& pixels, int width, int height,
                               int components, int quality, bool progressive) {
    jpeg_compress_struct cinfo;
    jpeg_error_mgr err;
    cinfo.err = jpeg_std_error(&err);
    jpeg_create_compress(&cinfo);
    unsigned char* buffer = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&cinfo, &buffer, &size);
    cinfo.image_width = static_cast<JDIMENSION>(width);
    cinfo.image_height = static_cast<JDIMENSION>(height);
    cinfo.input_components = components;
    cinfo.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = const_cast<uint8_t*>(pixels.data()) +
                       static_cast<size_t>(cinfo.next_scanline) * width * components;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    std::string out(reinterpret_cast<char*>(buffer), size);
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
    return out;
}

}  // namespace autoglm::testing
