// The CUDA model against transformers' goldens on the tiny fixtures (bf16 weights and
// activations on the GPU, so the tolerance is bf16's: 3e-2 of max|ref| per tap) and greedy ids
// equal to transformers' through the paged KV cache and the decode graphs. Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/cuda_check.h"
#include "core/device_buffer.h"
#include "loader/safetensors.h"
#include "model/glm4v/cuda_model.h"
#include "model/glm4v/image_processor.h"
#include "model/glm4v/rope_index.h"
#include "util/fp8_vision.h"
#include "util/golden.h"

namespace autoglm {
namespace {

#define REQUIRE_GPU() \
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_device_summary()

constexpr double kBf16Tolerance = 3e-2;
// FP8 paths (e4m3: 3 mantissa bits on weights and activations), of max|ref| per tap.
constexpr double kFp8Tolerance = 0.1;

// The GPU's FP8 vision taps each within kFp8Tolerance of the CPU emulation's (same taps, same
// order); prints the worst as "<label> FP8 vision on CUDA against the CPU emulation: ...".
void expect_near_emulation(const testing::Recorder& gpu, const testing::Recorder& emulated,
                           const std::string& label) {
    ASSERT_EQ(gpu.order, emulated.order);
    double worst = 0;
    std::string worst_name;
    for (const std::string& name : gpu.order) {
        const double err = testing::relative_error(gpu.tensors.at(name), emulated.tensors.at(name));
        EXPECT_LE(err, kFp8Tolerance) << name << " against the CPU emulation";
        if (err >= worst) worst = err, worst_name = name;
    }
    std::printf("%s FP8 vision on CUDA against the CPU emulation: worst %.3g at '%s'\n",
                label.c_str(), worst, worst_name.c_str());
}

std::unique_ptr<Glm4vModel> load_fixture(const std::string& fixture) {
    LoadOptions options;
    options.model = std::string(AUTOGLM_TEST_DATA_DIR) + "/" + fixture + "/model";
    auto model = Glm4vModel::load(options);
    EXPECT_TRUE(model.ok()) << model.error_message();
    return model.ok() ? std::move(model).value() : nullptr;
}

// tests/data/<fixture>/<name>.safetensors (the transformers goldens).
Result<SafetensorsFile> open_golden(const std::string& fixture, const std::string& name) {
    return SafetensorsFile::open(std::string(AUTOGLM_TEST_DATA_DIR) + "/" + fixture + "/" + name +
                                 ".safetensors");
}

std::unique_ptr<CudaGlm4vModel> to_gpu(const Glm4vModel& host, bool graphs = true, bool fp8 = false,
                                       bool fp8_kv = false, int tp = 1, bool fp8_vision = false) {
    CudaModelOptions o;
    o.fp8_weights = fp8;
    o.fp8_vision = fp8_vision;
    o.fp8_kv = fp8_kv;
    o.max_num_tokens = 512;
    o.max_num_seqs = 256;  // the layer-tap runs ask for every token's logits
    o.max_model_len = 256;
    o.cuda_graphs = graphs;
    auto m = CudaGlm4vModel::create_tensor_parallel(host, o, tp);
    EXPECT_TRUE(m.ok()) << m.error_message();
    if (!m.ok()) return nullptr;
    EXPECT_TRUE(m.value()->allocate_kv_pool(64).ok());
    return std::move(m).value();
}

void expect_taps(const testing::Recorder& rec, const SafetensorsFile& g, const std::string& prefix,
                 const std::string& label, size_t expected_taps,
                 double tolerance = kBf16Tolerance) {
    ASSERT_EQ(rec.order.size(), expected_taps) << label;
    double worst = 0;
    std::string worst_name;
    for (const std::string& name : rec.order) {
        ASSERT_TRUE(g.contains(prefix + name)) << "golden lacks " << prefix + name;
        const auto v = g.view(prefix + name);
        std::vector<float> want(static_cast<size_t>(v.numel()));
        to_f32(v.dtype, v.data, want.data(), want.size());
        const double err = testing::relative_error(rec.tensors.at(name), want);
        ASSERT_LE(err, tolerance) << label << ": first mismatch at '" << name << "' (" << err
                                  << ")";
        if (err >= worst) worst = err, worst_name = name;
    }
    std::printf("%s on CUDA: %zu taps within %.0e; worst %.3g at '%s'\n", label.c_str(),
                rec.order.size(), tolerance, worst, worst_name.c_str());
}

// Greedy decoding of one sequence on the GPU: prefill, then one token per step (graphs).
std::vector<int32_t> gpu_greedy(CudaGlm4vModel& gpu, std::span<const int32_t> prompt,
                                std::span<const Position3> positions,
                                std::span<const cuda::bf16* const> image_rows, int64_t rope_delta,
                                int64_t steps, int32_t image_token_id,
                                std::vector<std::vector<float>>* step_logits = nullptr) {
    const auto n = static_cast<int64_t>(prompt.size());
    const int64_t bs = gpu.block_size(), total = n + steps;
    std::vector<int32_t> table;
    for (int64_t b = 0; b < (total + bs - 1) / bs; ++b) table.push_back(static_cast<int32_t>(b));
    const auto mb = static_cast<int64_t>(table.size());
    std::vector<int64_t> slots(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) slots[static_cast<size_t>(i)] = i;
    const int32_t qs[2] = {0, static_cast<int32_t>(n)};
    int32_t len[1] = {static_cast<int32_t>(n)};
    const int32_t last[1] = {static_cast<int32_t>(n - 1)};
    gpu.forward(
        ForwardBatch{
            prompt, positions, slots, qs, len, table, mb, last, {}, image_token_id, nullptr},
        image_rows);
    const int64_t vocab = gpu.config().text.vocab_size;
    auto keep = [&] {
        if (!step_logits) return;
        step_logits->emplace_back(static_cast<size_t>(vocab));
        gpu.copy_logits(step_logits->back().data());
    };
    keep();
    std::vector<int32_t> out{gpu.argmax()[0]};
    for (int64_t i = 1; i < steps; ++i) {
        const int32_t tok[1] = {out.back()};
        const auto pos = text_positions(n + i - 1 + rope_delta, 1);
        const int64_t slot[1] = {n + i - 1};
        const int32_t qs1[2] = {0, 1};
        len[0] = static_cast<int32_t>(n + i);
        const int32_t first[1] = {0};
        gpu.forward(ForwardBatch{tok, pos, slot, qs1, len, table, mb, first, {}, -1, nullptr});
        keep();
        out.push_back(gpu.argmax()[0]);
    }
    return out;
}

// One no-cache forward of a whole sequence from position 0, keeping every row's logits (blocks
// 0, 1, ... of the pool in order); `obs` taps the layers. Text positions unless `positions` are
// given; `image_rows` replace the embeddings of the tokens equal to `image_token_id`.
void forward_all_rows(CudaGlm4vModel& gpu, std::span<const int32_t> tokens,
                      LayerObserver* obs = nullptr, std::span<const Position3> positions = {},
                      std::span<const cuda::bf16* const> image_rows = {},
                      int32_t image_token_id = -1) {
    const auto n = static_cast<int64_t>(tokens.size());
    const auto text = text_positions(0, n);
    std::vector<int64_t> slots(tokens.size());
    std::vector<int32_t> rows(tokens.size());
    for (int64_t i = 0; i < n; ++i) slots[i] = i, rows[i] = static_cast<int32_t>(i);
    const int32_t qs[2] = {0, static_cast<int32_t>(n)}, len[1] = {static_cast<int32_t>(n)};
    std::vector<int32_t> table;
    for (int64_t b = 0; b < (n + 15) / 16; ++b) table.push_back(static_cast<int32_t>(b));
    gpu.forward(ForwardBatch{tokens,
                             positions.empty() ? std::span<const Position3>(text) : positions,
                             slots,
                             qs,
                             len,
                             table,
                             static_cast<int64_t>(table.size()),
                             rows,
                             {},
                             image_token_id,
                             obs},
                image_rows);
}

// A vision golden's two-image prompt: its ids and M-RoPE positions, its first two images
// encoded by `gpu`, and the embedding rows that replace the image tokens (empty on failure).
struct MultimodalPrompt {
    std::vector<int32_t> ids;
    RopePositions rope;
    DeviceImageEmbeddings embeddings;
    std::vector<const cuda::bf16*> rows;
};

MultimodalPrompt multimodal_prompt(CudaGlm4vModel& gpu, const Glm4vConfig& cfg,
                                   const SafetensorsFile& g, const std::vector<float>& pixels,
                                   const std::vector<ImageGrid>& grids) {
    MultimodalPrompt mm;
    mm.ids = testing::read_tensor<int32_t>(g, "mm.input_ids");
    const std::vector<ImageGrid> two(grids.begin(), grids.begin() + 2);
    auto rope = compute_rope_positions(mm.ids, two, cfg);
    EXPECT_TRUE(rope.ok()) << rope.error_message();
    if (!rope.ok()) return mm;
    mm.rope = std::move(rope).value();
    int64_t num_patches = 0;
    for (const ImageGrid& gr : two) num_patches += gr.num_patches();
    const std::span<const float> px(
        pixels.data(), static_cast<size_t>(num_patches * cfg.vision.patch_input_dim()));
    mm.embeddings = gpu.encode_images(px, two);
    for (int64_t i = 0; i < mm.embeddings.num_tokens; ++i)
        mm.rows.push_back(mm.embeddings.row(i, cfg.text.hidden_size));
    return mm;
}

class CudaGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGolden, TextLayersLogitsAndGreedyMatchTransformers) {
    REQUIRE_GPU();
    auto host = load_fixture(GetParam());
    ASSERT_TRUE(host);
    auto gpu = to_gpu(*host);
    ASSERT_TRUE(gpu);
    auto f = open_golden(GetParam(), "golden");
    ASSERT_TRUE(f.ok()) << f.error_message();
    const auto ids = testing::read_tensor<int32_t>(f.value(), "input_ids");
    const auto n = static_cast<int64_t>(ids.size());
    const auto positions = text_positions(0, n);
    testing::Recorder rec;
    forward_all_rows(*gpu, ids, &rec);
    expect_taps(rec, f.value(), "", GetParam(),
                static_cast<size_t>(host->config().text.num_hidden_layers + 3));
    const auto want = testing::read_tensor<int32_t>(f.value(), "generated_ids");
    ASSERT_EQ(want.size(), 32u);

