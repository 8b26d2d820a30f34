// GLM-4.1V image preprocessing: smart_resize sizes and token counts (spec table, no goldens
// needed), the pixel_values layout, and pixel values against transformers' Glm4vImageProcessor
// (tests/data/images/goldens.*, tools/golden/make_image_goldens.py; skipped when absent).
#include "model/glm4v/image_processor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "loader/safetensors.h"
#include "util/golden.h"

namespace autoglm {
namespace {

const std::string kImageDir = std::string(AUTOGLM_TEST_DATA_DIR) + "/images";

Glm4vImageProcessor processor_with(int64_t min_pixels, int64_t max_pixels) {
    Glm4vImageProcessorOptions options;
    options.min_pixels = min_pixels;
    options.max_pixels = max_pixels;
    return Glm4vImageProcessor(Glm4vVisionConfig{}, options);
}

TEST(SmartResize, SpecTable) {
    struct Case {
        int64_t width, height, max_pixels, want_w, want_h, tokens;
    };
    const Case cases[] = {
        {1080, 2400, 9633792, 1092, 2408, 3354},  {1080, 2400, 11760000, 1092, 2408, 3354},
        {1080, 2400, 47040000, 1092, 2408, 3354}, {1080, 2400, 5000000, 1036, 2352, 3108},
        {720, 1600, 9633792, 728, 1596, 1482},    {1000, 700, 9633792, 1008, 700, 900},
        {30, 500, 9633792, 28, 504, 18},
    };
    for (const Case& c : cases) {
        const auto proc = processor_with(12544, c.max_pixels);
        auto size = proc.target_size(c.height, c.width);
        ASSERT_TRUE(size.ok()) << size.error_message();
        EXPECT_EQ(size.value().width, c.want_w) << c.width << "x" << c.height;
        EXPECT_EQ(size.value().height, c.want_h) << c.width << "x" << c.height;
        auto tokens = proc.num_image_tokens(c.height, c.width);
        ASSERT_TRUE(tokens.ok());
        EXPECT_EQ(tokens.value(), c.tokens) << c.width << "x" << c.height;
    }
}

TEST(SmartResize, RoundsHalfToEvenAndHandlesEdges) {
    SmartResizeParams p;
    // 70 / 28 = 2.5 -> 2 (Python round), not 3; 126 / 28 = 4.5 -> 4; 2*56*112 = 12544 is not
    // below the minimum, so no upscaling.
    auto s = glm4v_smart_resize(70, 126, p);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.value().height, 56);
    EXPECT_EQ(s.value().width, 112);
    s = glm4v_smart_resize(126 * 2, 70 * 4, p);  // 252 / 28 = 9, 280 / 28 = 10: no rounding
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.value().height, 252);
    EXPECT_EQ(s.value().width, 280);
    s = glm4v_smart_resize(28 * 10 + 14, 28 * 11 + 14, p);  // 10.5 -> 10, 11.5 -> 12
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.value().height, 280);
    EXPECT_EQ(s.value().width, 336);
    EXPECT_FALSE(glm4v_smart_resize(30, 7000, p).ok());  // aspect ratio 233 > 200
    EXPECT_FALSE(glm4v_smart_resize(0, 100, p).ok());
    s = glm4v_smart_resize(10, 10, p);  // tiny: scaled to 28x28, then up to the pixel minimum
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.value().height, 84);
    EXPECT_EQ(s.value().width, 84);
}

