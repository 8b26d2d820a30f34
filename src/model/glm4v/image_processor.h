// GLM-4.1V image preprocessing on the CPU, as transformers 5's Glm4vImageProcessor (torchvision
// backend) does it: smart_resize -> antialiased bicubic -> rescale+normalize -> patchify.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "image/image.h"
#include "model/glm4v/config.h"
#include "model/glm4v/preprocessor_config.h"

namespace autoglm {

struct SmartResizeParams {
    int64_t factor = 28;  // patch_size * merge_size
    int64_t temporal_factor = 2;
    int64_t num_frames = 2;  // a still image counts as temporal_patch_size frames
    int64_t min_pixels = 12544;
    int64_t max_pixels = 9633792;
};

struct ResizedSize {
    int64_t height = 0;
    int64_t width = 0;
};

// transformers 5.x smart_resize, bit-exact: tiny sides are first scaled up to `factor` (int()
// truncation), aspect ratio > 200 is an error, rounding is Python's round-half-to-even.
Result<ResizedSize> glm4v_smart_resize(int64_t height, int64_t width, const SmartResizeParams& p);

// The normalization of one uint8 value, per channel (rescale and normalize fused).
using Glm4vPixelTable = std::array<std::array<float, 256>, 3>;

struct Glm4vProcessedImage {
    // [grid_t * grid_h * grid_w, 3 * temporal * patch * patch]; rows in 2x2 merge-window order
    // (window raster, then (0,0), (0,1), (1,0), (1,1)); columns (channel, frame, y, x); both
    // frames hold the same pixels. Empty in the compact form (process_compact_into).
    std::vector<float> pixel_values;
    // The compact form: the resized picture and the table that normalizes it, an eighth of the
    // memory; pixel_values_of() (or the GPU) makes the rows from them.
    RgbImage resized_rgb;
    Glm4vPixelTable table{};
    int64_t patch = 14, merge = 2, temporal = 2;
    int64_t grid_t = 1;
    int64_t grid_h = 0;
    int64_t grid_w = 0;
    int64_t patch_dim = 0;
    int64_t num_tokens =
        0;  // grid_t * grid_h * grid_w / merge^2: copies of <|image|> in the prompt
    ResizedSize resized;
    int64_t num_patches() const { return grid_t * grid_h * grid_w; }
    bool compact() const { return pixel_values.empty() && !resized_rgb.pixels.empty(); }
};

// The rows of pixel_values, made from the compact form when the image is compact; the same
// values either way.
std::vector<float> pixel_values_of(const Glm4vProcessedImage& image);

// Buffers reused across process_into calls (one per worker): a 1080x2400 screenshot needs ~80 MB
// of them, and fresh allocations pay a page fault per 4 KiB on every call.
struct Glm4vImageWorkspace {
    RgbImage horizontal;  // after the horizontal resize pass
    RgbImage resized;
    Glm4vProcessedImage out;
};

// The processor's patch, merge and temporal sizes must be the vision tower's (an error names the
// file and key otherwise).
Status check_image_processor_options(const Glm4vImageProcessorOptions& options,
                                     const Glm4vVisionConfig& vision);

class Glm4vImageProcessor {
  public:
    // `options` must agree with the vision tower (check_image_processor_options).
    explicit Glm4vImageProcessor(const Glm4vVisionConfig& vision,
                                 const Glm4vImageProcessorOptions& options = {});

    const Glm4vImageProcessorOptions& options() const { return options_; }
    // The same processor with other pixel caps (mm_processor_kwargs).
    Glm4vImageProcessor with_pixel_caps(int64_t min_pixels, int64_t max_pixels) const;

    Result<ResizedSize> target_size(int64_t height, int64_t width) const;
    // The number of LLM tokens an image of this size becomes (without decoding it).
    Result<int64_t> num_image_tokens(int64_t height, int64_t width) const;
    Result<Glm4vProcessedImage> process(const RgbImage& image) const;
    // The same into ws.out, reusing the workspace's allocations.
    Status process_into(const RgbImage& image, Glm4vImageWorkspace& ws) const;
    // Resize only: ws.out gets the compact form (resized picture + table, no pixel_values).
    Status process_compact_into(const RgbImage& image, Glm4vImageWorkspace& ws) const;
    // The one intake of an encoded picture (PNG or JPEG bytes), for the server and the CLI:
    // decode, then process_compact_into. The decoded picture and the resize buffers stay with
    // the calling thread (no page faults for them on its next picture).
    Result<Glm4vProcessedImage> intake(const uint8_t* data, size_t size) const;

    // Layout step alone (for tests): normalises an already resized image and cuts it into rows.
    Glm4vProcessedImage patchify(const RgbImage& resized) const;
    void patchify_into(const RgbImage& resized, Glm4vProcessedImage& out) const;

  private:
    int64_t patch_ = 14;
    int64_t merge_ = 2;
    int64_t temporal_ = 2;
    Glm4vImageProcessorOptions options_;
    Glm4vPixelTable lut_;  // uint8 value -> rescaled/normalised, per channel
};

// Reads an image file (PNG or JPEG) and takes it in (Glm4vImageProcessor::intake); errors name
// the path.
Result<Glm4vProcessedImage> load_image_file(const std::string& path,
                                            const Glm4vImageProcessor& processor);

}  // namespace autoglm
