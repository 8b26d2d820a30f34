// autoglm bench latency: offline (no HTTP) timings of the CUDA backend on one GPU, each beside
// its floor: batch-1 decode against the HBM roofline (weight + KV bytes over the measured copy
// bandwidth), prefill and the vision tower against the measured bf16 GEMM rate (FLOPs counted),
// and the TTFT of one phone-agent step (screenshot + text, image encode to first token).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "app/bench_accuracy.h"
#include "app/bench_batches.h"
#include "app/commands.h"
#include "app/common.h"
#include "core/check.h"
#include "core/device_buffer.h"

#ifdef AUTOGLM_HAS_CUDA
#include <cuda_profiler_api.h>

#include "core/cuda_check.h"
#include "model/glm4v/cuda_model.h"
#include "model/glm4v/image_processor.h"
#endif

namespace autoglm {

#ifdef AUTOGLM_HAS_CUDA
namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Median device time in seconds of `run` on `st` (3 warm-up launches, then 10 timed ones).
template <typename Fn>
double median_device_seconds(cudaStream_t st, Fn run) {
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    std::vector<double> secs;
    for (int i = 0; i < 13; ++i) {
        CUDA_CHECK(cudaEventRecord(e0, st));
        run();
        CUDA_CHECK(cudaEventRecord(e1, st));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (i >= 3) secs.push_back(ms * 1e-3);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return median(secs);
}

// Device-to-device copy of 2 x 2 GiB, bytes read + written per second (median of 10).
double measure_copy_bandwidth(cudaStream_t st) {
    const size_t bytes = size_t{2} << 30;
    void *a = nullptr, *b = nullptr;
    CUDA_CHECK(cudaMalloc(&a, bytes));
    CUDA_CHECK(cudaMalloc(&b, bytes));
    cuda::fill_uniform(static_cast<cuda::bf16*>(a), static_cast<int64_t>(bytes / 2), 1, 0, 1, st);
    const double t = median_device_seconds(
        st, [&] { CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, st)); });
    cudaFree(a);
    cudaFree(b);
    return 2.0 * static_cast<double>(bytes) / t;
}

// cuBLASLt bf16 GEMM 8192^3 on random data, FLOP/s (median of 10).
double measure_gemm_rate(cudaStream_t st) {
    const int64_t n = 8192;
    cuda::bf16 *a = nullptr, *b = nullptr, *c = nullptr;
    CUDA_CHECK(cudaMalloc(&a, static_cast<size_t>(n * n) * 2));
    CUDA_CHECK(cudaMalloc(&b, static_cast<size_t>(n * n) * 2));
    CUDA_CHECK(cudaMalloc(&c, static_cast<size_t>(n * n) * 2));
    cuda::fill_uniform(a, n * n, 2, 0, 1, st);
    cuda::fill_uniform(b, n * n, 3, 0, 1, st);
    cuda::Gemm gemm;
    cuda::LinearArgs args;
    args.x = a, args.m = n, args.w = b, args.n = n, args.k = n, args.y = c;
    const double t = median_device_seconds(st, [&] { gemm.lt_linear(args, st); });
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return 2.0 * static_cast<double>(n * n * n) / t;
}