// A resized picture whose every pixel encodes its position, cut into rows and checked one entry
// at a time against the spec's index formulas.
TEST(ImageProcessor, PatchLayoutIsMergeWindowMajor) {
    const Glm4vImageProcessor proc(Glm4vVisionConfig{});
    RgbImage im = RgbImage::zeros(84, 56);  // grid 4 x 6
    for (int64_t y = 0; y < im.height; ++y)
        for (int64_t x = 0; x < im.width; ++x)
            for (int c = 0; c < 3; ++c)
                im.row(y)[x * 3 + c] = static_cast<uint8_t>((x * 3 + y * 5 + c * 11) % 256);
    const Glm4vProcessedImage out = proc.patchify(im);
    ASSERT_EQ(out.grid_h, 4);
    ASSERT_EQ(out.grid_w, 6);
    ASSERT_EQ(out.patch_dim, 1176);
    ASSERT_EQ(out.num_tokens, 6);
    ASSERT_EQ(out.pixel_values.size(), 24u * 1176);
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    const float stdv[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    int64_t checked = 0;
    for (int64_t row = 0; row < 24; ++row) {
        const int64_t window = row / 4, a = window / 3, b = window % 3;
        const int64_t ph = 2 * a + (row % 4) / 2, pw = 2 * b + row % 2;
        for (int c = 0; c < 3; ++c)
            for (int t = 0; t < 2; ++t)
                for (int y = 0; y < 14; ++y)
                    for (int x = 0; x < 14; ++x) {
                        const uint8_t v = im.row(ph * 14 + y)[(pw * 14 + x) * 3 + c];
                        const float want =
                            (static_cast<float>(v) - mean[c] * 255.0f) / (stdv[c] * 255.0f);
                        const float got =
                            out.pixel_values[row * 1176 + c * 392 + t * 196 + y * 14 + x];
                        ASSERT_EQ(got, want) << "row " << row << " c " << c << " t " << t;
                        ++checked;
                    }
    }
    EXPECT_EQ(checked, 24 * 1176);
}

TEST(ImageProcessor, ProcessResizesToTheTargetGrid) {
    const Glm4vImageProcessor proc(Glm4vVisionConfig{});
    RgbImage im = RgbImage::zeros(500, 30);
    auto out = proc.process(im);
    ASSERT_TRUE(out.ok()) << out.error_message();
    EXPECT_EQ(out.value().resized.height, 28);
    EXPECT_EQ(out.value().resized.width, 504);
    EXPECT_EQ(out.value().num_tokens, 18);
    EXPECT_EQ(static_cast<int64_t>(out.value().pixel_values.size()), 36 * 2 * 1176);
    EXPECT_FALSE(proc.process(RgbImage::zeros(7000, 30)).ok());
}

// The compact form (resized bytes + table) expands to exactly the rows process() makes, with
// and without a resize, under the default and a custom normalization.
TEST(ImageProcessor, CompactFormExpandsToTheSameRows) {
    Glm4vImageProcessorOptions custom;
    custom.image_mean = {0.1f, 0.5f, 0.9f};
    custom.image_std = {0.2f, 0.3f, 0.4f};
    custom.max_pixels = 300'000;
    uint32_t state = 7;
    for (const Glm4vImageProcessorOptions& options : {Glm4vImageProcessorOptions{}, custom}) {
        const Glm4vImageProcessor proc(Glm4vVisionConfig{}, options);
        for (const auto& [w, h] : {std::pair<int64_t, int64_t>{333, 517}, {56, 112}}) {
            RgbImage im = RgbImage::zeros(w, h);
            for (uint8_t& v : im.pixels)
                v = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
            auto full = proc.process(im);
            ASSERT_TRUE(full.ok()) << full.error_message();
            Glm4vImageWorkspace ws;
            ASSERT_TRUE(proc.process_compact_into(im, ws).ok());
            const Glm4vProcessedImage& c = ws.out;
            ASSERT_TRUE(c.compact());
            EXPECT_TRUE(c.pixel_values.empty());
            EXPECT_EQ(c.grid_h, full.value().grid_h);
            EXPECT_EQ(c.grid_w, full.value().grid_w);
            EXPECT_EQ(c.num_tokens, full.value().num_tokens);
            EXPECT_EQ(c.resized_rgb.width, full.value().resized.width);
            EXPECT_EQ(c.resized_rgb.height, full.value().resized.height);
            const std::vector<float> rows = pixel_values_of(c);
            ASSERT_EQ(rows.size(), full.value().pixel_values.size());
            EXPECT_TRUE(rows == full.value().pixel_values) << w << "x" << h;
            EXPECT_TRUE(pixel_values_of(full.value()) == full.value().pixel_values);
        }
    }
    // Size errors are the same as process()'s.
    Glm4vImageWorkspace ws;
    EXPECT_FALSE(Glm4vImageProcessor(Glm4vVisionConfig{})
                     .process_compact_into(RgbImage::zeros(7000, 30), ws)
                     .ok());
}

// Compares our pixel_values with the reference's frame-0 columns ([N, 3 * 196]).
void compare_pixels(const Glm4vProcessedImage& got, const float* want, const std::string& label) {
    const float stdv[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    int64_t total = 0, exact = 0, within = 0, frame_mismatch = 0;
    double max_lsb = 0;
    for (int64_t r = 0; r < got.num_patches(); ++r) {
        for (int c = 0; c < 3; ++c) {
            for (int k = 0; k < 196; ++k) {
                const float g = got.pixel_values[r * 1176 + c * 392 + k];
                const float w = want[r * 588 + c * 196 + k];
                frame_mismatch += got.pixel_values[r * 1176 + c * 392 + 196 + k] != g;
                const double lsb = std::fabs(double{g} - w) * stdv[c] * 255.0;
                max_lsb = std::max(max_lsb, lsb);
                exact += g == w;
                within += lsb <= 1.0 + 1e-3;
                ++total;
            }
        }
    }
    std::printf("%-22s %7lld values: %.5f exact, %.5f within 1/255, max diff %.3f LSB\n",
                label.c_str(), static_cast<long long>(total), double(exact) / total,
                double(within) / total, max_lsb);
    EXPECT_EQ(frame_mismatch, 0) << label;
    EXPECT_GE(double(within) / total, 0.999) << label;
}

TEST(ImageProcessorGolden, MatchesTransformers) {
    const std::string json_path = kImageDir + "/goldens.json";
    const std::string st_path = kImageDir + "/goldens.safetensors";
    if (!std::filesystem::exists(json_path) || !std::filesystem::exists(st_path))
        GTEST_SKIP() << "no image goldens; run tools/golden/make_image_goldens.py";
    const auto g = nlohmann::json::parse(testing::read_text(json_path));
    auto st = SafetensorsFile::open(st_path);
    ASSERT_TRUE(st.ok()) << st.error_message();
    for (const auto& e : g.at("images")) {
        const std::string name = e.at("name");
        const std::string bytes =
            testing::read_text(kImageDir + "/" + e.at("file").get<std::string>());
        auto image = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        ASSERT_TRUE(image.ok()) << name << ": " << image.error_message();
        const auto proc = processor_with(e.at("min_pixels"), e.at("max_pixels"));
        auto out = proc.process(image.value());
        ASSERT_TRUE(out.ok()) << name << ": " << out.error_message();
        const auto thw = e.at("grid_thw").get<std::vector<int64_t>>();
        ASSERT_EQ(out.value().grid_h, thw[1]) << name;
        ASSERT_EQ(out.value().grid_w, thw[2]) << name;
        EXPECT_EQ(out.value().num_tokens, e.at("num_tokens").get<int64_t>()) << name;
        const TensorView v = st.value().view(e.at("tensor").get<std::string>());
        ASSERT_EQ(v.numel(), out.value().num_patches() * 588) << name;
        compare_pixels(out.value(), static_cast<const float*>(v.data), name);
    }
}

TEST(ImageProcessorGolden, TokenCountsMatchTransformers) {
    const std::string json_path = kImageDir + "/goldens.json";
    if (!std::filesystem::exists(json_path))
        GTEST_SKIP() << "no image goldens; run tools/golden/make_image_goldens.py";
    const auto g = nlohmann::json::parse(testing::read_text(json_path));
    int num = 0;
    for (const auto& e : g.at("sizes")) {
        const auto proc = processor_with(e.at("min_pixels"), e.at("max_pixels"));
        auto size = proc.target_size(e.at("height"), e.at("width"));
        ASSERT_TRUE(size.ok());
        const auto thw = e.at("grid_thw").get<std::vector<int64_t>>();
        EXPECT_EQ(size.value().height / 14, thw[1]) << e.dump();
        EXPECT_EQ(size.value().width / 14, thw[2]) << e.dump();
        EXPECT_EQ(proc.num_image_tokens(e.at("height"), e.at("width")).value(),
                  e.at("num_tokens").get<int64_t>())
            << e.dump();
        ++num;
    }
    EXPECT_GE(num, 5);
}

}  // namespace
}  // namespace autoglm
