// decode_png_fast: chunks walked and CRC-checked here, the IDAT stream inflated by libdeflate,
// the five PNG row filters undone in place, rows converted as decode_png converts them.
#include "image/png_fast.h"

#include <libdeflate.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace autoglm {
namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

uint32_t be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

inline uint8_t paeth(int a, int b, int c) {
    const int p = a + b - c;
    const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
    if (pa <= pb && pa <= pc) return static_cast<uint8_t>(a);
    return static_cast<uint8_t>(pb <= pc ? b : c);
}

// Undoes one row's filter in place; `prior` is the row above, already unfiltered (zeros for the
// first). False for an unknown filter type.
template <int kBpp>
bool unfilter_row(uint8_t type, uint8_t* row, const uint8_t* prior, size_t n) {
    switch (type) {
        case 0:
            return true;
        case 1:
            for (size_t i = kBpp; i < n; ++i) row[i] = static_cast<uint8_t>(row[i] + row[i - kBpp]);
            return true;
        case 2:
            for (size_t i = 0; i < n; ++i) row[i] = static_cast<uint8_t>(row[i] + prior[i]);
            return true;
        case 3:
            for (size_t i = 0; i < kBpp; ++i)
                row[i] = static_cast<uint8_t>(row[i] + (prior[i] >> 1));
            for (size_t i = kBpp; i < n; ++i)
                row[i] = static_cast<uint8_t>(row[i] + ((row[i - kBpp] + prior[i]) >> 1));
            return true;
        case 4:
            for (size_t i = 0; i < kBpp; ++i) row[i] = static_cast<uint8_t>(row[i] + prior[i]);
            for (size_t i = kBpp; i < n; ++i)
                row[i] =
                    static_cast<uint8_t>(row[i] + paeth(row[i - kBpp], prior[i], prior[i - kBpp]));
            return true;
        default:
            return false;
    }
}

struct Header {
    uint32_t width = 0, height = 0;
    int channels = 0;  // 3 (RGB) or 4 (RGBA)
};

// Walks the chunks: IHDR first and of the kind handled here, every CRC right, the IDATs
// consecutive, IEND last; unknown ancillary chunks are skipped as libpng skips them. The IDAT
// payload is gathered into `stream`. False on anything else.
bool read_chunks(const uint8_t* data, size_t size, Header& h, std::vector<uint8_t>& stream) {
    if (size < 8 || std::memcmp(data, kSignature, 8) != 0) return false;
    size_t pos = 8;
    bool seen_idat = false, idat_done = false;
    stream.clear();
    for (int index = 0;; ++index) {
        if (size - pos < 12) return false;
        const uint32_t length = be32(data + pos);
        if (length > 0x7fffffffu || size - pos - 12 < length) return false;
        const uint8_t* type = data + pos + 4;
        const uint8_t* body = type + 4;
        if (libdeflate_crc32(0, type, length + 4) != be32(body + length)) return false;
        pos += 12 + size_t{length};
        const bool critical = (type[0] & 0x20) == 0;
        if (index == 0) {
            if (std::memcmp(type, "IHDR", 4) != 0 || length != 13) return false;
            h.width = be32(body), h.height = be32(body + 4);
            const uint8_t depth = body[8], color = body[9];
            // Bit depth 8, colour type 2 or 6, deflate, adaptive filtering, not interlaced.
            if (h.width == 0 || h.height == 0 || depth != 8 || (color != 2 && color != 6) ||
                body[10] != 0 || body[11] != 0 || body[12] != 0)
                return false;
            h.channels = color == 2 ? 3 : 4;
            continue;
        }
        if (std::memcmp(type, "IDAT", 4) == 0) {
            if (idat_done) return false;
            seen_idat = true;
            stream.insert(stream.end(), body, body + length);
            continue;
        }
        if (seen_idat) idat_done = true;
        if (std::memcmp(type, "IEND", 4) == 0) return seen_idat && length == 0;
        // A suggested palette may sit in an RGB file; other critical chunks go to libpng.
        if (critical && std::memcmp(type, "PLTE", 4) != 0) return false;
    }
}

struct DecompressorDeleter {
    void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

}  // namespace

bool decode_png_fast(const uint8_t* data, size_t size, const DecodeOptions& options,
                     RgbImage& out) {
    // Kept per thread, as the server's other image buffers are: no page faults on ~10 MB of
    // fresh memory for every screenshot.
    thread_local std::vector<uint8_t> stream, raw;
    thread_local std::unique_ptr<libdeflate_decompressor, DecompressorDeleter> inflater{
        libdeflate_alloc_decompressor()};
    Header h;
    if (!inflater || !read_chunks(data, size, h, stream)) return false;
    const size_t stride = size_t{h.width} * static_cast<size_t>(h.channels);
    const size_t expected = size_t{h.height} * (stride + 1);
    raw.resize(expected);
    size_t actual = 0;
    if (libdeflate_zlib_decompress(inflater.get(), stream.data(), stream.size(), raw.data(),
                                   expected, &actual) != LIBDEFLATE_SUCCESS ||
        actual != expected)
        return false;
    const std::vector<uint8_t> zeros(stride, 0);
    const bool composite = h.channels == 4 && options.alpha == AlphaMode::kCompositeOnWhite;
    out.reshape(h.width, h.height);
    for (uint32_t y = 0; y < h.height; ++y) {
        uint8_t* row = raw.data() + size_t{y} * (stride + 1);
        const uint8_t* prior = y == 0 ? zeros.data() : row - stride;
        const bool ok = h.channels == 3 ? unfilter_row<3>(row[0], row + 1, prior, stride)
                                        : unfilter_row<4>(row[0], row + 1, prior, stride);
        if (!ok) return false;
    }
    for (uint32_t y = 0; y < h.height; ++y) {
        const uint8_t* src = raw.data() + size_t{y} * (stride + 1) + 1;
        uint8_t* dst = out.row(y);
        if (h.channels == 3) {
            std::memcpy(dst, src, stride);
            continue;
        }
        for (uint32_t x = 0; x < h.width; ++x, src += 4, dst += 3) {
            for (int c = 0; c < 3; ++c)
                dst[c] = composite ? composite_on_white(src[c], src[3]) : src[c];
        }
    }
    return true;
}

}  // namespace autoglm
