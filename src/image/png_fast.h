// The PNG fast path behind decode_png: 8-bit RGB / RGBA, not interlaced, well formed — what phone
// screenshots are — inflated with libdeflate (3-4x zlib's speed on a 1080x2400 screenshot) and
// unfiltered here. Anything else, and any anomaly, is left to libpng, which then decodes it or
// names the problem, so both paths give the same pixels and the same errors.
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/image.h"

namespace autoglm {

// DIV255(rgb * a + 255 * (255 - a)), PIL's paste-with-mask rounding (AlphaMode::kCompositeOnWhite).
inline uint8_t composite_on_white(uint32_t v, uint32_t a) {
    const uint32_t t = v * a + 255 * (255 - a) + 128;
    return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// True when the fast path decoded `data` into `out` (the header already checked against the size
// caps); false when libpng should take it (nothing about the input is reported here).
bool decode_png_fast(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out);

// libpng alone (for tests comparing the two paths).
Status decode_png_libpng_into(const uint8_t* data, size_t size, const DecodeOptions& options,
                              RgbImage& out);

}  // namespace autoglm