// One attention launch on random inputs, the way the model calls it: the vision tower's full
// attention per image over interleaved qkv rows, or a text prefill's causal attention over the
// paged cache (identity block table). The Hopper kernel where it applies, else mma.sync.
struct AttentionShape {
    int64_t tokens = 0, heads = 0, kv_heads = 0, head_dim = 0, block_size = 16;
    bool causal = false;
};
struct AttentionTiming {
    double seconds = 0, flops = 0;
    const char* kernel = "";
};
AttentionTiming time_attention(const AttentionShape& a, cudaStream_t st) {
    const int64_t L = a.tokens, hd = a.head_dim, q_w = a.heads * hd, kv_w = a.kv_heads * hd;
    const int64_t group = a.heads / a.kv_heads, rpb = cuda::attention_rows_per_block();
    const int64_t num_blocks = (L + a.block_size - 1) / a.block_size;
    // Vision: q, k, v interleaved per token; text: q alone, K/V in the paged pool.
    const int64_t width = a.causal ? q_w : q_w + 2 * kv_w;
    DeviceBuffer q(static_cast<size_t>(L * width) * 2), out(static_cast<size_t>(L * q_w) * 2);
    DeviceBuffer kc, vc;
    cuda::fill_uniform(q.as<cuda::bf16>(), L * width, 1, 0.0f, 1.7f, st);
    cuda::AttentionParams p;
    p.q = q.as<cuda::bf16>(), p.q_stride = width, p.out = out.as<cuda::bf16>(), p.out_stride = q_w;
    if (a.causal) {
        const int64_t slots = num_blocks * a.block_size;
        kc = DeviceBuffer(static_cast<size_t>(slots * kv_w) * 2);
        vc = DeviceBuffer(static_cast<size_t>(slots * kv_w) * 2);
        cuda::fill_uniform(kc.as<cuda::bf16>(), slots * kv_w, 2, 0.0f, 1.7f, st);
        cuda::fill_uniform(vc.as<cuda::bf16>(), slots * kv_w, 3, 0.0f, 1.7f, st);
        p.k = kc.as<cuda::bf16>(), p.v = vc.as<cuda::bf16>(), p.kv_stride = kv_w;
    } else {
        p.k = p.q + q_w, p.v = p.q + q_w + kv_w, p.kv_stride = width;
    }
    std::vector<int32_t> ints = {0, static_cast<int32_t>(L), static_cast<int32_t>(L), 0};
    const size_t table_off = ints.size();
    for (int64_t b = 0; b < num_blocks; ++b) ints.push_back(static_cast<int32_t>(b));
    const size_t work_off = ints.size();
    for (int64_t r0 = 0; r0 < L * group; r0 += rpb) ints.push_back(0), ints.push_back(r0);
    const auto num_work = static_cast<int64_t>((ints.size() - work_off) / 2);
    DeviceBuffer meta(ints.size() * 4);
    meta.copy_from_host(ints.data(), ints.size() * 4);
    const auto* m = meta.as<int32_t>();
    p.q_start = m, p.kv_len = m + 2, p.kv_start = m + 3;
    if (a.causal)
        p.block_tables = m + table_off, p.max_blocks_per_seq = num_blocks,
        p.block_size = a.block_size;
    p.num_seqs = 1, p.heads = a.heads, p.kv_heads = a.kv_heads, p.head_dim = hd;
    p.scale = 1.0f / std::sqrt(static_cast<float>(hd)), p.causal = a.causal;
    const auto* work = reinterpret_cast<const cuda::AttentionWork*>(m + work_off);
    const bool hopper =
        a.causal ? cuda::hopper_causal_attention_supported(p) : cuda::hopper_attention_supported(p);
    AttentionTiming t;
    t.kernel = hopper ? "wgmma" : "mma.sync";
    t.seconds = median_device_seconds(st, [&] {
        if (hopper && a.causal)
            cuda::prefill_attention_sm90_causal(p, work, num_work, L, num_blocks * a.block_size,
                                                st);
        else if (hopper)
            cuda::prefill_attention_sm90(p, work, num_work, L, st);
        else
            cuda::prefill_attention(p, work, num_work, st);
    });
    const auto l = static_cast<double>(L);
    t.flops = 4.0 * static_cast<double>(q_w) * (a.causal ? l * (l + 1) / 2.0 : l * l);
    return t;
}

struct Row {
    std::string name, figure, floor, ratio;
};

}  // namespace
#endif

