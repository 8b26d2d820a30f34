// libFuzzer target for the PNG / JPEG decoders (cmake --preset fuzz; tools/fuzz.sh runs it).
// Whatever the PNG fast path decodes must equal what libpng alone decodes from the same bytes.
#include <cstddef>
#include <cstdint>

#include "image/image.h"
#include "image/png_fast.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    autoglm::DecodeOptions options;
    // Small caps keep each run fast (a header claiming 4096x4096 would otherwise inflate 16 M
    // pixels of nothing); the refusals themselves are exercised too.
    options.max_width = 1024;
    options.max_height = 1024;
    options.max_pixels = 1 << 18;
    for (auto alpha : {autoglm::AlphaMode::kDrop, autoglm::AlphaMode::kCompositeOnWhite}) {
        options.alpha = alpha;
        auto image = autoglm::decode_image(data, size, options);
        if (!image.ok()) return 0;
        unsigned sum = 0;
        for (uint8_t v : image.value().pixels) sum += v;  // touch every byte for ASan
        if (image.value().pixels.size() !=
            static_cast<size_t>(image.value().width * image.value().height * 3))
            __builtin_trap();
        (void)sum;
        autoglm::RgbImage fast, slow;
        if (autoglm::decode_png_fast(data, size, options, fast) &&
            (!autoglm::decode_png_libpng_into(data, size, options, slow).ok() ||
             fast.width != slow.width || fast.height != slow.height || fast.pixels != slow.pixels))
            __builtin_trap();  // the two PNG paths disagree
    }
    return 0;
}