    // Teacher-forced over the reference's own continuation: where the GPU's argmax differs from
    // transformers', the f32 reference's top-2 gap must be a near tie (under twice the row's
    // largest GPU-vs-reference logit error); a wrong logit anywhere else fails.
    std::vector<int32_t> seq(ids.begin(), ids.end());
    seq.insert(seq.end(), want.begin(), want.end() - 1);
    const auto L = static_cast<int64_t>(seq.size());
    const auto seq_pos = text_positions(0, L);
    forward_all_rows(*gpu, seq);
    const int64_t vocab = host->config().text.vocab_size;
    std::vector<float> gpu_logits(static_cast<size_t>(L * vocab));
    gpu->copy_logits(gpu_logits.data());
    DenseKvCache cache(host->config().text, L);
    const auto cpu_logits =
        host->text().forward(TextForwardArgs{seq, seq_pos, /*all_logits=*/true}, cache);
    int64_t first_tie = 32, flips = 0;
    for (int64_t s = 0; s < 32; ++s) {
        const int64_t row = n - 1 + s;
        const std::span<const float> c(cpu_logits.data() + row * vocab, static_cast<size_t>(vocab));
        const std::span<const float> g(gpu_logits.data() + row * vocab, static_cast<size_t>(vocab));
        std::vector<float> sorted(c.begin(), c.end());
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
        // A near tie: the reference's top-2 gap is within twice this row's largest GPU error.
        float err = 0;
        for (int64_t j = 0; j < vocab; ++j) err = std::max(err, std::fabs(g[j] - c[j]));
        const bool near_tie = sorted[0] - sorted[1] < 2 * err;
        if (near_tie) first_tie = std::min(first_tie, s);
        if (argmax(g) != want[static_cast<size_t>(s)]) {
            ++flips;
            EXPECT_TRUE(near_tie) << "step " << s << ": GPU argmax " << argmax(g) << " vs "
                                  << want[static_cast<size_t>(s)] << " with a top-2 gap of "
                                  << sorted[0] - sorted[1] << " (row error " << err << ")";
        }
    }
    // Free-running through the paged cache and the decode graphs: at every step the decode
    // path's logits equal, within bf16 tolerance, the prefill path's logits for the sequence it
    // produced (so decoding is checked at all 32 steps, ties or not).
    std::vector<std::vector<float>> step_logits;
    const auto got = gpu_greedy(*gpu, ids, positions, {}, 0, 32, -1, &step_logits);
    std::vector<int32_t> own(ids.begin(), ids.end());
    own.insert(own.end(), got.begin(), got.end() - 1);
    forward_all_rows(*gpu, own);
    gpu->copy_logits(gpu_logits.data());
    double worst_step = 0;
    for (int64_t s = 0; s < 32; ++s) {
        const float* p = gpu_logits.data() + (n - 1 + s) * vocab;
        const std::vector<float> prefill(p, p + vocab);
        const double err = testing::relative_error(step_logits[static_cast<size_t>(s)], prefill);
        EXPECT_LE(err, kBf16Tolerance) << "decode step " << s;
        worst_step = std::max(worst_step, err);
    }
    std::printf(
        "%s on CUDA: greedy equal to transformers for %lld of 32 steps (first near tie at "
        "%lld); teacher-forced argmax flips %lld, all at near ties; decode vs prefill "
        "logits worst %.3g\n",
        GetParam().c_str(),
        static_cast<long long>(std::mismatch(got.begin(), got.end(), want.begin()).first -
                               got.begin()),
        static_cast<long long>(first_tie), static_cast<long long>(flips), worst_step);
    EXPECT_GT(gpu->graphs_captured(), 0);
}

TEST_P(CudaGolden, VisionTowerAndMultimodalMatchTransformers) {
    REQUIRE_GPU();
    auto host = load_fixture(GetParam());
    ASSERT_TRUE(host);
    auto gpu = to_gpu(*host);
    ASSERT_TRUE(gpu);
    const Glm4vConfig& cfg = host->config();
    auto f = open_golden(GetParam(), "vision_golden");
    ASSERT_TRUE(f.ok()) << f.error_message();
    const SafetensorsFile& g = f.value();
    const std::vector<ImageGrid> grids = testing::read_grids(g);
    const auto pixels = testing::read_tensor<float>(g, "pixel_values");
    {
        testing::Recorder rec;
        gpu->encode_images(pixels, grids, &rec);
        expect_taps(rec, g, "", GetParam() + " vision", static_cast<size_t>(cfg.vision.depth + 4));
    }
    // Two images in a prompt: positions, every layer, logits, then 32 greedy ids.
    const MultimodalPrompt mm = multimodal_prompt(*gpu, cfg, g, pixels, grids);
    ASSERT_FALSE(mm.rows.empty());
    testing::Recorder rec;
    forward_all_rows(*gpu, mm.ids, &rec, mm.rope.positions, mm.rows,
                     static_cast<int32_t>(cfg.image_token_id));
    expect_taps(rec, g, "mm.", GetParam() + " multimodal",
                static_cast<size_t>(cfg.text.num_hidden_layers + 3));
    EXPECT_EQ(gpu_greedy(*gpu, mm.ids, mm.rope.positions, mm.rows, mm.rope.rope_delta, 32,
                         static_cast<int32_t>(cfg.image_token_id)),
              testing::read_tensor<int32_t>(g, "mm.generated_ids"));
}

// The vision blocks in FP8 (CudaModelOptions::fp8_vision: their GEMMs on FP8 tensor cores,
// weights per output row, inputs per patch row) against the CPU's emulation of the same rules
// (testing::Fp8EmulatedVision, f32): every vision tap within kFp8Tolerance, as the text FP8 path
// is held to its torch emulation (the GPU's bf16 roundings move an element to the neighbouring
// e4m3 value here and there). Against transformers' unquantized tower, the bounds the emulation
// itself meets (VisionGolden.Fp8EmulatedBlocksStayWithinTheFp8Bounds: 0.15 for the vision taps,
// 0.25 for the multimodal prompt's layers and logits). The FP8 blocks are in use: the merger
// rows differ from the bf16 tower's.
TEST_P(CudaGolden, Fp8VisionTowerMatchesItsCpuEmulation) {
    REQUIRE_GPU();
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    if (prop.major * 10 + prop.minor < 89) GTEST_SKIP() << prop.name << " has no FP8 tensor cores";
    auto host = load_fixture(GetParam());
    ASSERT_TRUE(host);
    auto gpu = to_gpu(*host, true, false, false, 1, /*fp8_vision=*/true);
    auto plain = to_gpu(*host);
    ASSERT_TRUE(gpu && plain);
    const Glm4vConfig& cfg = host->config();
    auto f = open_golden(GetParam(), "vision_golden");
    ASSERT_TRUE(f.ok()) << f.error_message();
    const SafetensorsFile& g = f.value();
    const std::vector<ImageGrid> grids = testing::read_grids(g);
    const auto pixels = testing::read_tensor<float>(g, "pixel_values");
    testing::Recorder fp8_taps, emulated, bf16_taps;
    gpu->encode_images(pixels, grids, &fp8_taps);
    const testing::Fp8EmulatedVision cpu_fp8(*host);
    cpu_fp8.tower().forward(pixels, grids, &emulated);
    expect_near_emulation(fp8_taps, emulated, GetParam());
    if (HasFatalFailure()) return;
    expect_taps(fp8_taps, g, "", GetParam() + " FP8 vision",
                static_cast<size_t>(cfg.vision.depth + 4), 0.15);
    plain->encode_images(pixels, grids, &bf16_taps);
    double moved = 0.0;
    const auto& a = fp8_taps.tensors.at("vision.merger");
    const auto& b = bf16_taps.tensors.at("vision.merger");
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
        moved = std::max(moved, static_cast<double>(std::fabs(a[i] - b[i])));
    EXPECT_GT(moved, 0.0) << "the FP8 tower computed what the bf16 one did";
    const MultimodalPrompt mm = multimodal_prompt(*gpu, cfg, g, pixels, grids);
    ASSERT_FALSE(mm.rows.empty());
    testing::Recorder rec;
    forward_all_rows(*gpu, mm.ids, &rec, mm.rope.positions, mm.rows,
                     static_cast<int32_t>(cfg.image_token_id));
    expect_taps(rec, g, "mm.", GetParam() + " multimodal with FP8 vision",
                static_cast<size_t>(cfg.text.num_hidden_layers + 3), 0.25);
}

// The fixtures' vision head_dim (16) takes the rotary's pair-by-pair path after a scale pass;
// the demo preset's (32, dummy weights) takes the 16-byte kernel that scales q, k and v in place,
// as the full model's 128 does: there too the GPU tower stays within kFp8Tolerance of the CPU
// emulation, for two images of different sizes in one encode.
TEST(CudaFp8Vision, WideRotaryPathMatchesItsCpuEmulation) {
    REQUIRE_GPU();
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    if (prop.major * 10 + prop.minor < 89) GTEST_SKIP() << prop.name << " has no FP8 tensor cores";
    LoadOptions options;
    options.model = "demo";
    auto loaded = Glm4vModel::load(options);
    ASSERT_TRUE(loaded.ok()) << loaded.error_message();
    const Glm4vModel& host = *loaded.value();
    const Glm4vVisionConfig& vc = host.config().vision;
    ASSERT_EQ(vc.head_dim() % 32, 0) << "the demo preset no longer covers the 16-byte rotary";
    auto gpu = to_gpu(host, true, false, false, 1, /*fp8_vision=*/true);
    ASSERT_TRUE(gpu);
    const std::vector<ImageGrid> grids = {{1, 8, 12}, {1, 4, 6}};
    int64_t n = 0;
    for (const ImageGrid& g : grids) n += g.num_patches();
    std::vector<float> pixels(static_cast<size_t>(n * vc.patch_input_dim()));
    uint32_t state = 777;
    for (float& v : pixels)
        v = static_cast<float>((state = state * 1664525u + 1013904223u) >> 8) / 8388608.0f - 1.0f;
    testing::Recorder on_gpu, emulated;
    gpu->encode_images(pixels, grids, &on_gpu);
    const testing::Fp8EmulatedVision cpu_fp8(host);
    cpu_fp8.tower().forward(pixels, grids, &emulated);
    expect_near_emulation(on_gpu, emulated, "demo");
}

// The server sends a screenshot to the GPU as its resized bytes; the rows the device makes
// from them must be exactly the processor's pixel_values in bf16, so the embeddings are equal.
TEST_P(CudaGolden, CompactImagesEncodeToTheSameEmbeddings) {
    REQUIRE_GPU();
    auto host = load_fixture(GetParam());
    ASSERT_TRUE(host);
    auto gpu = to_gpu(*host);
    ASSERT_TRUE(gpu);
    const Glm4vConfig& cfg = host->config();
    Glm4vImageProcessorOptions options;
    options.max_pixels = 200'000;
    const Glm4vImageProcessor processor(cfg.vision, options);
    uint32_t state = 12345;
    // 213x151 is resized (to 224x140); 140x84 is taken as it is.
    for (const auto& [w, h] : {std::pair<int64_t, int64_t>{213, 151}, {140, 84}}) {
        RgbImage im = RgbImage::zeros(w, h);
        for (uint8_t& v : im.pixels)
            v = static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24);
        Glm4vImageWorkspace full_ws, compact_ws;
        ASSERT_TRUE(processor.process_into(im, full_ws).ok());
        ASSERT_TRUE(processor.process_compact_into(im, compact_ws).ok());
        const Glm4vProcessedImage &full = full_ws.out, &compact = compact_ws.out;
        ASSERT_TRUE(compact.compact());
        ASSERT_FALSE(full.compact());
        ASSERT_EQ(compact.num_tokens, full.num_tokens);
        const DeviceImageEmbeddings a = gpu->encode_image(full), b = gpu->encode_image(compact);
        ASSERT_EQ(a.num_tokens, full.num_tokens);
        ASSERT_EQ(b.num_tokens, full.num_tokens);
        const size_t bytes = static_cast<size_t>(a.num_tokens * cfg.text.hidden_size) * 2;
        std::vector<uint8_t> ha(bytes), hb(bytes);
        gpu->synchronize();
        ASSERT_EQ(cudaMemcpy(ha.data(), a.data.get(), bytes, cudaMemcpyDeviceToHost), cudaSuccess);
        ASSERT_EQ(cudaMemcpy(hb.data(), b.data.get(), bytes, cudaMemcpyDeviceToHost), cudaSuccess);
        EXPECT_EQ(ha, hb) << w << "x" << h;
        EXPECT_NE(ha, std::vector<uint8_t>(bytes, 0));
    }
}

