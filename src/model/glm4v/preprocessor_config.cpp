// preprocessor_config.json -> Glm4vImageProcessorOptions (transformers 5.17's reading of the file
// for Glm4vImageProcessor), and the mm_processor_kwargs pixel overrides.
#include "model/glm4v/preprocessor_config.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file.h"

namespace autoglm {
namespace {

using nlohmann::json;

constexpr int64_t kMaxPixelCount = int64_t{1} << 40;

// Keys that only say which Python class to build or how to lay out tensors: nothing here
// depends on them.
bool is_inert_key(const std::string& key) {
    static const char* kInert[] = {"processor_class", "_processor_class",  "default_to_square",
                                   "data_format",     "input_data_format", "device",
                                   "return_tensors",  "disable_grouping",  "auto_map"};
    for (const char* k : kInert)
        if (key == k) return true;
    return false;
}

class Reader {
  public:
    explicit Reader(std::string path) : path_(std::move(path)) {}

    Error error(const std::string& key, const std::string& what) const {
        return Error{path_ + ": key '" + key + "' " + what};
    }
    Result<int64_t> positive_int(const json& v, const std::string& key, int64_t max) const {
        if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > max)
            return error(key,
                         "must be an integer in [1, " + std::to_string(max) + "], got " + v.dump());
        return v.get<int64_t>();
    }
    Result<bool> boolean(const json& v, const std::string& key) const {
        if (!v.is_boolean()) return error(key, "must be true or false, got " + v.dump());
        return v.get<bool>();
    }
    // A number or a list of 3 numbers (transformers broadcasts a single value).
    Result<std::array<float, 3>> triple(const json& v, const std::string& key) const {
        std::array<float, 3> out{};
        if (v.is_number()) {
            out.fill(v.get<float>());
            return out;
        }
        if (!v.is_array() || v.size() != 3)
            return error(key, "must be a number or a list of 3 numbers, got " + v.dump());
        for (size_t i = 0; i < 3; ++i) {
            if (!v[i].is_number()) return error(key, "must hold numbers, got " + v.dump());
            out[i] = v[i].get<float>();
        }
        return out;
    }

