// Image input: an 8-bit RGB picture (HWC) and PNG / JPEG decoding from a memory buffer, with size
// caps checked on the header before any pixel memory is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace autoglm {

// 8-bit RGB pixels, row-major HWC: pixels[(y * width + x) * 3 + c].
struct RgbImage {
    int64_t width = 0;
    int64_t height = 0;
    std::vector<uint8_t> pixels;  // [height, width, 3]

    static RgbImage zeros(int64_t width, int64_t height);
    // Sets the size; keeps the allocation when it is large enough (contents unspecified).
    void reshape(int64_t new_width, int64_t new_height);
    const uint8_t* row(int64_t y) const { return pixels.data() + y * width * 3; }
    uint8_t* row(int64_t y) { return pixels.data() + y * width * 3; }
};

enum class ImageFormat { kPng, kJpeg };

// What happens to an alpha channel. Only pictures that PIL opens in mode "RGBA" have one here:
// PNG colour type RGBA (8 or 16 bit) and 16-bit grey+alpha. PIL opens 8-bit grey+alpha as "LA"
// and palette / tRNS transparency as "P" / "L"; both kinds of loader simply drop that alpha.
enum class AlphaMode {
    // transformers: PIL convert("RGB") keeps R, G, B and drops alpha (default; exact parity with
    // the Hugging Face processor).
    kDrop,
    // vLLM: the picture is pasted onto white through its alpha,
    //   out = DIV255(rgb * a + 255 * (255 - a)), DIV255(v) = ((v + 128) + ((v + 128) >> 8)) >> 8,
    // which is PIL's paste-with-mask rounding. Identical to kDrop for fully opaque screenshots.
    kCompositeOnWhite,
};

struct DecodeOptions {
    int64_t max_width = 16384;  // refused before decoding when the header says more
    int64_t max_height = 16384;
    int64_t max_pixels = 64000000;  // width * height (64 Mpixel)
    AlphaMode alpha = AlphaMode::kDrop;
    // NOTE: 16-bit samples become 8-bit the way PIL opens them: RGB, RGBA and grey+alpha keep the
    // high byte (truncation, PIL raw modes "RGB;16B" / "RGBA;16B" / "LA;16B"); plain 16-bit grey
    // is opened as "I;16" and convert("RGB") clips it: v > 255 -> 255 (so most of it turns white).
    // Set false to take the high byte for 16-bit grey as well.
    bool grey16_clip_like_pil = true;
};

// Format and size read from the header alone (PNG IHDR, JPEG SOFn), without decoding.
struct ImageInfo {
    ImageFormat format = ImageFormat::kPng;
    int64_t width = 0;
    int64_t height = 0;
};

// The format from the magic bytes, or nullopt.
std::optional<ImageFormat> sniff_image_format(const uint8_t* data, size_t size);
Result<ImageInfo> read_image_info(const uint8_t* data, size_t size);

// Decodes PNG or JPEG (sniffed) into RGB. Every malformed, truncated or oversized input gives an
// Error naming the problem; nothing here throws or aborts on bad bytes.
// NOTE: EXIF orientation is not applied (neither the HF processor nor vLLM applies it to an
// already-open PIL image). CMYK / YCCK JPEGs are refused.
Result<RgbImage> decode_image(const uint8_t* data, size_t size, const DecodeOptions& options = {});
Result<RgbImage> decode_png(const uint8_t* data, size_t size, const DecodeOptions& options = {});
Result<RgbImage> decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& options = {});
// The same into `out`, keeping its allocation when large enough (contents unspecified on error).
Status decode_image_into(const uint8_t* data, size_t size, const DecodeOptions& options,
                         RgbImage& out);
Status decode_png_into(const uint8_t* data, size_t size, const DecodeOptions& options,
                       RgbImage& out);
Status decode_jpeg_into(const uint8_t* data, size_t size, const DecodeOptions& options,
                        RgbImage& out);

// 8-bit RGB -> PNG bytes (zlib level 0-9), for generated pictures (tests, benchmark load).
Result<std::string> encode_png(const RgbImage& image, int compression_level = 6);

// The shared size check: Error when width/height/pixels exceed the caps or are not positive.
Status check_image_size(int64_t width, int64_t height, const DecodeOptions& options);

}  // namespace autoglm