TEST_P(CudaGolden, GraphsAndPlainLaunchesAgree) {
    REQUIRE_GPU();
    auto host = load_fixture(GetParam());
    ASSERT_TRUE(host);
    auto with = to_gpu(*host, true), without = to_gpu(*host, false);
    ASSERT_TRUE(with && without);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 37; ++i) prompt.push_back((i * 131 + 7) % 1000);
    const auto pos = text_positions(0, static_cast<int64_t>(prompt.size()));
    const auto a = gpu_greedy(*with, prompt, pos, {}, 0, 40, -1);
    const auto b = gpu_greedy(*without, prompt, pos, {}, 0, 40, -1);
    EXPECT_EQ(a, b);
    EXPECT_GT(with->graphs_captured(), 0);
    EXPECT_EQ(without->graphs_captured(), 0);
}

// FP8 weights against tools/golden/make_fp8_goldens.py's torch emulation of the same
// quantization (weights per output row, the LM head's too; prefill inputs per token; decode
// inputs kept): the prompt's logits (FP8 tensor-core GEMMs) and 16 greedy steps (weight-only FP8
// GEMVs over the prompt's K/V) within kFp8Tolerance, and the same ids up to the first step whose
// top-2 gap is a near tie. The tolerance is wider than bf16's because the GPU quantizes its own
// bf16 activations: where they differ from the f32 emulation's by bf16 noise, an element may land
// on the neighbouring e4m3 value, a 6 % step, and the decode steps attend to K/V computed so
// (measured on an H100 with the LM head in FP8: prompt 0.082-0.085, decode steps up to 0.06; a
// wrong scale or layout gives errors of order 1).