  private:
    std::string path_;
};

Status read_size(const json& v, const Reader& r, Glm4vImageProcessorOptions& o) {
    if (!v.is_object()) return r.error("size", "must be an object {shortest_edge, longest_edge}");
    for (const auto& [key, value] : v.items()) {
        if (value.is_null()) continue;
        if (key != "shortest_edge" && key != "longest_edge")
            return r.error("size." + key,
                           "is not implemented: GLM-4.1V sizes images by pixel count "
                           "(size.shortest_edge / size.longest_edge)");
        auto n = r.positive_int(value, "size." + key, kMaxPixelCount);
        if (!n) return n.error();
        (key == "shortest_edge" ? o.min_pixels : o.max_pixels) = n.value();
    }
    if (!v.contains("shortest_edge") || !v.contains("longest_edge"))
        return r.error("size", "must hold both shortest_edge and longest_edge, got " + v.dump());
    return {};
}

Status read_resample(const json& v, const Reader& r, Glm4vImageProcessorOptions& o) {
    if (!v.is_number_integer()) return r.error("resample", "must be a PIL code, got " + v.dump());
    const int64_t code = v.get<int64_t>();
    if (code == static_cast<int>(PilResample::kBicubic)) {
        o.resample = PilResample::kBicubic;
    } else if (code == static_cast<int>(PilResample::kLanczos)) {
        o.resample = PilResample::kLanczos;
        o.notes.push_back(
            "resample 1 (LANCZOS) runs as bicubic, as transformers' torchvision backend does");
    } else {
        return r.error("resample", "= " + v.dump() +
                                       " is not implemented (3 = BICUBIC, or 1 = LANCZOS, which "
                                       "the reference runs as bicubic)");
    }
    return {};
}

Status read_flag(const std::string& key, const json& v, const Reader& r,
                 Glm4vImageProcessorOptions& o) {
    auto b = r.boolean(v, key);
    if (!b) return b.error();
    if (key == "do_rescale") {
        o.do_rescale = b.value();
    } else if (key == "do_normalize") {
        o.do_normalize = b.value();
    } else if (key == "do_convert_rgb") {
        o.do_convert_rgb = b.value();
        if (!b.value())
            o.notes.push_back(
                "do_convert_rgb false: decoded images are RGB anyway (transformers would fail on "
                "grey or RGBA input instead)");
    } else if (key == "do_resize") {
        if (!b.value())
            return r.error(key, "= false is not implemented (images are always resized)");
    } else if (b.value()) {  // do_center_crop, do_pad
        return r.error(key, "= true is not implemented for GLM-4.1V");
    }
    return {};
}

Status read_key(const std::string& key, const json& v, const Reader& r,
                Glm4vImageProcessorOptions& o) {
    if (key == "size") return read_size(v, r, o);
    if (key == "min_pixels" || key == "max_pixels") {
        // NOTE: the spelling older files use. transformers 5.17 keeps it as an attribute but
        // sizes images by `size` alone (the class default {12544, 11760000} when the file has
        // none), so it changes nothing here either; --mm-processor-kwargs applies such a cap.
        auto n = r.positive_int(v, key, kMaxPixelCount);
        if (!n) return n.error();
        o.notes.push_back("key '" + key + "' = " + std::to_string(n.value()) +
                          " is ignored, as transformers 5.17 ignores it (images are sized by "
                          "size.shortest_edge / size.longest_edge); use --mm-processor-kwargs "
                          "'{\"" +
                          key + "\": " + std::to_string(n.value()) + "}' to apply it");
        return {};
    }
    if (key == "patch_size" || key == "temporal_patch_size" || key == "merge_size") {
        auto n = r.positive_int(v, key, 1024);
        if (!n) return n.error();
        (key == "patch_size"            ? o.patch_size
         : key == "temporal_patch_size" ? o.temporal_patch_size
                                        : o.merge_size) = n.value();
        return {};
    }
    if (key == "image_mean" || key == "image_std") {
        auto t = r.triple(v, key);
        if (!t) return t.error();
        (key == "image_mean" ? o.image_mean : o.image_std) = t.value();
        return {};
    }
    if (key == "rescale_factor") {
        if (!v.is_number() || !(v.get<double>() > 0))
            return r.error(key, "must be a positive number, got " + v.dump());
        o.rescale_factor = v.get<double>();
        return {};
    }
    if (key == "resample") return read_resample(v, r, o);
    if (key == "do_rescale" || key == "do_normalize" || key == "do_convert_rgb" ||
        key == "do_resize" || key == "do_center_crop" || key == "do_pad")
        return read_flag(key, v, r, o);
    if (key == "image_processor_type") {
        const std::string type = v.is_string() ? v.get<std::string>() : v.dump();
        if (type != "Glm4vImageProcessor" && type != "Glm4vImageProcessorFast")
            return r.error(key, "= '" + type +
                                    "' is not a GLM-4.1V image processor (Glm4vImageProcessor "
                                    "or Glm4vImageProcessorFast)");
        return {};
    }
    if (is_inert_key(key)) return {};
    return r.error(key, "is not an option of Glm4vImageProcessor that autoglm implements");
}

std::string list3(const std::array<float, 3>& v) {
    std::ostringstream ss;
    ss.precision(8);
    ss << "[" << v[0] << ", " << v[1] << ", " << v[2] << "]";
    return ss.str();
}

}  // namespace

Status Glm4vImageProcessorOptions::validate() const {
    if (min_pixels < 1 || max_pixels < min_pixels)
        return Error{"image processor: max_pixels (" + std::to_string(max_pixels) +
                     ") must be at least min_pixels (" + std::to_string(min_pixels) + ")"};
    for (int c = 0; c < 3; ++c)
        if (do_normalize && !(image_std[static_cast<size_t>(c)] != 0.0f))
            return Error{"image processor: image_std must not be 0"};
    return {};
}

