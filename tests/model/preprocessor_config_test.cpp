// The image processor built from preprocessor_config.json files against transformers 5.17
// (tools/golden/make_processor_goldens.py): 8 configs x 5 computed pictures, grids, token counts
// and every pixel value (an FNV-1a hash per merge window, the first row in full); the errors a bad
// file gets; the mm_processor_kwargs overrides.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "model/glm4v/image_processor.h"
#include "model/glm4v/model.h"
#include "util/golden.h"
#include "util/temp_dir.h"

namespace autoglm {
namespace {

using nlohmann::json;

const std::string kDir = std::string(AUTOGLM_TEST_DATA_DIR) + "/processor";

// The picture the golden script computes: ((7x + 13y + 85c + ((x*y) >> 4) + ((x ^ y) & 63)) & 255.
RgbImage formula_image(int64_t w, int64_t h) {
    RgbImage img = RgbImage::zeros(w, h);
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
            for (int64_t c = 0; c < 3; ++c)
                img.row(y)[x * 3 + c] = static_cast<uint8_t>(
                    (7 * x + 13 * y + 85 * c + ((x * y) >> 4) + ((x ^ y) & 63)) & 255);
    return img;
}

// FNV-1a 64 over the float32 bytes of each group of 4 rows (one LLM token).
std::vector<int64_t> token_hashes(const Glm4vProcessedImage& px) {
    const size_t group = static_cast<size_t>(4 * px.patch_dim) * sizeof(float);
    const auto* bytes = reinterpret_cast<const uint8_t*>(px.pixel_values.data());
    std::vector<int64_t> out;
    for (size_t off = 0; off + group <= px.pixel_values.size() * sizeof(float); off += group) {
        uint64_t h = 0xCBF29CE484222325ull;
        for (size_t j = 0; j < group; ++j) h = (h ^ bytes[off + j]) * 0x100000001B3ull;
        out.push_back(static_cast<int64_t>(h));
    }
    return out;
}

Result<Glm4vImageProcessorOptions> load_config_file(const std::string& name) {
    testing::TempDir dir;
    testing::write_file(dir.file("preprocessor_config.json"),
                        testing::read_text(kDir + "/configs/" + name + ".json"));
    return load_glm4v_preprocessor_config(dir.path());
}

TEST(PreprocessorGolden, EveryConfigAndPictureEqualsTransformers) {
    const json meta = json::parse(testing::read_text(kDir + "/goldens.json"));
    auto file = SafetensorsFile::open(kDir + "/goldens.safetensors");
    ASSERT_TRUE(file.ok()) << file.error_message();
    ASSERT_EQ(meta["configs"].size(), 8u);
    int checked = 0;
    for (const auto& [name, cfg] : meta["configs"].items()) {
        auto options = load_config_file(name);
        ASSERT_TRUE(options.ok()) << name << ": " << options.error_message();
        const json& size = cfg["loaded"]["size"];
        SCOPED_TRACE(name + " (transformers: " + size.dump() + ")");
        const Glm4vImageProcessor processor(Glm4vVisionConfig{}, options.value());
        for (const auto& [image, want] : cfg["images"].items()) {
            SCOPED_TRACE(image);
            auto px = processor.process(formula_image(want["width"], want["height"]));
            ASSERT_TRUE(px.ok()) << px.error_message();
            const Glm4vProcessedImage& got = px.value();
            EXPECT_EQ((std::vector<int64_t>{got.grid_t, got.grid_h, got.grid_w}),
                      want["grid_thw"].get<std::vector<int64_t>>());
            EXPECT_EQ(got.num_tokens, want["num_tokens"].get<int64_t>());
            const std::string key = name + "." + image;
            const auto row0 = testing::read_tensor<float>(file.value(), key + ".row0");
            ASSERT_EQ(row0.size(), static_cast<size_t>(got.patch_dim));
            for (size_t i = 0; i < row0.size(); ++i)
                ASSERT_EQ(got.pixel_values[i], row0[i]) << "row 0, column " << i;
            const auto want_hash = testing::read_tensor<int64_t>(file.value(), key + ".token_hash");
            const auto got_hash = token_hashes(got);
            ASSERT_EQ(got_hash.size(), want_hash.size());
            for (size_t t = 0; t < got_hash.size(); ++t)
                ASSERT_EQ(got_hash[t], want_hash[t]) << "first differing token: " << t;
            ++checked;
        }
    }
    EXPECT_EQ(checked, 40);
}

TEST(PreprocessorGolden, FileValuesAreReadAsTransformersReadsThem) {
    const json meta = json::parse(testing::read_text(kDir + "/goldens.json"));
    for (const char* name :
         {"default", "cap5m", "small_meanstd", "normalize_only", "legacy_pixels"}) {
        SCOPED_TRACE(name);
        auto o = load_config_file(name);
        ASSERT_TRUE(o.ok()) << o.error_message();
        const json& loaded = meta["configs"][name]["loaded"];
        for (size_t c = 0; c < 3; ++c) {
            EXPECT_EQ(o.value().image_mean[c], loaded["image_mean"][c].get<float>());
            EXPECT_EQ(o.value().image_std[c], loaded["image_std"][c].get<float>());
        }
        EXPECT_EQ(o.value().do_rescale, loaded["do_rescale"].get<bool>());
        EXPECT_EQ(o.value().do_normalize, loaded["do_normalize"].get<bool>());
    }
    // The older spelling changes nothing in transformers 5.17: the class default budget holds.
    auto legacy = load_config_file("legacy_pixels");
    ASSERT_TRUE(legacy.ok());
    EXPECT_EQ(legacy.value().min_pixels, 12544);
    EXPECT_EQ(legacy.value().max_pixels, 11760000);
    ASSERT_EQ(legacy.value().notes.size(), 2u);
    EXPECT_NE(legacy.value().notes[1].find("--mm-processor-kwargs"), std::string::npos);
    auto cap = load_config_file("cap5m");
    ASSERT_TRUE(cap.ok());
    EXPECT_EQ(cap.value().max_pixels, 5000000);
    EXPECT_NE(cap.value().source.find("preprocessor_config.json"), std::string::npos);
}

TEST(PreprocessorConfig, NoFileMeansTheGlm41vDefaults) {
    testing::TempDir dir;
    auto o = load_glm4v_preprocessor_config(dir.path());
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o.value().max_pixels, 9633792);
    EXPECT_EQ(o.value().min_pixels, 12544);
    EXPECT_NE(o.value().source.find("no preprocessor_config.json"), std::string::npos);
}

TEST(PreprocessorConfig, BadFilesNameTheFileAndKey) {
    const std::string base =
        R"({"size": {"shortest_edge": 12544, "longest_edge": 9633792}, "patch_size": 14, )";
    const std::pair<std::string, std::string> cases[] = {
        {base + R"("image_processor_type": "Qwen2VLImageProcessor"})", "image_processor_type"},
        {base + R"("resample": 2})", "resample"},
        {base + R"("do_resize": false})", "do_resize"},
        {base + R"("do_center_crop": true})", "do_center_crop"},
        {base + R"("crop_size": {"height": 224, "width": 224}})", "crop_size"},
        {base + R"("image_mean": [0.5, 0.5]})", "image_mean"},
        {base + R"("rescale_factor": -1})", "rescale_factor"},
        {R"({"size": {"height": 448, "width": 448}})", "size.height"},
        {R"({"size": {"longest_edge": 448}})", "size"},
        {R"({"size": {"shortest_edge": 5000, "longest_edge": 4000}})", "max_pixels"},
        {R"([1, 2])", "not a JSON object"},
    };
    for (const auto& [text, key] : cases) {
        auto o = parse_glm4v_preprocessor_config(text, "/ckpt/preprocessor_config.json");
        ASSERT_FALSE(o.ok()) << text;
        EXPECT_NE(o.error_message().find("/ckpt/preprocessor_config.json"), std::string::npos)
            << o.error_message();
        EXPECT_NE(o.error_message().find(key), std::string::npos) << o.error_message();
    }
    // A processor whose patch disagrees with the vision tower is refused with both names.
    auto o = parse_glm4v_preprocessor_config(base + R"("merge_size": 3})", "p.json");
    ASSERT_TRUE(o.ok()) << o.error_message();
    const Status s = check_image_processor_options(o.value(), Glm4vVisionConfig{});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error_message().find("spatial_merge_size"), std::string::npos) << s.error_message();
}