int run_bench(const std::vector<std::string>& args) {
    if (!args.empty() && args[0] == "serve")
        return run_bench_serve(std::vector<std::string>(args.begin() + 1, args.end()));
    if (args.empty() || args[0] != "latency") {
        std::fprintf(stderr,
                     "usage: autoglm bench latency|serve [flags]\n"
                     "  latency   offline decode / prefill / vision / attention / agent-step "
                     "timings on the GPU\n"
                     "  serve     load test of a running server (TTFT / TPOT / ITL / E2E, "
                     "throughput, KPI and soak checks)\n");
        return args.empty() || args[0] == "--help" ? (args.empty() ? kExitUsage : 0) : kExitUsage;
    }
    Flags flags("bench latency",
                "Times the CUDA backend offline on one GPU, each figure beside its floor: batch-1 "
                "decode vs the HBM roofline (bytes per token over the measured copy bandwidth), "
                "prefill and the vision tower vs the measured bf16 GEMM rate (FLOPs counted), the "
                "attention kernels alone (the vision tower's, prefills of 4k tokens and more), a "
                "mixed step (decodes beside a prefill chunk, as under load), and "
                "the TTFT of one agent step (image encode + prefill + first token; the screenshot "
                "is resized on the CPU once, as the server's HTTP thread does, and every encode "
                "uploads its bytes and cuts patches on the GPU, as the engine does). Use "
                "--model autoglm-phone-9b --load-format dummy for the full shape.");
    add_model_flags(flags);
    flags.add("decode-context", "128", "prompt tokens before the timed decode steps");
    flags.add("decode-tokens", "256", "decode steps timed (median step reported)");
    flags.add("prefill-lengths", "1024,4096,16384", "prompt lengths for the prefill figures");
    flags.add("image-size", "1080x2400", "screenshot WIDTHxHEIGHT for vision and the agent step");
    flags.add("agent-tokens", "4862", "tokens of the agent step in all (image tokens included)");
    flags.add("repeats", "5", "timed repeats of each prefill / vision / agent figure (median)");
    flags.add("mixed", "38x1088+308@512",
              "the mixed step: DxC+P@O = D decodes after C cached tokens each beside a prefill "
              "chunk of P tokens after O cached ones (the default is a step of `bench serve "
              "--workload random` 1024/128 at concurrency 64; P = 0: a batched decode step)");
    flags.add("json", "", "also write the figures to this JSON file");
    flags.add("no-cuda-graphs", "false", "decode without CUDA graphs", true);
    flags.add("tensor-parallel-size", "1",
              "split the text decoder over GPUs 0 .. N-1 (serve --help); the decode roofline "
              "counts the bytes one rank reads");
    flags.add("kv-cache-dtype", "auto",
              "auto (bf16) | fp8: the KV pool in FP8 e4m3 with a scale per token and KV head "
              "(serve --help); the decode roofline counts its bytes");
    flags.add("gemv-max-rows", "-1",
              "steps of up to this many tokens take the GEMV path (0-8), larger ones cuBLASLt "
              "(-1: 1 with FP8 weights, 8 in bf16)");
    flags.add("profile", "false",
              "bracket the last timed repeat of each section (the last decode step) with "
              "cudaProfilerStart/Stop, for `ncu --profile-from-start off`",
              true);
    flags.add("only", "",
              "run one section: decode, prefill, mixed, vision, attention or agent (default: "
              "all), or "
              "accuracy (not in all: FP8 against bf16 weights, both models on the GPU: "
              "per-layer and logit relative errors of a 1024-token prefill and 8 decode steps)");
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (int rc = parse_or_exit(flags, rest); rc >= 0) return rc;
#ifndef AUTOGLM_HAS_CUDA
    return fail("this build has no CUDA backend", kExitFailure);
#else
    if (cuda_device_count() == 0)
        return fail("bench latency needs a GPU: " + cuda_device_summary(), kExitFailure);
    auto repeats_r = flags.get_int("repeats", 1, 1000);
    auto ctx_r = flags.get_int("decode-context", 1, 1 << 20);
    auto steps_r = flags.get_int("decode-tokens", 1, 1 << 20);
    auto agent_r = flags.get_int("agent-tokens", 1, 1 << 20);
    for (const auto* r : {&repeats_r, &ctx_r, &steps_r, &agent_r})
        if (!*r) return fail(r->error_message(), kExitUsage);
    const int64_t repeats = repeats_r.value(), ctx = ctx_r.value(), steps = steps_r.value();
    const int64_t agent_tokens = agent_r.value();
    std::vector<int64_t> lengths;
    {
        std::stringstream ss(flags.get("prefill-lengths"));
        std::string item;
        while (std::getline(ss, item, ','))
            if (!item.empty()) lengths.push_back(std::stoll(item));
    }
    int64_t mixed_d = 0, mixed_c = 0, mixed_p = 0, mixed_o = 0;
    if (std::sscanf(flags.get("mixed").c_str(), "%ldx%ld+%ld@%ld", &mixed_d, &mixed_c, &mixed_p,
                    &mixed_o) != 4 ||
        mixed_d < 0 || mixed_c < 0 || mixed_p < 0 || mixed_o < 0 || mixed_d + mixed_p == 0)
        return fail("--mixed must be DxC+P@O (decodes x context + prefill @ offset)", kExitUsage);
    int64_t img_w = 0, img_h = 0;
    if (std::sscanf(flags.get("image-size").c_str(), "%ldx%ld", &img_w, &img_h) != 2)
        return fail("--image-size must be WIDTHxHEIGHT", kExitUsage);

    std::fprintf(stderr, "loading %s ...\n", flags.get("model").c_str());
    auto loaded = load_from_flags(flags);
    if (!loaded) return fail(loaded.error_message(), kExitFailure);
    const Glm4vModel& host = *loaded.value();
    const Glm4vConfig& cfg = host.config();
    const auto& tc = cfg.text;
    const auto& vc = cfg.vision;

    auto grid_size = glm4v_smart_resize(img_h, img_w, SmartResizeParams{});
    if (!grid_size) return fail(grid_size.error_message(), kExitFailure);
    const ImageGrid grid{1, grid_size.value().height / vc.patch_size,
                         grid_size.value().width / vc.patch_size};
    const int64_t patches = grid.num_patches();
    const int64_t image_tokens = patches / (vc.spatial_merge_size * vc.spatial_merge_size);

    int64_t max_tokens = std::max(agent_tokens, ctx);
    for (int64_t L : lengths) max_tokens = std::max(max_tokens, L);
    const bool mixed_wanted = flags.get("only") == "" || flags.get("only") == "mixed";
    if (mixed_wanted) max_tokens = std::max(max_tokens, mixed_d + mixed_p);
    CudaModelOptions opt;
    opt.max_num_tokens = max_tokens;
    opt.max_num_seqs = mixed_wanted ? std::max<int64_t>(8, mixed_d + 1) : 8;
    opt.max_model_len = std::max(max_tokens, ctx + steps) + 16;
    if (mixed_wanted)
        opt.max_model_len = std::max(opt.max_model_len, std::max(mixed_c + 1, mixed_o + mixed_p));
    opt.cuda_graphs = !flags.enabled("no-cuda-graphs");
    auto gemv_rows = flags.get_int("gemv-max-rows", -1, 8);
    if (!gemv_rows) return fail(gemv_rows.error_message(), kExitUsage);
    opt.decode_gemv_max_rows = gemv_rows.value();
    opt.fp8_fast_accumulation = flags.enabled("fp8-fast-accum");
    opt.fp8_lm_head = fp8_lm_head_from_flags(flags, host.config());
    auto fp8 = fp8_weights_from_flags(flags);
    if (!fp8) return fail(fp8.error_message(), kExitUsage);
    opt.fp8_weights = fp8.value();
    opt.fp8_vision = fp8_vision_from_flags(flags, opt.fp8_weights, host.config());
    if (flags.enabled("fp8-lm-head") && !opt.fp8_weights)
        return fail("--fp8-lm-head applies with --quantization fp8", kExitUsage);
    if (opt.fp8_fast_accumulation && !opt.fp8_weights && !opt.fp8_vision)
        return fail(
            "--fp8-fast-accum applies to FP8 GEMMs: pass --quantization fp8 or --fp8-vision",
            kExitUsage);
    auto kv_fp8 = kv_cache_fp8_from_flags(flags);
    if (!kv_fp8) return fail(kv_fp8.error_message(), kExitUsage);
    opt.fp8_kv = kv_fp8.value();
    auto tp_flag = flags.get_int("tensor-parallel-size", 1, 64);
    if (!tp_flag) return fail(tp_flag.error_message(), kExitUsage);
    const int tp = static_cast<int>(tp_flag.value());
    if (tp > 1 && flags.get("only") == "accuracy")
        return fail(
            "--only accuracy compares FP8 with bf16 layer by layer on one GPU "
            "(--tensor-parallel-size 1)",
            kExitUsage);
    if (opt.fp8_vision && !opt.fp8_weights && flags.get("only") == "accuracy")
        return fail(
            "--only accuracy compares the FP8 model (--quantization fp8, its vision blocks "
            "FP8 too unless --fp8-vision=false) with the bf16 one: pass --quantization fp8",
            kExitUsage);
    const auto t_up = Clock::now();
    auto created = CudaGlm4vModel::create_tensor_parallel(host, opt, tp);
    if (!created) return fail(created.error_message(), kExitFailure);
    CudaGlm4vModel& gpu = *created.value();
    int64_t blocks = (opt.max_model_len + opt.block_size - 1) / opt.block_size + 1;
    if (mixed_wanted) blocks = std::max(blocks, (mixed_d + 1) * blocks);
    if (Status s = gpu.allocate_kv_pool(blocks); !s) return fail(s.error_message(), 1);
    std::fprintf(stderr, "uploaded in %.1f s: %s\n", ms_since(t_up) / 1e3, gpu.describe().c_str());
    cudaStream_t st = gpu.stream();

    const std::string only = flags.get("only");
    auto want = [&](const char* section) { return only.empty() || only == section; };
    // One repeat of each section under a profiler started with --profile-from-start off.
    const bool profile = flags.enabled("profile");
    auto profiled = [&](bool last, bool begin) {
        if (!profile || !last) return;
        CUDA_CHECK(cudaDeviceSynchronize());
        CUDA_CHECK(begin ? cudaProfilerStart() : cudaProfilerStop());
    };
    const double bw = measure_copy_bandwidth(st);
    const double gemm_rate = measure_gemm_rate(st);
    std::vector<Row> rows;
    char buf[256];
    std::ostringstream json;
    json << "{\n  \"device\": \"" << cuda_device_summary() << "\",\n";
    json << "  \"copy_bandwidth_Bps\": " << bw << ",\n  \"gemm_flops\": " << gemm_rate << ",\n";
    json << "  \"tensor_parallel_size\": " << tp << ",\n";
    json << "  \"quantization\": \"" << (opt.fp8_weights ? "fp8" : "none")
         << "\",\n  \"kv_cache_dtype\": \"" << (opt.fp8_kv ? "fp8" : "bf16") << "\",\n"
         << "  \"fp8_fast_accumulation\": " << (opt.fp8_fast_accumulation ? "true" : "false")
         << ",\n  \"fp8_vision\": " << (opt.fp8_vision ? "true" : "false")
         << ",\n  \"fp8_lm_head\": " << (gpu.lm_head_fp8() ? "true" : "false") << ",\n";

    // Parameter counts of the text decoder that one token streams (the embedding table is
    // gathered, one row) and that a prefill token multiplies (lm_head only for the last token).
    const int64_t H = tc.hidden_size, hd = tc.head_dim();
    const int64_t q_dim = tc.num_attention_heads * hd, kv_dim = tc.num_key_value_heads * hd;
    const auto layer_params = static_cast<double>(tc.linear_params_per_layer());
    const double layers = static_cast<double>(tc.num_hidden_layers);
    const double lm_params = static_cast<double>(tc.vocab_size * H);
    // K and V of a context token: bf16, or e4m3 bytes and an f32 scale per KV head.
    const double kv_bytes_per_token =
        layers * 2.0 *
        (opt.fp8_kv ? static_cast<double>(kv_dim + 4 * tc.num_key_value_heads)
                    : static_cast<double>(kv_dim) * 2.0);

    // ---- decode ----
    if (want("decode")) {
        SeqBatch pre =
            one_sequence(random_tokens(ctx, tc.vocab_size, 7), 0, opt.block_size, ctx + steps + 1);
        gpu.forward(pre.view());
        int32_t next = gpu.argmax()[0];
        std::vector<double> ms, gpu_ms;
        for (int64_t i = 0; i < steps + 3; ++i) {
            SeqBatch d = one_sequence({next}, ctx + i, opt.block_size, ctx + steps + 4);
            profiled(i == steps + 2, true);
            const auto t0 = Clock::now();
            gpu.forward(d.view());
            next = gpu.argmax()[0];
            profiled(i == steps + 2, false);
            const float g = gpu.last_forward_ms();
            if (i >= 3) ms.push_back(ms_since(t0)), gpu_ms.push_back(g);
        }
        const double step_ms = median(ms);
        std::fprintf(stderr, "decode step: %.3f ms wall, %.3f ms on the GPU (forward only)\n",
                     step_ms, median(gpu_ms));
        // FP8 layers: a byte a weight and a float scale a row of each linear layer.
        const auto layer_rows = static_cast<double>(tc.linear_rows_per_layer());
        const double layer_bytes =
            opt.fp8_weights ? layer_params + 4.0 * layer_rows : 2.0 * layer_params;
        // Per rank under tensor parallelism: its share of the layers, the LM head and the KV
        // heads (the norms, whole on every rank, are negligible; with fewer KV heads than ranks
        // each rank reads a whole head, counted as a share here).
        // The LM head: bf16, or FP8 rows and their scales (untied, --fp8-lm-head).
        const double head_bytes = gpu.lm_head_fp8()
                                      ? lm_params + 4.0 * static_cast<double>(tc.vocab_size)
                                      : 2.0 * lm_params;
        const double bytes = (layers * layer_bytes + head_bytes +
                              kv_bytes_per_token * static_cast<double>(ctx + steps / 2)) /
                             static_cast<double>(tp);
        const double floor_ms = bytes / bw * 1e3;
        std::snprintf(buf, sizeof buf, "%.1f tok/s (%.3f ms/token)", 1e3 / step_ms, step_ms);
        rows.push_back({"decode, batch 1, ctx " + std::to_string(ctx) + "+" + std::to_string(steps),
                        buf, "", ""});
        std::snprintf(buf, sizeof buf, "%.1f tok/s (%.2f GB at %.2f TB/s)", 1e3 / floor_ms,
                      bytes / 1e9, bw / 1e12);
        rows.back().floor = buf;
        std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * floor_ms / step_ms);
        rows.back().ratio = buf;
        json << "  \"decode_tok_per_s\": " << 1e3 / step_ms
             << ",\n  \"decode_roofline_tok_per_s\": " << 1e3 / floor_ms
             << ",\n  \"decode_bytes_per_token\": " << bytes << ",\n";
    }

    auto prefill_flops = [&](int64_t L) {
        const auto l = static_cast<double>(L);
        return 2.0 * l * layers * layer_params + 2.0 * lm_params +
               layers * 4.0 * (l * (l + 1) / 2.0) * static_cast<double>(q_dim);
    };

    // ---- prefill ----
    json << "  \"prefill\": [";
    for (size_t li = 0; li < lengths.size() && want("prefill"); ++li) {
        const int64_t L = lengths[li];
        SeqBatch b = one_sequence(random_tokens(L, tc.vocab_size, 11 + li), 0, opt.block_size, L);
        std::vector<double> ms;
        for (int64_t r = 0; r < repeats + 1; ++r) {
            profiled(r == repeats, true);
            const auto t0 = Clock::now();
            gpu.forward(b.view());
            (void)gpu.argmax();
            if (r > 0) ms.push_back(ms_since(t0));
            profiled(r == repeats, false);
        }
        const double t = median(ms);
        const double flops = prefill_flops(L);
        std::snprintf(buf, sizeof buf, "%.0f tok/s (%.1f ms, %.0f TFLOP/s)",
                      static_cast<double>(L) / t * 1e3, t, flops / t / 1e9);
        std::string figure = buf;
        std::snprintf(buf, sizeof buf, "%.1f ms (%.1f TFLOP at %.0f TFLOP/s)",
                      flops / gemm_rate * 1e3, flops / 1e12, gemm_rate / 1e12);
        std::string fl = buf;
        std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * flops / gemm_rate * 1e3 / t);
        rows.push_back({"prefill " + std::to_string(L) + " tokens", figure, fl, buf});
        json << (li ? ", " : "") << "{\"tokens\": " << L << ", \"ms\": " << t
             << ", \"tflops\": " << flops / t / 1e9 << "}";
    }
    json << "],\n";

    // ---- mixed: decodes beside a prefill chunk, as a loaded server runs them ----
    if (want("mixed")) {
        SeqBatch b = mixed_step(mixed_d, mixed_c, mixed_p, mixed_o, opt.block_size,
                                random_tokens(4096, tc.vocab_size, 19));
        std::vector<double> ms, gpu_ms;
        for (int64_t r = 0; r < repeats + 1; ++r) {
            profiled(r == repeats, true);
            const auto t0 = Clock::now();
            gpu.forward(b.view());
            (void)gpu.argmax();
            profiled(r == repeats, false);
            if (r > 0) ms.push_back(ms_since(t0)), gpu_ms.push_back(gpu.last_forward_ms());
        }
        const double t = median(ms);
        std::snprintf(buf, sizeof buf, "%.2f ms (%.2f ms on the GPU)", t, median(gpu_ms));
        rows.push_back({"mixed step " + flags.get("mixed"), buf, "", ""});
        json << "  \"mixed_ms\": " << t << ",\n  \"mixed_gpu_ms\": " << median(gpu_ms) << ",\n";
    }

    // ---- vision ----
    // The screenshot as the engine gets it from the server: resized on the CPU (an HTTP thread's
    // work, not timed here), then per encode its RGB bytes uploaded, cut into patch rows on the
    // GPU and run through the tower.
    const int64_t in_dim = vc.patch_input_dim();
    Glm4vImageWorkspace shot_ws;
    {
        RgbImage shot = RgbImage::zeros(img_w, img_h);
        std::mt19937 rng(5);
        for (auto& px : shot.pixels) px = static_cast<uint8_t>(rng() & 0xff);
        const Glm4vImageProcessor processor(vc, host.image_processor_options());
        if (Status s = processor.process_compact_into(shot, shot_ws); !s)
            return fail(s.error_message(), kExitFailure);
        if (shot_ws.out.num_patches() != patches)
            return fail("the checkpoint's image processor makes " +
                            std::to_string(shot_ws.out.num_patches()) + " patches of a " +
                            flags.get("image-size") + " screenshot; the figures assume " +
                            std::to_string(patches),
                        kExitFailure);
    }
    const Glm4vProcessedImage& shot_image = shot_ws.out;
    const double vH = static_cast<double>(vc.hidden_size),
                 vO = static_cast<double>(vc.out_hidden_size);
    const auto np = static_cast<double>(patches), nt = static_cast<double>(image_tokens);
    const double vision_flops =
        2.0 * np *
            (static_cast<double>(in_dim) * vH +
             static_cast<double>(vc.depth) * (4.0 * vH * vH + 3.0 * vH * vO)) +
        2.0 * nt *
            (4.0 * vH * vO + vO * vO + 3.0 * vO * static_cast<double>(vc.intermediate_size)) +
        static_cast<double>(vc.depth) * 4.0 * np * np * vH;
    double vision_ms = 0;
    if (want("vision")) {
        std::vector<double> ms, gpu_ms;
        std::vector<float> spans;
        for (int64_t r = 0; r < repeats + 1; ++r) {
            profiled(r == repeats, true);
            const auto t0 = Clock::now();
            auto e = gpu.encode_image(shot_image);
            gpu.synchronize();
            profiled(r == repeats, false);
            spans.clear();
            (void)gpu.collect_vision_ms(spans);
            if (r > 0) ms.push_back(ms_since(t0));
            if (r > 0 && !spans.empty()) gpu_ms.push_back(spans.back());
        }
        vision_ms = median(ms);
        // The engine's span timer: from the encode's first upload to its last kernel.
        const double vision_gpu_ms = gpu_ms.empty() ? 0.0 : median(gpu_ms);
        std::fprintf(stderr, "vision: %.1f ms wall, %.1f ms on the GPU\n", vision_ms,
                     vision_gpu_ms);
        std::snprintf(buf, sizeof buf, "%.1f ms (%.0f TFLOP/s)", vision_ms,
                      vision_flops / vision_ms / 1e9);
        std::string figure = buf;
        std::snprintf(buf, sizeof buf, "%.1f ms (%.1f TFLOP)", vision_flops / gemm_rate * 1e3,
                      vision_flops / 1e12);
        std::string fl = buf;
        std::snprintf(buf, sizeof buf, "%.1f%%",
                      100.0 * vision_flops / gemm_rate * 1e3 / vision_ms);
        rows.push_back({"vision " + std::to_string(img_w) + "x" + std::to_string(img_h) + " (" +
                            std::to_string(patches) + " patches)",
                        figure, fl, buf});
        json << "  \"vision_ms\": " << vision_ms << ",\n  \"vision_gpu_ms\": " << vision_gpu_ms
             << ",\n  \"vision_patches\": " << patches << ",\n";
    }

    // ---- attention alone: the vision tower's and the long prefills' ----
    if (want("attention")) {
        std::vector<std::pair<std::string, AttentionShape> > shapes;
        shapes.push_back({"attention, vision " + std::to_string(patches) + " patches (full)",
                          {patches, vc.num_heads, vc.num_heads, vc.head_dim(), 16, false}});
        for (int64_t L : lengths)
            if (L >= 4096)
                shapes.push_back({"attention, prefill " + std::to_string(L) + " (causal, paged)",
                                  {L, tc.num_attention_heads, tc.num_key_value_heads, hd,
                                   opt.block_size, true}});
        json << "  \"attention\": [";
        for (size_t i = 0; i < shapes.size(); ++i) {
            const AttentionTiming t = time_attention(shapes[i].second, st);
            std::snprintf(buf, sizeof buf, "%.2f ms (%.0f TFLOP/s, %s)", t.seconds * 1e3,
                          t.flops / t.seconds / 1e12, t.kernel);
            std::string figure = buf;
            std::snprintf(buf, sizeof buf, "%.2f ms (%.2f TFLOP)", t.flops / gemm_rate * 1e3,
                          t.flops / 1e12);
            std::string fl = buf;
            std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * t.flops / gemm_rate / t.seconds);
            rows.push_back({shapes[i].first, figure, fl, buf});
            json << (i ? ", " : "") << "{\"name\": \"" << shapes[i].first
                 << "\", \"ms\": " << t.seconds * 1e3
                 << ", \"tflops\": " << t.flops / t.seconds / 1e12 << ", \"kernel\": \"" << t.kernel
                 << "\"}";
        }
        json << "],\n";
    }

    // ---- accuracy (only with --only accuracy): the other weight mode beside this one ----
    if (only == "accuracy") {
        std::vector<AccuracyRow> accuracy;
        if (Status st = compare_fp8_with_bf16(host, opt, gpu, blocks, shot_image, json, accuracy);
            !st)
            return fail(st.error_message(), kExitFailure);
        for (const AccuracyRow& r : accuracy) rows.push_back({r.name, r.figure, "", ""});
    }

    // ---- agent step: image encode + prefill of agent_tokens + first token ----
    if (want("agent")) {
        const int64_t text = agent_tokens - image_tokens;
        if (text < 2) return fail("--agent-tokens must exceed the image's tokens", kExitUsage);
        std::vector<int32_t> tokens = random_tokens(agent_tokens, tc.vocab_size, 13);
        const int64_t first = std::min<int64_t>(8, text - 1);
        for (int64_t i = 0; i < image_tokens; ++i)
            tokens[static_cast<size_t>(first + i)] = static_cast<int32_t>(cfg.image_token_id);
        for (auto& t : tokens)
            if (t == cfg.image_token_id &&
                (&t - tokens.data() < first || &t - tokens.data() >= first + image_tokens))
                t = 0;
        SeqBatch b = one_sequence(tokens, 0, opt.block_size, agent_tokens);
        std::vector<double> ms;
        for (int64_t r = 0; r < repeats + 1; ++r) {
            profiled(r == repeats, true);
            const auto t0 = Clock::now();
            DeviceImageEmbeddings e = gpu.encode_image(shot_image);
            std::vector<const cuda::bf16*> rows_ptr(static_cast<size_t>(image_tokens));
            for (int64_t i = 0; i < image_tokens; ++i)
                rows_ptr[static_cast<size_t>(i)] = e.row(i, tc.hidden_size);
            gpu.forward(b.view(static_cast<int32_t>(cfg.image_token_id)), rows_ptr);
            (void)gpu.argmax();
            if (r > 0) ms.push_back(ms_since(t0));
            profiled(r == repeats, false);
        }
        const double t = median(ms);
        const double flops = vision_flops + prefill_flops(agent_tokens);
        std::snprintf(buf, sizeof buf, "%.1f ms", t);
        std::string figure = buf;
        std::snprintf(buf, sizeof buf, "%.1f ms (%.1f TFLOP)", flops / gemm_rate * 1e3,
                      flops / 1e12);
        std::string fl = buf;
        std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * flops / gemm_rate * 1e3 / t);
        rows.push_back({"agent step TTFT (" + std::to_string(image_tokens) + " image + " +
                            std::to_string(text) + " text tokens)",
                        figure, fl, buf});
        json << "  \"agent_ttft_ms\": " << t << ",\n  \"agent_tokens\": " << agent_tokens << ",\n";
    }
    json << "  \"version\": \"" << AUTOGLM_VERSION << "\"\n}\n";

    std::printf("device: %s (tensor parallel size %d)\n", cuda_device_summary().c_str(), tp);
    std::printf("measured ceilings: copy %.2f TB/s (read+write), bf16 GEMM %.0f TFLOP/s (8192^3)\n",
                bw / 1e12, gemm_rate / 1e12);
    std::printf("%-46s %-36s %-40s %s\n", "figure", "measured", "floor", "% of floor");
    for (const Row& r : rows)
        std::printf("%-46s %-36s %-40s %s\n", r.name.c_str(), r.figure.c_str(), r.floor.c_str(),
                    r.ratio.c_str());
    if (!flags.get("json").empty()) {
        std::ofstream(flags.get("json")) << json.str();
    }
    return 0;
#endif
}

}  // namespace autoglm