TEST_P(CudaGolden, Fp8WeightsMatchTheTorchEmulation) {
    REQUIRE_GPU();
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    if (prop.major * 10 + prop.minor < 89) GTEST_SKIP() << prop.name << " has no FP8 tensor cores";
    auto host = load_fixture(GetParam());
    ASSERT_TRUE(host);
    auto gpu = to_gpu(*host, true, /*fp8=*/true);
    ASSERT_TRUE(gpu);
    auto f = open_golden(GetParam(), "golden");
    auto e = open_golden(GetParam(), "fp8_golden");
    ASSERT_TRUE(f.ok() && e.ok()) << f.error_message() << e.error_message();
    const auto ids = testing::read_tensor<int32_t>(f.value(), "input_ids");
    const auto want_prefill = testing::read_tensor<float>(e.value(), "prefill_logits");
    const auto want_steps = testing::read_tensor<float>(e.value(), "step_logits");
    const auto want_ids = testing::read_tensor<int32_t>(e.value(), "generated_ids");
    const auto n = static_cast<int64_t>(ids.size());
    const int64_t vocab = host->config().text.vocab_size;
    const auto steps = static_cast<int64_t>(want_ids.size());
    ASSERT_EQ(want_prefill.size(), static_cast<size_t>(n * vocab));
    ASSERT_EQ(want_steps.size(), static_cast<size_t>(steps * vocab));

    const auto positions = text_positions(0, n);
    forward_all_rows(*gpu, ids);
    std::vector<float> prefill(want_prefill.size());
    gpu->copy_logits(prefill.data());
    const double prefill_err = testing::relative_error(prefill, want_prefill);
    EXPECT_LE(prefill_err, kFp8Tolerance) << "prompt logits (FP8 GEMMs)";

    std::vector<std::vector<float>> step_logits;
    const auto got = gpu_greedy(*gpu, ids, positions, {}, 0, steps, -1, &step_logits);
    double worst = 0;
    int64_t agree = 0;
    for (int64_t s = 0; s < steps; ++s) {
        const std::vector<float> want(want_steps.begin() + s * vocab,
                                      want_steps.begin() + (s + 1) * vocab);
        const auto& g = step_logits[static_cast<size_t>(s)];
        const double err = testing::relative_error(g, want);
        EXPECT_LE(err, kFp8Tolerance) << "step " << s;
        if (s > 0) worst = std::max(worst, err);
        if (got[static_cast<size_t>(s)] == want_ids[static_cast<size_t>(s)]) {
            ++agree;
            continue;
        }
        std::vector<float> sorted(want);
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
        float row_err = 0;
        for (int64_t j = 0; j < vocab; ++j)
            row_err = std::max(row_err, std::fabs(g[static_cast<size_t>(j)] - want[j]));
        EXPECT_LT(sorted[0] - sorted[1], 2 * row_err)
            << "step " << s << ": FP8 argmax " << got[static_cast<size_t>(s)] << " vs "
            << want_ids[static_cast<size_t>(s)] << " away from a near tie";
        break;  // the sequences part: later steps see different inputs
    }
    std::printf(
        "%s FP8 on CUDA: prompt logits within %.3g of the emulation, %lld of %lld greedy "
        "steps equal, decode step logits worst %.3g\n",
        GetParam().c_str(), prefill_err, static_cast<long long>(agree),
        static_cast<long long>(steps), worst);
}