std::string Glm4vImageProcessorOptions::describe() const {
    std::ostringstream ss;
    ss << "pixels [" << min_pixels << ", " << max_pixels << "], patch " << patch_size << ", merge "
       << merge_size << ", temporal " << temporal_patch_size << ", resample "
       << (resample == PilResample::kLanczos ? "lanczos (as bicubic)" : "bicubic");
    const double inverse = 1.0 / rescale_factor;
    ss << ", rescale ";
    if (!do_rescale)
        ss << "off";
    else if (std::fabs(inverse - std::round(inverse)) < 1e-6)
        ss << "1/" << static_cast<int64_t>(std::round(inverse));
    else
        ss << rescale_factor;
    if (do_normalize)
        ss << ", mean " << list3(image_mean) << ", std " << list3(image_std);
    else
        ss << ", normalize off";
    return ss.str();
}

Result<Glm4vImageProcessorOptions> parse_glm4v_preprocessor_config(const std::string& json_text,
                                                                   const std::string& path) {
    const json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) return Error{path + ": not a JSON object"};
    Glm4vImageProcessorOptions o;
    // transformers' class default when the file has no size (the published file has one).
    o.max_pixels = 11760000;
    o.source = path;
    const Reader reader(path);
    for (const auto& [key, value] : doc.items()) {
        if (value.is_null()) continue;  // None: the class default, as in transformers
        if (Status s = read_key(key, value, reader, o); !s) return Error{s.error_message()};
    }
    if (Status s = o.validate(); !s) return Error{path + ": " + s.error_message()};
    return o;
}

Result<Glm4vImageProcessorOptions> load_glm4v_preprocessor_config(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / "preprocessor_config.json").string();
    if (!std::filesystem::exists(path)) return Glm4vImageProcessorOptions{};
    auto text = read_file(path);
    if (!text) return text.error();
    return parse_glm4v_preprocessor_config(text.value(), path);
}

Result<PixelOverrides> parse_pixel_overrides(const std::string& json_text,
                                             const std::string& what) {
    const json doc = json::parse(json_text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return Error{what + ": expected a JSON object such as {\"max_pixels\": 5000000}"};
    PixelOverrides out;
    const Reader reader(what);
    const auto take = [&](const json& v, const std::string& key,
                          std::optional<int64_t>& slot) -> Status {
        if (v.is_null()) return {};
        auto n = reader.positive_int(v, key, kMaxPixelCount);
        if (!n) return n.error();
        slot = n.value();
        return {};
    };
    if (doc.contains("size")) {
        const json& size = doc["size"];
        if (!size.is_object()) return reader.error("size", "must be an object");
        for (const auto& [key, value] : size.items()) {
            if (key != "shortest_edge" && key != "longest_edge")
                return reader.error("size." + key,
                                    "is not supported (shortest_edge, longest_edge)");
            Status s = take(value, "size." + key,
                            key == "shortest_edge" ? out.min_pixels : out.max_pixels);
            if (!s) return Error{s.error_message()};
        }
    }
    for (const auto& [key, value] : doc.items()) {
        Status s;
        if (key == "max_pixels")
            s = take(value, key, out.max_pixels);
        else if (key == "min_pixels")
            s = take(value, key, out.min_pixels);
        else if (key != "size")
            return reader.error(key, "is not supported (max_pixels, min_pixels, size)");
        if (!s) return Error{s.error_message()};
    }
    return out;
}

Result<Glm4vImageProcessorOptions> apply_pixel_overrides(const Glm4vImageProcessorOptions& base,
                                                         const PixelOverrides& overrides,
                                                         bool may_raise) {
    Glm4vImageProcessorOptions o = base;
    if (overrides.max_pixels) {
        if (!may_raise && *overrides.max_pixels > base.max_pixels)
            return Error{"max_pixels " + std::to_string(*overrides.max_pixels) +
                         " is above the server's limit of " + std::to_string(base.max_pixels)};
        o.max_pixels = *overrides.max_pixels;
    }
    if (overrides.min_pixels) {
        if (!may_raise && *overrides.min_pixels > base.max_pixels)
            return Error{"min_pixels " + std::to_string(*overrides.min_pixels) +
                         " is above the server's max_pixels of " + std::to_string(base.max_pixels)};
        o.min_pixels = *overrides.min_pixels;
    }
    if (o.max_pixels < o.min_pixels)
        return Error{"max_pixels (" + std::to_string(o.max_pixels) +
                     ") must be at least min_pixels (" + std::to_string(o.min_pixels) + ")"};
    return o;
}

}  // namespace autoglm
