// The image processor's settings, read from a checkpoint's preprocessor_config.json the way
// transformers 5.17 reads it for Glm4vImageProcessor, and the pixel-cap overrides that
// --mm-processor-kwargs and a request's mm_processor_kwargs apply on top.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace autoglm {

// PIL's resampling codes (what preprocessor_config.json stores under "resample").
enum class PilResample : int {
    kNearest = 0,
    kLanczos = 1,
    kBilinear = 2,
    kBicubic = 3,
    kBox = 4,
    kHamming = 5
};

// NOTE on the pixel budget: min_pixels / max_pixels are *pixel counts* (size.shortest_edge /
// size.longest_edge) and count the 2 temporal frames, so one image gets max_pixels / 2. The
// published GLM-4.1V file says {12544, 9633792 (14*14*2*2*2*6144)}; the transformers class
// default, used when a file has no `size`, is {12544, 11760000 (28*28*15000)}.
struct Glm4vImageProcessorOptions {
    int64_t min_pixels = 12544;
    int64_t max_pixels = 9633792;
    int64_t patch_size = 14;
    int64_t temporal_patch_size = 2;
    int64_t merge_size = 2;
    // OpenAI CLIP.
    std::array<float, 3> image_mean = {0.48145466f, 0.4578275f, 0.40821073f};
    std::array<float, 3> image_std = {0.26862954f, 0.26130258f, 0.27577711f};
    bool do_rescale = true;
    double rescale_factor = 1.0 / 255.0;
    bool do_normalize = true;
    bool do_convert_rgb = true;
    // Bicubic; LANCZOS runs as bicubic too (transformers' torchvision backend does the same).
    PilResample resample = PilResample::kBicubic;
    // Where these came from: the file's path, or that the built-in defaults are used.
    std::string source = "built-in GLM-4.1V defaults (no preprocessor_config.json)";
    // Settings the file has that change nothing here, each with why (for a log line).
    std::vector<std::string> notes;

    Status validate() const;
    // One line: "pixels [12544, 9633792], patch 14, merge 2, temporal 2, mean [...], ..."
    std::string describe() const;
};

// Parses the text of a preprocessor_config.json; `path` names the file in errors. A key that is
// not known, an unknown processor type or a value we do not implement is an error naming the file
// and the key.
Result<Glm4vImageProcessorOptions> parse_glm4v_preprocessor_config(const std::string& json_text,
                                                                   const std::string& path);
// Reads <dir>/preprocessor_config.json; without one, the GLM-4.1V defaults (source says so).
Result<Glm4vImageProcessorOptions> load_glm4v_preprocessor_config(const std::string& dir);

// vLLM's mm_processor_kwargs for this processor: max_pixels, min_pixels and
// size {shortest_edge, longest_edge} (max_pixels / min_pixels win over size).
struct PixelOverrides {
    std::optional<int64_t> min_pixels;
    std::optional<int64_t> max_pixels;
    bool empty() const { return !min_pixels && !max_pixels; }
};

// Parses a JSON object's text; errors name the key (`what` prefixes them, e.g.
// "--mm-processor-kwargs"). Values must be integers in [1, 2^40].
Result<PixelOverrides> parse_pixel_overrides(const std::string& json_text, const std::string& what);
// The options with the overrides applied; `may_raise` false refuses a cap above the current one
// (a request may lower the server's cap, not raise it). Errors name min_pixels or max_pixels.
Result<Glm4vImageProcessorOptions> apply_pixel_overrides(const Glm4vImageProcessorOptions& base,
                                                         const PixelOverrides& overrides,
                                                         bool may_raise);

}  // namespace autoglm
