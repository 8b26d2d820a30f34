// libFuzzer target for the PNG / JPEG decoders (build with -DAUTOGLM_FUZZ=ON and clang):
//   build/fuzz/tests/image_fuzz tests/data/images -max_total_time=60
#include <cstddef>
#include <cstdint>

#include "image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    autoglm::DecodeOptions options;
    options.max_width = 4096;  // keeps each run small; the caps themselves are exercised too
    options.max_height = 4096;
    options.max_pixels = 4 << 20;
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
    }
    return 0;
}
