// GLM-4.1V image preprocessing: smart_resize, torchvision-exact antialiased bicubic resize, fused
// rescale+normalize through a per-channel lookup table, and the merge-window patch layout.
#include "model/glm4v/image_processor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/file.h"
#include "image/resize.h"

namespace autoglm {
namespace {

Error size_error(const char* what, int64_t height, int64_t width) {
    std::string msg = what;
    msg.append(" (height ").append(std::to_string(height));
    return Error{msg.append(", width ").append(std::to_string(width)).append(")")};
}

// Python's round(): half to even (nearbyint in the default rounding mode).
int64_t round_half_even(double v) {
    return static_cast<int64_t>(std::nearbyint(v));
}

}  // namespace

Result<ResizedSize> glm4v_smart_resize(int64_t height, int64_t width, const SmartResizeParams& p) {
    CHECK(p.factor > 0 && p.temporal_factor > 0 && p.max_pixels > 0);
    if (height <= 0 || width <= 0) return size_error("image has an empty side", height, width);
    if (p.num_frames < p.temporal_factor)
        return size_error("fewer frames than the temporal factor", height, width);
    const auto f = static_cast<double>(p.factor);
    if (height < p.factor || width < p.factor) {  // v5: scale tiny images up, truncating
        const double scale =
            std::max(f / static_cast<double>(height), f / static_cast<double>(width));
        height = static_cast<int64_t>(static_cast<double>(height) * scale);
        width = static_cast<int64_t>(static_cast<double>(width) * scale);
    }
    const auto hd = static_cast<double>(height), wd = static_cast<double>(width);
    if (std::max(hd, wd) / std::min(hd, wd) > 200)
        return size_error("absolute aspect ratio must be at most 200", height, width);
    int64_t h_bar = round_half_even(hd / f) * p.factor;
    int64_t w_bar = round_half_even(wd / f) * p.factor;
    const int64_t t_bar = round_half_even(static_cast<double>(p.num_frames) /
                                          static_cast<double>(p.temporal_factor)) *
                          p.temporal_factor;
    const auto frames_pixels = static_cast<double>(p.num_frames * height * width);
    if (t_bar * h_bar * w_bar > p.max_pixels) {
        const double beta = std::sqrt(frames_pixels / static_cast<double>(p.max_pixels));
        h_bar = std::max(p.factor, static_cast<int64_t>(std::floor(hd / beta / f)) * p.factor);
        w_bar = std::max(p.factor, static_cast<int64_t>(std::floor(wd / beta / f)) * p.factor);
    } else if (t_bar * h_bar * w_bar < p.min_pixels) {
        const double beta = std::sqrt(static_cast<double>(p.min_pixels) / frames_pixels);
        h_bar = static_cast<int64_t>(std::ceil(hd * beta / f)) * p.factor;
        w_bar = static_cast<int64_t>(std::ceil(wd * beta / f)) * p.factor;
    }
    return ResizedSize{h_bar, w_bar};
}

Status check_image_processor_options(const Glm4vImageProcessorOptions& options,
                                     const Glm4vVisionConfig& vision) {
    const auto mismatch = [&](const char* key, int64_t have, const char* vision_key,
                              int64_t want) -> Status {
        if (have == want) return {};
        return Error{options.source + ": key '" + key + "' = " + std::to_string(have) +
                     " disagrees with config.json vision_config." + vision_key + " = " +
                     std::to_string(want)};
    };
    if (Status s = mismatch("patch_size", options.patch_size, "patch_size", vision.patch_size); !s)
        return s;
    if (Status s = mismatch("merge_size", options.merge_size, "spatial_merge_size",
                            vision.spatial_merge_size);
        !s)
        return s;
    if (Status s = mismatch("temporal_patch_size", options.temporal_patch_size,
                            "temporal_patch_size", vision.temporal_patch_size);
        !s)
        return s;
    if (vision.in_channels != 3)
        return Error{"config.json: vision_config.in_channels must be 3 (the processor makes RGB)"};
    return options.validate();
}

Glm4vImageProcessor::Glm4vImageProcessor(const Glm4vVisionConfig& vision,
                                         const Glm4vImageProcessorOptions& options)
    : patch_(options.patch_size),
      merge_(options.merge_size),
      temporal_(options.temporal_patch_size),
      options_(options) {
    const Status ok = check_image_processor_options(options, vision);
    CHECK(ok.ok()) << ok.error_message();
    // NOTE: fp32 exactly as transformers' torchvision backend: with rescale and normalize both on,
    // mean and std (float32 tensors) are multiplied by float(1 / rescale_factor) and the uint8
    // value goes through (x - mean) / std; rescale alone is x * float(rescale_factor); neither
    // leaves the uint8 value as it is.
    const auto inv_rescale = static_cast<float>(1.0 / options.rescale_factor);
    const auto rescale = static_cast<float>(options.rescale_factor);
    for (size_t c = 0; c < 3; ++c) {
        float mean = options.image_mean[c], std = options.image_std[c];
        if (options.do_rescale && options.do_normalize) mean *= inv_rescale, std *= inv_rescale;
        for (int v = 0; v < 256; ++v) {
            const auto x = static_cast<float>(v);
            lut_[c][static_cast<size_t>(v)] = options.do_normalize ? (x - mean) / std
                                              : options.do_rescale ? x * rescale
                                                                   : x;
        }
    }
}

Glm4vImageProcessor Glm4vImageProcessor::with_pixel_caps(int64_t min_pixels,
                                                         int64_t max_pixels) const {
    CHECK(min_pixels > 0 && max_pixels >= min_pixels)
        << "pixel caps " << min_pixels << ", " << max_pixels;
    Glm4vImageProcessor copy = *this;
    copy.options_.min_pixels = min_pixels;
    copy.options_.max_pixels = max_pixels;
    return copy;
}

Result<ResizedSize> Glm4vImageProcessor::target_size(int64_t height, int64_t width) const {
    SmartResizeParams p;
    p.factor = patch_ * merge_;
    p.temporal_factor = temporal_;
    p.num_frames = temporal_;
    p.min_pixels = options_.min_pixels;
    p.max_pixels = options_.max_pixels;
    return glm4v_smart_resize(height, width, p);
}

Result<int64_t> Glm4vImageProcessor::num_image_tokens(int64_t height, int64_t width) const {
    auto size = target_size(height, width);
    if (!size.ok()) return size.error();
    return (size.value().height / patch_) * (size.value().width / patch_) / (merge_ * merge_);
}

Result<Glm4vProcessedImage> Glm4vImageProcessor::process(const RgbImage& image) const {
    Glm4vImageWorkspace ws;
    if (Status st = process_into(image, ws); !st.ok()) return Error{st.error_message()};
    return std::move(ws.out);
}

Status Glm4vImageProcessor::process_into(const RgbImage& image, Glm4vImageWorkspace& ws) const {
    auto size = target_size(image.height, image.width);
    if (!size.ok()) return size.error();
    const ResizedSize s = size.value();
    if (s.height == image.height && s.width == image.width) {
        patchify_into(image, ws.out);
        return {};
    }
    resize_bicubic_aa_into(image, s.width, s.height, ws.horizontal, ws.resized);
    patchify_into(ws.resized, ws.out);
    return {};
}

Status Glm4vImageProcessor::process_compact_into(const RgbImage& image,
                                                 Glm4vImageWorkspace& ws) const {
    auto size = target_size(image.height, image.width);
    if (!size.ok()) return size.error();
    const ResizedSize s = size.value();
    Glm4vProcessedImage& out = ws.out;
    if (s.height == image.height && s.width == image.width) {
        out.resized_rgb = image;
    } else {
        resize_bicubic_aa_into(image, s.width, s.height, ws.horizontal, ws.resized);
        out.resized_rgb = std::move(ws.resized);
        ws.resized = {};
    }
    const int64_t p = patch_, m = merge_;
    out.pixel_values.clear();
    out.table = lut_;
    out.patch = p, out.merge = m, out.temporal = temporal_;
    out.grid_t = 1;
    out.grid_h = s.height / p;
    out.grid_w = s.width / p;
    out.patch_dim = 3 * temporal_ * p * p;
    out.num_tokens = out.grid_h * out.grid_w / (m * m);
    out.resized = s;
    return {};
}

namespace {

// The one patch layout (see Glm4vProcessedImage): rows in merge-window order, columns (channel,
// frame, y, x), every frame a copy of the picture.
void patchify_rows(const RgbImage& rgb, const Glm4vPixelTable& lut, int64_t p, int64_t m, int64_t t,
                   float* dst) {
    const int64_t grid_h = rgb.height / p, grid_w = rgb.width / p, patch_dim = 3 * t * p * p;
    for (int64_t a = 0; a < grid_h / m; ++a) {
        for (int64_t b = 0; b < grid_w / m; ++b) {
            for (int64_t d = 0; d < m * m; ++d, dst += patch_dim) {
                const int64_t ph = a * m + d / m, pw = b * m + d % m;
                for (int64_t c = 0; c < 3; ++c) {
                    float* block = dst + c * t * p * p;  // frame 0 of channel c: [p, p]
                    const auto& table = lut[static_cast<size_t>(c)];
                    for (int64_t y = 0; y < p; ++y) {
                        const uint8_t* src = rgb.row(ph * p + y) + pw * p * 3 + c;
                        for (int64_t x = 0; x < p; ++x) block[y * p + x] = table[src[x * 3]];
                    }
                    for (int64_t f = 1; f < t; ++f)
                        std::memcpy(block + f * p * p, block, sizeof(float) * p * p);
                }
            }
        }
    }
}

}  // namespace

std::vector<float> pixel_values_of(const Glm4vProcessedImage& image) {
    if (!image.compact()) return image.pixel_values;
    std::vector<float> out(static_cast<size_t>(image.num_patches() * image.patch_dim));
    patchify_rows(image.resized_rgb, image.table, image.patch, image.merge, image.temporal,
                  out.data());
    return out;
}

Glm4vProcessedImage Glm4vImageProcessor::patchify(const RgbImage& resized) const {
    Glm4vProcessedImage out;
    patchify_into(resized, out);
    return out;
}

void Glm4vImageProcessor::patchify_into(const RgbImage& resized, Glm4vProcessedImage& out) const {
    const int64_t p = patch_, m = merge_, t = temporal_;
    CHECK(resized.height % (p * m) == 0 && resized.width % (p * m) == 0)
        << "resized size " << resized.height << "x" << resized.width << " is not a multiple of "
        << p * m;
    out.grid_h = resized.height / p;
    out.grid_w = resized.width / p;
    out.patch_dim = 3 * t * p * p;
    out.num_tokens = out.grid_h * out.grid_w / (m * m);
    out.resized = {resized.height, resized.width};
    out.pixel_values.resize(static_cast<size_t>(out.num_patches() * out.patch_dim));
    out.resized_rgb = {};
    out.table = lut_;
    out.patch = p, out.merge = m, out.temporal = t;
    patchify_rows(resized, lut_, p, m, t, out.pixel_values.data());
}

Result<Glm4vProcessedImage> Glm4vImageProcessor::intake(const uint8_t* data, size_t size) const {
    thread_local RgbImage decoded;
    thread_local Glm4vImageWorkspace workspace;
    if (Status st = decode_image_into(data, size, {}, decoded); !st)
        return Error{st.error_message()};
    if (Status st = process_compact_into(decoded, workspace); !st) return Error{st.error_message()};
    Glm4vProcessedImage out = std::move(workspace.out);
    workspace.out = {};
    return out;
}

Result<Glm4vProcessedImage> load_image_file(const std::string& path,
                                            const Glm4vImageProcessor& processor) {
    auto bytes = read_file(path);
    if (!bytes) return bytes.error();
    auto image = processor.intake(reinterpret_cast<const uint8_t*>(bytes.value().data()),
                                  bytes.value().size());
    if (!image) return Error{path + ": " + image.error_message()};
    return image;
}

}  // namespace autoglm
