// Format sniffing, header-only size reading (PNG IHDR, JPEG SOFn), the size caps and the
// decode_image dispatcher.
#include <cstring>

#include "image/image.h"

namespace autoglm {
namespace {

constexpr uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

uint32_t be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint32_t be16(const uint8_t* p) {
    return (uint32_t{p[0]} << 8) | p[1];
}

Result<ImageInfo> png_info(const uint8_t* data, size_t size) {
    // signature (8), chunk length (4), "IHDR" (4), width (4), height (4), ...
    if (size < 24) return Error{"PNG: truncated before the IHDR chunk"};
    if (std::memcmp(data + 12, "IHDR", 4) != 0) return Error{"PNG: first chunk is not IHDR"};
    ImageInfo info;
    info.format = ImageFormat::kPng;
    info.width = be32(data + 16);
    info.height = be32(data + 20);
    return info;
}

bool is_sof_marker(uint8_t m) {
    return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

Result<ImageInfo> jpeg_info(const uint8_t* data, size_t size) {
    size_t pos = 2;  // after SOI
    while (pos < size) {
        if (data[pos] != 0xff) return Error{"JPEG: expected a marker before the frame header"};
        while (pos < size && data[pos] == 0xff) ++pos;  // fill bytes
        if (pos >= size) break;
        const uint8_t marker = data[pos++];
        if (marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
        if (marker == 0xd9 || marker == 0xda) return Error{"JPEG: no frame header before scan"};
        if (pos + 2 > size) break;
        const uint32_t length = be16(data + pos);
        if (length < 2) return Error{"JPEG: bad marker segment length"};
        if (is_sof_marker(marker)) {
            if (pos + 7 > size) break;
            ImageInfo info;
            info.format = ImageFormat::kJpeg;
            info.height = be16(data + pos + 3);
            info.width = be16(data + pos + 5);
            return info;
        }
        pos += length;
    }
    return Error{"JPEG: truncated before the frame header"};
}

}  // namespace

RgbImage RgbImage::zeros(int64_t width, int64_t height) {
    CHECK(width >= 0 && height >= 0);
    RgbImage image;
    image.width = width;
    image.height = height;
    image.pixels.assign(static_cast<size_t>(width * height * 3), 0);
    return image;
}

void RgbImage::reshape(int64_t new_width, int64_t new_height) {
    CHECK(new_width >= 0 && new_height >= 0);
    width = new_width;
    height = new_height;
    pixels.resize(static_cast<size_t>(new_width * new_height * 3));
}

std::optional<ImageFormat> sniff_image_format(const uint8_t* data, size_t size) {
    if (size >= 8 && std::memcmp(data, kPngMagic, 8) == 0) return ImageFormat::kPng;
    if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return ImageFormat::kJpeg;
    return std::nullopt;
}

Result<ImageInfo> read_image_info(const uint8_t* data, size_t size) {
    const auto format = sniff_image_format(data, size);
    if (!format) return Error{"unsupported image format (expected PNG or JPEG)"};
    return *format == ImageFormat::kPng ? png_info(data, size) : jpeg_info(data, size);
}

Status check_image_size(int64_t width, int64_t height, const DecodeOptions& options) {
    std::string msg = "image size ";
    msg.append(std::to_string(width)).append("x").append(std::to_string(height));
    if (width <= 0 || height <= 0) return Error{msg.append(" is empty")};
    if (width > options.max_width || height > options.max_height) {
        msg.append(" exceeds the cap of ").append(std::to_string(options.max_width));
        return Error{msg.append("x").append(std::to_string(options.max_height))};
    }
    if (width * height > options.max_pixels) {
        msg.append(" exceeds the cap of ").append(std::to_string(options.max_pixels));
        return Error{msg.append(" pixels")};
    }
    return {};
}

Status decode_image_into(const uint8_t* data, size_t size, const DecodeOptions& options,
                         RgbImage& out) {
    auto info = read_image_info(data, size);
    if (!info.ok()) return info.error();
    return info.value().format == ImageFormat::kPng ? decode_png_into(data, size, options, out)
                                                    : decode_jpeg_into(data, size, options, out);
}

namespace {
template <typename F>
Result<RgbImage> decode_with(F decode_into, const uint8_t* data, size_t size,
                             const DecodeOptions& options) {
    RgbImage image;
    if (Status st = decode_into(data, size, options, image); !st.ok())
        return Error{st.error_message()};
    return image;
}
}  // namespace

Result<RgbImage> decode_image(const uint8_t* data, size_t size, const DecodeOptions& options) {
    return decode_with(decode_image_into, data, size, options);
}
Result<RgbImage> decode_png(const uint8_t* data, size_t size, const DecodeOptions& options) {
    return decode_with(decode_png_into, data, size, options);
}
Result<RgbImage> decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options) {
    return decode_with(decode_jpeg_into, data, size, options);
}

}  // namespace autoglm