// The FP8 KV pool (bf16 weights) against the CPU's emulation of it (the same rounding of every
// cached K and V row, f32 elsewhere), the CPU fed the GPU's tokens: the prompt's logits
// (prefill attention over pages converted to bf16) and 16 greedy steps' (decode attention on
// the FP8 pool, in graphs) within kFp8Tolerance, and each GPU argmax the CPU's unless the CPU's
// top-2 gap is within twice the row's error. The tolerance is FP8's (above): the GPU rounds its
// own bf16 K and V, so an element may land on the neighbouring e4m3 value.
TEST_P(CudaGolden, Fp8KvCacheMatchesTheCpuEmulation) {
    REQUIRE_GPU();
    auto host = load_fixture(GetParam());
    ASSERT_TRUE(host);
    auto gpu = to_gpu(*host, true, false, /*fp8_kv=*/true);
    ASSERT_TRUE(gpu);
    auto f = open_golden(GetParam(), "golden");
    ASSERT_TRUE(f.ok()) << f.error_message();
    const auto ids = testing::read_tensor<int32_t>(f.value(), "input_ids");
    const auto n = static_cast<int64_t>(ids.size());
    const int64_t vocab = host->config().text.vocab_size, steps = 16;
    const auto positions = text_positions(0, n);
    std::vector<std::vector<float>> got_logits;
    const auto got = gpu_greedy(*gpu, ids, positions, {}, 0, steps, -1, &got_logits);

    const auto& text = host->text();
    DenseKvCache cache(text.config(), n + steps, KvStorage::kFp8);
    std::vector<float> want = text.forward(TextForwardArgs{ids, positions, false, nullptr}, cache);
    double worst = 0;
    for (int64_t s = 0; s < steps; ++s) {
        if (s > 0) {
            const int32_t tok[1] = {got[static_cast<size_t>(s - 1)]};
            const auto pos = text_positions(n + s - 1, 1);
            want = text.forward(TextForwardArgs{tok, pos, false, nullptr}, cache);
        }
        ASSERT_EQ(want.size(), static_cast<size_t>(vocab));
        const auto& g = got_logits[static_cast<size_t>(s)];
        const double err = testing::relative_error(g, want);
        EXPECT_LE(err, kFp8Tolerance) << (s == 0 ? "prompt" : "decode step ") << s;
        worst = std::max(worst, err);
        const auto best = std::max_element(want.begin(), want.end()) - want.begin();
        if (got[static_cast<size_t>(s)] == best) continue;
        std::vector<float> sorted(want);
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
        float row_err = 0;
        for (int64_t j = 0; j < vocab; ++j)
            row_err = std::max(row_err, std::fabs(g[static_cast<size_t>(j)] - want[j]));
        EXPECT_LT(sorted[0] - sorted[1], 2 * row_err)
            << "step " << s << ": GPU argmax " << got[static_cast<size_t>(s)] << " vs " << best
            << " away from a near tie";
    }
    std::printf(
        "%s FP8 KV on CUDA: prompt and %lld decode steps within %.3g of the CPU emulation\n",
        GetParam().c_str(), static_cast<long long>(steps - 1), worst);
}