TEST(PreprocessorConfig, AModelFolderLoadsItsProcessorOrFails) {
    testing::TempDir dir;
    const std::string src = std::string(AUTOGLM_TEST_DATA_DIR) + "/tiny_f32/model/";
    for (const char* f : {"config.json", "model.safetensors"})
        std::filesystem::copy_file(src + f, dir.file(f));
    LoadOptions options;
    options.model = dir.path();
    auto plain = Glm4vModel::load(options);
    ASSERT_TRUE(plain.ok()) << plain.error_message();
    EXPECT_EQ(plain.value()->image_processor_options().max_pixels, 9633792);
    testing::write_file(dir.file("preprocessor_config.json"),
                        testing::read_text(kDir + "/configs/small_meanstd.json"));
    auto small = Glm4vModel::load(options);
    ASSERT_TRUE(small.ok()) << small.error_message();
    EXPECT_EQ(small.value()->image_processor_options().max_pixels, 200704);
    testing::write_file(dir.file("preprocessor_config.json"), R"({"resample": 0})");
    auto bad = Glm4vModel::load(options);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error_message().find("resample"), std::string::npos) << bad.error_message();
}

TEST(PixelOverrides, MaxPixels5MGivesOpenAutoGlmsTokenCount) {
    auto kwargs = parse_pixel_overrides(R"({"max_pixels": 5000000})", "--mm-processor-kwargs");
    ASSERT_TRUE(kwargs.ok()) << kwargs.error_message();
    auto options = apply_pixel_overrides(Glm4vImageProcessorOptions{}, kwargs.value(), true);
    ASSERT_TRUE(options.ok());
    const Glm4vImageProcessor processor(Glm4vVisionConfig{}, options.value());
    EXPECT_EQ(processor.num_image_tokens(2400, 1080).value(), 3108);
    EXPECT_EQ(Glm4vImageProcessor(Glm4vVisionConfig{}).num_image_tokens(2400, 1080).value(), 3354);
    auto size =
        parse_pixel_overrides(R"({"size": {"shortest_edge": 3136, "longest_edge": 5000000}})", "x");
    ASSERT_TRUE(size.ok());
    EXPECT_EQ(size.value().max_pixels, 5000000);
    EXPECT_EQ(size.value().min_pixels, 3136);
}

TEST(PixelOverrides, ARequestMayLowerTheCapButNotRaiseIt) {
    const Glm4vImageProcessorOptions server;  // max 9633792
    auto lower = apply_pixel_overrides(server, {std::nullopt, 1000000}, false);
    ASSERT_TRUE(lower.ok());
    EXPECT_EQ(lower.value().max_pixels, 1000000);
    auto higher = apply_pixel_overrides(server, {std::nullopt, 20000000}, false);
    ASSERT_FALSE(higher.ok());
    EXPECT_NE(higher.error_message().find("max_pixels"), std::string::npos);
    EXPECT_FALSE(apply_pixel_overrides(server, {20000000, std::nullopt}, false).ok());
    EXPECT_FALSE(apply_pixel_overrides(server, {500000, 400000}, true).ok());
    for (const char* bad : {R"({"max_pixels": 0})", R"({"max_pixels": "big"})",
                            R"({"max_pixels": 1e30})", R"({"fps": 2})", R"({"size": 3})", "[]"}) {
        auto o = parse_pixel_overrides(bad, "mm_processor_kwargs");
        EXPECT_FALSE(o.ok()) << bad;
    }
}

}  // namespace
}  // namespace autoglm