// 32 greedy steps of model b against model a's from the same prompt: each step's logits within
// `tolerance` of a's while the ids agree, and where they first differ a's top-2 gap within
// twice the step's largest difference (a near tie). Returns the steps that agreed.
int64_t expect_same_greedy(CudaGlm4vModel& a, CudaGlm4vModel& b, std::span<const int32_t> prompt,
                           std::span<const Position3> positions,
                           std::span<const cuda::bf16* const> rows_a,
                           std::span<const cuda::bf16* const> rows_b, int64_t rope_delta,
                           int32_t image_token_id, const std::string& label,
                           double tolerance = kBf16Tolerance) {
    std::vector<std::vector<float>> la, lb;
    const auto ga = gpu_greedy(a, prompt, positions, rows_a, rope_delta, 32, image_token_id, &la);
    const auto gb = gpu_greedy(b, prompt, positions, rows_b, rope_delta, 32, image_token_id, &lb);
    for (size_t s = 0; s < 32; ++s) {
        EXPECT_LE(testing::relative_error(lb[s], la[s]), tolerance) << label << " step " << s;
        if (ga[s] == gb[s]) continue;
        std::vector<float> sorted(la[s]);
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
        float err = 0;
        for (size_t j = 0; j < la[s].size(); ++j)
            err = std::max(err, std::fabs(lb[s][j] - la[s][j]));
        EXPECT_LT(sorted[0] - sorted[1], 2 * err) << label << " step " << s << ": " << gb[s]
                                                  << " vs " << ga[s] << " away from a near tie";
        return static_cast<int64_t>(s);
    }
    return 32;
}

// Tensor parallelism over two GPUs (skipped with fewer): the prompt's logits, every row, within
// bf16 tolerance of transformers'; greedy decoding through the paged cache and the decode graphs
// (which capture the NCCL calls) equal to one GPU's, text and multimodal (images encoded on rank
// 0, zeros in their place on rank 1 before the embeddings' all-reduce).
TEST_P(CudaGolden, TensorParallelOverTwoGpusMatchesOne) {
    REQUIRE_GPU();
    if (cuda_device_count() < 2)
        GTEST_SKIP() << "tensor parallelism needs two GPUs: " << cuda_device_summary();
    auto host = load_fixture(GetParam());
    ASSERT_TRUE(host);
    auto one = to_gpu(*host);
    auto two = to_gpu(*host, true, false, false, /*tp=*/2);
    ASSERT_TRUE(one && two);
    EXPECT_EQ(two->tensor_parallel_size(), 2);
    const Glm4vConfig& cfg = host->config();
    auto f = open_golden(GetParam(), "golden");
    auto v = open_golden(GetParam(), "vision_golden");
    ASSERT_TRUE(f.ok() && v.ok()) << f.error_message() << v.error_message();
    const auto ids = testing::read_tensor<int32_t>(f.value(), "input_ids");
    const auto n = static_cast<int64_t>(ids.size());
    forward_all_rows(*two, ids);
    std::vector<float> logits(static_cast<size_t>(n * cfg.text.vocab_size));
    two->copy_logits(logits.data());
    const double err =
        testing::relative_error(logits, testing::read_tensor<float>(f.value(), "logits"));
    EXPECT_LE(err, kBf16Tolerance) << "prompt logits over two GPUs";
    const auto positions = text_positions(0, n);
    const int64_t text_steps =
        expect_same_greedy(*one, *two, ids, positions, {}, {}, 0, -1, GetParam() + " text");

    std::vector<ImageGrid> grids;
    const auto thw = testing::read_tensor<int32_t>(v.value(), "image_grid_thw");
    for (size_t i = 0; i + 2 < 6 && i + 2 < thw.size(); i += 3)
        grids.push_back({thw[i], thw[i + 1], thw[i + 2]});
    const auto mm_ids = testing::read_tensor<int32_t>(v.value(), "mm.input_ids");
    auto rope = compute_rope_positions(mm_ids, grids, cfg);
    ASSERT_TRUE(rope.ok()) << rope.error_message();
    int64_t patches = 0;
    for (const ImageGrid& g : grids) patches += g.num_patches();
    const auto pixels = testing::read_tensor<float>(v.value(), "pixel_values");
    const std::span<const float> px(pixels.data(),
                                    static_cast<size_t>(patches * cfg.vision.patch_input_dim()));
    const DeviceImageEmbeddings ea = one->encode_images(px, grids);
    const DeviceImageEmbeddings eb = two->encode_images(px, grids);
    std::vector<const cuda::bf16*> ra, rb;
    for (int64_t i = 0; i < ea.num_tokens; ++i) ra.push_back(ea.row(i, cfg.text.hidden_size));
    for (int64_t i = 0; i < eb.num_tokens; ++i) rb.push_back(eb.row(i, cfg.text.hidden_size));
    const int64_t mm_steps = expect_same_greedy(
        *one, *two, mm_ids, rope.value().positions, ra, rb, rope.value().rope_delta,
        static_cast<int32_t>(cfg.image_token_id), GetParam() + " multimodal");
    std::printf(
        "%s over two GPUs: prompt logits within %.3g of transformers; greedy equal to one "
        "GPU for %lld (text) and %lld (multimodal) of 32 steps\n",
        GetParam().c_str(), err, static_cast<long long>(text_steps),
        static_cast<long long>(mm_steps));
}

// FP8 weights over two GPUs against FP8 on one: each rank quantizes its own slice of the o and
// down projections' inputs (its attention heads, its MLP rows), so values may land on the
// neighbouring e4m3 step; the prompt's logits and 32 greedy steps within kFp8Tolerance, ids
// equal up to a near tie.
TEST_P(CudaGolden, TensorParallelFp8OverTwoGpusMatchesOne) {
    REQUIRE_GPU();
    if (cuda_device_count() < 2)
        GTEST_SKIP() << "tensor parallelism needs two GPUs: " << cuda_device_summary();
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    if (prop.major * 10 + prop.minor < 89) GTEST_SKIP() << prop.name << " has no FP8 tensor cores";
    auto host = load_fixture(GetParam());
    ASSERT_TRUE(host);
    auto one = to_gpu(*host, true, /*fp8=*/true);
    auto two = to_gpu(*host, true, /*fp8=*/true, false, /*tp=*/2);
    ASSERT_TRUE(one && two);
    auto f = open_golden(GetParam(), "golden");
    ASSERT_TRUE(f.ok()) << f.error_message();
    const auto ids = testing::read_tensor<int32_t>(f.value(), "input_ids");
    const auto n = static_cast<int64_t>(ids.size());
    const int64_t vocab = host->config().text.vocab_size;
    std::vector<float> a(static_cast<size_t>(n * vocab)), b(a.size());
    forward_all_rows(*one, ids);
    one->copy_logits(a.data());
    forward_all_rows(*two, ids);
    two->copy_logits(b.data());
    const double err = testing::relative_error(b, a);
    EXPECT_LE(err, kFp8Tolerance) << "prompt logits (FP8 GEMMs) over two GPUs";
    const int64_t steps = expect_same_greedy(*one, *two, ids, text_positions(0, n), {}, {}, 0, -1,
                                             GetParam() + " FP8", kFp8Tolerance);
    std::printf(
        "%s FP8 over two GPUs: prompt logits within %.3g of one GPU's; greedy equal for "
        "%lld of 32 steps\n",
        GetParam().c_str(), err, static_cast<long long>(steps));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaGolden, ::testing::Values("tiny_f32", "tiny_bf16_sharded"));

}  // namespace
}  // namespace autoglm
