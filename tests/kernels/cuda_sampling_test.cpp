// GPU sampling (cuda::sample_rows) against the CPU Sampler's own stages (engine/sampler.h):
// random, flat, tied, masked and one-hot logits over the GLM vocabulary and small ones, every
// combination of greedy / temperature / top-k / top-p / min-p, many uniforms. The ids must be
// the CPU's; a different id is accepted only where u * total lies within 1e-9 * total of the
// GPU token's CDF interval (double sums in another order), and such cases must stay rare.
// Skipped (with a message) where no GPU is present.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/cuda_check.h"
#include "core/device_buffer.h"
#include "core/parallel.h"
#include "engine/sampler.h"
#include "kernels/cuda/ops.h"

namespace autoglm {
namespace {

#define REQUIRE_GPU() \
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device: " << cuda_device_summary()

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int64_t kGlmVocab = 151552;
constexpr double kBoundaryTolerance = 1e-9;            // of the total mass
constexpr double kLastUniform = 0x1.fffffffffffffp-1;  // the largest counter_uniform value

struct Setting {
    float temperature;  // 0 = greedy
    int32_t top_k;
    float top_p;
    float min_p;
};

std::string describe(const Setting& s) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "T=%g top_k=%d top_p=%g min_p=%g", s.temperature, s.top_k,
                  s.top_p, s.min_p);
    return buf;
}

// Greedy, every combination of the usual values, and a common serving setting.
std::vector<Setting> settings(int64_t vocab) {
    std::vector<Setting> out = {{0.0f, 0, 1.0f, 0.0f}, {0.8f, 50, 0.9f, 0.0f}};
    for (float t : {0.7f, 1.0f, 1.3f})
        for (int32_t k : {0, 1, 20, static_cast<int32_t>(vocab)})
            for (float p : {1.0f, 0.9f, 0.1f})
                for (float m : {0.0f, 0.05f}) out.push_back({t, k, p, m});
    return out;
}

// The CPU Sampler's stages for a row without penalties and past min_tokens.
std::vector<float> cpu_process(const std::vector<float>& raw, const Setting& s) {
    std::vector<float> x = raw;
    apply_temperature(x, s.temperature);
    apply_min_p(x, s.min_p);
    apply_top_k(x, s.top_k);
    apply_top_p(x, s.top_p);
    return x;
}

struct Stats {
    std::atomic<int64_t> draws{0};
    std::atomic<int64_t> exact{0};
    std::atomic<int64_t> near_boundary{0};  // accepted mismatches
    std::atomic<int64_t> failures{0};
};

// The CPU's running masses in id order (as sample_inverse_cdf sums them): before[i], after[i].
struct Cdf {
    std::vector<double> before, after;
    double total = 0;
};

Cdf cdf_of(const std::vector<float>& x) {
    double top = kNegInf;
    for (float v : x) top = std::max(top, static_cast<double>(v));
    Cdf c;
    c.before.resize(x.size());
    c.after.resize(x.size());
    for (float v : x) c.total += std::exp(static_cast<double>(v) - top);
    double run = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        c.before[i] = run;
        if (x[i] != kNegInf) run += std::exp(static_cast<double>(x[i]) - top);
        c.after[i] = run;
    }
    return c;
}

std::vector<double> uniforms(int num, uint64_t seed) {
    std::vector<double> u = {0.0, kLastUniform};
    for (int i = 2; i < num; ++i) u.push_back(counter_uniform(seed, static_cast<uint64_t>(i)));
    return u;
}

// Runs every (setting, uniform) of one logits row as one launch and checks each id.
void check_row(const std::string& name, const std::vector<float>& raw, int num_uniforms,
               uint64_t seed, Stats* stats) {
    const auto vocab = static_cast<int64_t>(raw.size());
    const std::vector<Setting> all = settings(vocab);
    const std::vector<double> us = uniforms(num_uniforms, seed);
    const int64_t rows = static_cast<int64_t>(all.size() * us.size());
    std::vector<cuda::SampleRowParams> params;
    for (const Setting& s : all)
        for (double u : us) params.push_back({s.temperature, s.top_k, s.top_p, s.min_p, u});

    const size_t row_bytes = static_cast<size_t>(vocab) * 4;
    DeviceBuffer logits(static_cast<size_t>(rows) * row_bytes);
    CUDA_CHECK(cudaMemcpy(logits.data(), raw.data(), row_bytes, cudaMemcpyHostToDevice));
    for (int64_t done = 1; done < rows;) {  // replicate by doubling
        const int64_t n = std::min(done, rows - done);
        CUDA_CHECK(cudaMemcpy(logits.as<char>() + done * row_bytes, logits.data(),
                              static_cast<size_t>(n) * row_bytes, cudaMemcpyDeviceToDevice));
        done += n;
    }
    DeviceBuffer dparams(params.size() * sizeof(cuda::SampleRowParams));
    dparams.copy_from_host(params.data(), params.size() * sizeof(cuda::SampleRowParams));
    DeviceBuffer dids(static_cast<size_t>(rows) * 4);
    CUDA_CHECK(cudaMemset(dids.data(), 0xff, static_cast<size_t>(rows) * 4));  // -1
    cuda::sample_rows(logits.as<float>(), rows, vocab, dparams.as<cuda::SampleRowParams>(),
                      dids.as<int32_t>(), nullptr);
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<int32_t> got(static_cast<size_t>(rows));
    dids.copy_to_host(got.data(), got.size() * 4);

    std::vector<std::string> errors(all.size());
    parallel_for(static_cast<int64_t>(all.size()), [&](int64_t begin, int64_t end) {
        for (int64_t si = begin; si < end; ++si) {
            const Setting& s = all[static_cast<size_t>(si)];
            std::string& err = errors[static_cast<size_t>(si)];
            const std::vector<float> x = s.temperature == 0 ? raw : cpu_process(raw, s);
            const Cdf cdf = s.temperature == 0 ? Cdf{} : cdf_of(x);
            for (size_t ui = 0; ui < us.size(); ++ui) {
                const double u = us[ui];
                const int32_t g = got[static_cast<size_t>(si) * us.size() + ui];
                const int32_t want =
                    s.temperature == 0 ? argmax_first(raw) : sample_inverse_cdf(x, u);
                ++stats->draws;
                if (g == want) {
                    ++stats->exact;
                    continue;
                }
                bool accepted = false;
                if (s.temperature != 0 && g >= 0 && g < vocab &&
                    x[static_cast<size_t>(g)] != kNegInf) {
                    const double target = u * cdf.total;
                    const double below = cdf.before[static_cast<size_t>(g)] - target;
                    const double above = target - cdf.after[static_cast<size_t>(g)];
                    accepted = std::max({0.0, below, above}) <= kBoundaryTolerance * cdf.total;
                }
                if (accepted) {
                    ++stats->near_boundary;
                } else {
                    ++stats->failures;
                    if (err.empty())
                        err = name + " " + describe(s) + " u=" + std::to_string(u) + ": GPU " +
                              std::to_string(g) + ", CPU " + std::to_string(want) +
                              (g >= 0 && g < vocab && x[static_cast<size_t>(g)] == kNegInf
                                   ? " (masked on the CPU)"
                                   : "");
                }
            }
        }
    });
    int shown = 0;
    for (const std::string& e : errors)
        if (!e.empty() && shown++ < 8) ADD_FAILURE() << e;
}

std::vector<float> normal_row(int64_t vocab, uint32_t seed, float scale) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(vocab));
    for (float& x : v) x = dist(gen);
    return v;
}

// Model-like: a broad body and a few strong candidates at random ids.
std::vector<float> model_like_row(int64_t vocab, uint32_t seed) {
    std::vector<float> v = normal_row(vocab, seed, 1.5f);
    std::mt19937 gen(seed + 1);
    std::uniform_int_distribution<int64_t> id(0, vocab - 1);
    std::uniform_real_distribution<float> boost(4.0f, 12.0f);
    for (int i = 0; i < 20; ++i) v[static_cast<size_t>(id(gen))] += boost(gen);
    return v;
}

struct Dataset {
    std::string name;
    std::vector<float> logits;
};

std::vector<Dataset> datasets(int64_t vocab) {
    std::vector<Dataset> d;
    d.push_back({"model-like", model_like_row(vocab, 11)});
    d.push_back({"flat", normal_row(vocab, 12, 0.3f)});
    {  // a near-constant tail behind one token: the top-p cut falls among ~all tokens at once
        std::vector<float> v = normal_row(vocab, 13, 0.002f);
        v[static_cast<size_t>(vocab / 3)] = 6.0f;
        d.push_back({"tail", v});
    }
    {  // quarter steps: tens of distinct values, each held by thousands of ids
        std::vector<float> v = normal_row(vocab, 14, 2.0f);
        for (float& x : v) x = std::round(x * 4.0f) / 4.0f;
        d.push_back({"quantized", v});
    }
    {  // integer steps: a top-p cut lands inside a value held by more ids than are sorted
        std::vector<float> v = normal_row(vocab, 19, 1.5f);
        for (float& x : v) x = std::round(x);
        d.push_back({"coarse", v});
    }
    {  // neighbouring floats: distinct raw values that one scaled value may hold together
        std::vector<float> v = normal_row(vocab, 20, 2.0f);
        std::mt19937 gen(21);
        for (float& x : v) {
            x = std::round(x * 16.0f) / 16.0f;
            for (uint32_t k = gen() % 4; k > 0; --k) x = std::nextafter(x, INFINITY);
        }
        d.push_back({"neighbours", v});
    }
    {  // a third of the ids on two neighbouring floats at the top: top-k counts them raw,
       // then finds the lower one scaling to the k-th value
        constexpr float kTwin = 0x1.800022p+1f;  // it and its successor scale alike by 1.3, 0.7
        std::vector<float> v = normal_row(vocab, 22, 1.0f);
        std::mt19937 gen(23);
        for (float& x : v) {
            if (gen() % 3 == 0)
                x = gen() % 2 ? kTwin : std::nextafter(kTwin, INFINITY);
            else
                x -= 6.0f;
        }
        d.push_back({"top-neighbours", v});
    }
    d.push_back({"equal", std::vector<float>(static_cast<size_t>(vocab), 0.5f)});
    {
        std::vector<float> v = normal_row(vocab, 15, 2.0f);
        std::mt19937 gen(16);
        for (float& x : v)
            if (gen() % 5 < 2) x = kNegInf;
        d.push_back({"masked", v});
    }
    {  // one token far ahead: nearly every other one is beyond the first-level bins
        std::vector<float> v = normal_row(vocab, 17, 1.0f);
        v[static_cast<size_t>(vocab - 1)] = 40.0f;
        d.push_back({"spike", v});
    }
    d.push_back({"wide", normal_row(vocab, 18, 8.0f)});
    return d;
}

void report(const Stats& s) {
    std::printf("%lld draws: %lld equal, %lld near a CDF boundary (accepted), %lld wrong\n",
                static_cast<long long>(s.draws.load()), static_cast<long long>(s.exact.load()),
                static_cast<long long>(s.near_boundary.load()),
                static_cast<long long>(s.failures.load()));
    EXPECT_EQ(s.failures.load(), 0);
    // Double sums in another order move a boundary by ~1e-16 of the total: a few in a million.
    EXPECT_LE(s.near_boundary.load() * 1000, s.draws.load() + 1000) << "too many near-boundary";
    EXPECT_GT(s.draws.load(), 0);
}

TEST(CudaSampling, GlmVocabularyMatchesCpuSampler) {
    REQUIRE_GPU();
    Stats stats;
    uint64_t seed = 100;
    for (const Dataset& d : datasets(kGlmVocab)) check_row(d.name, d.logits, 8, ++seed, &stats);
    report(stats);
}

TEST(CudaSampling, SmallVocabulariesMatchCpuSampler) {
    REQUIRE_GPU();
    Stats stats;
    uint64_t seed = 200;
    for (int64_t vocab : {1000, 300}) {
        for (const Dataset& d : datasets(vocab))
            check_row(d.name + "/" + std::to_string(vocab), d.logits, 32, ++seed, &stats);
    }
    check_row("seven", {0.5f, 1.0f, 1.0f, -2.0f, 1.0f, 0.25f, 3.0f}, 64, ++seed, &stats);
    check_row("seven-ties", {1.0f, 1.0f, 1.0f, 1.0f, 0.0f, 1.0f, 1.0f}, 64, ++seed, &stats);
    check_row("seven-masked", {kNegInf, 2.0f, kNegInf, -1.0f, 0.0f, kNegInf, 2.0f}, 64, ++seed,
              &stats);
    check_row("one", {0.25f}, 8, ++seed, &stats);
    report(stats);
}

// Top-k keeps every token tied with the k-th value: on a row of few distinct values the kept
// set is far larger than k, and a draw must still equal the CPU's.
TEST(CudaSampling, TopKKeepsTiesAtTheThreshold) {
    REQUIRE_GPU();
    Stats stats;
    std::vector<float> v(kGlmVocab);
    std::mt19937 gen(5);
    for (float& x : v) x = static_cast<float>(gen() % 7) * 0.5f;  // 7 values, ~21650 ids each
    check_row("seven-values", v, 16, 300, &stats);
    report(stats);
    // Direct check: top_k 20 at temperature 1 keeps all ids of the top value, so the draws
    // spread over many more than 20 ids.
    std::vector<cuda::SampleRowParams> params;
    for (int i = 0; i < 256; ++i)
        params.push_back({1.0f, 20, 1.0f, 0.0f, counter_uniform(77, static_cast<uint64_t>(i))});
    DeviceBuffer logits(params.size() * v.size() * 4);
    for (size_t r = 0; r < params.size(); ++r)
        CUDA_CHECK(cudaMemcpy(logits.as<float>() + r * v.size(), v.data(), v.size() * 4,
                              cudaMemcpyHostToDevice));
    DeviceBuffer dparams(params.size() * sizeof(cuda::SampleRowParams));
    dparams.copy_from_host(params.data(), params.size() * sizeof(cuda::SampleRowParams));
    DeviceBuffer dids(params.size() * 4);
    cuda::sample_rows(logits.as<float>(), static_cast<int64_t>(params.size()), kGlmVocab,
                      dparams.as<cuda::SampleRowParams>(), dids.as<int32_t>(), nullptr);
    std::vector<int32_t> ids(params.size());
    CUDA_CHECK(cudaDeviceSynchronize());
    dids.copy_to_host(ids.data(), ids.size() * 4);
    std::sort(ids.begin(), ids.end());
    const auto distinct = std::unique(ids.begin(), ids.end()) - ids.begin();
    EXPECT_GT(distinct, 200);
    for (int32_t id : ids) EXPECT_EQ(v[static_cast<size_t>(id)], 3.0f);
}

// The launch needs no host synchronization or allocation: captured in a graph and replayed, it
// gives the plain launch's ids.
TEST(CudaSampling, GraphReplayEqualsPlainLaunch) {
    REQUIRE_GPU();
    const std::vector<float> v = model_like_row(kGlmVocab, 21);
    constexpr int kRows = 24;
    std::vector<cuda::SampleRowParams> params;
    for (int i = 0; i < kRows; ++i)
        params.push_back({0.8f, i % 3 == 0 ? 50 : 0, i % 2 ? 0.9f : 1.0f, i % 4 == 0 ? 0.05f : 0.0f,
                          counter_uniform(5, static_cast<uint64_t>(i))});
    DeviceBuffer logits(kRows * v.size() * 4);
    for (int r = 0; r < kRows; ++r)
        CUDA_CHECK(cudaMemcpy(logits.as<float>() + r * v.size(), v.data(), v.size() * 4,
                              cudaMemcpyHostToDevice));
    DeviceBuffer dparams(params.size() * sizeof(cuda::SampleRowParams));
    dparams.copy_from_host(params.data(), params.size() * sizeof(cuda::SampleRowParams));
    DeviceBuffer plain(kRows * 4), replayed(kRows * 4);
    cudaStream_t stream;
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cuda::sample_rows(logits.as<float>(), kRows, kGlmVocab, dparams.as<cuda::SampleRowParams>(),
                      plain.as<int32_t>(), stream);
    CUDA_CHECK(cudaStreamSynchronize(stream));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    cuda::sample_rows(logits.as<float>(), kRows, kGlmVocab, dparams.as<cuda::SampleRowParams>(),
                      replayed.as<int32_t>(), stream);
    CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    CUDA_CHECK(cudaMemsetAsync(replayed.data(), 0xff, kRows * 4, stream));
    CUDA_CHECK(cudaGraphLaunch(exec, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<int32_t> a(kRows), b(kRows);
    plain.copy_to_host(a.data(), kRows * 4);
    replayed.copy_to_host(b.data(), kRows * 4);
    EXPECT_EQ(a, b);
    CUDA_CHECK(cudaGraphExecDestroy(exec));
    CUDA_CHECK(cudaGraphDestroy(graph));
    CUDA_CHECK(cudaStreamDestroy(stream));
}

// Not a check: microseconds per launch at the GLM vocabulary, for PERFORMANCE.md.
TEST(CudaSampling, TimingAtGlmVocabulary) {
    REQUIRE_GPU();
    const std::vector<float> v = model_like_row(kGlmVocab, 31);
    const std::vector<std::pair<const char*, Setting>> cases = {
        {"greedy", {0.0f, 0, 1.0f, 0.0f}},
        {"temperature 0.8", {0.8f, 0, 1.0f, 0.0f}},
        {"T 0.8, top_k 50, top_p 0.9", {0.8f, 50, 0.9f, 0.0f}},
        {"T 1.0, top_p 0.9", {1.0f, 0, 0.9f, 0.0f}},
        {"T 1.3, top_p 0.95, min_p 0.05", {1.3f, 0, 0.95f, 0.05f}},
    };
    constexpr int kMaxRows = 128;
    DeviceBuffer logits(kMaxRows * v.size() * 4);
    for (int r = 0; r < kMaxRows; ++r)
        CUDA_CHECK(cudaMemcpy(logits.as<float>() + r * v.size(), v.data(), v.size() * 4,
                              cudaMemcpyHostToDevice));
    DeviceBuffer dparams(kMaxRows * sizeof(cuda::SampleRowParams)), dids(kMaxRows * 4);
    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    for (const auto& [name, s] : cases) {
        for (int rows : {1, 32, kMaxRows}) {
            std::vector<cuda::SampleRowParams> params;
            for (int i = 0; i < rows; ++i)
                params.push_back({s.temperature, s.top_k, s.top_p, s.min_p,
                                  counter_uniform(9, static_cast<uint64_t>(i))});
            dparams.copy_from_host(params.data(), params.size() * sizeof(cuda::SampleRowParams));
            constexpr int kIters = 20;
            for (int it = 0; it <= kIters; ++it) {
                if (it == 1) CUDA_CHECK(cudaEventRecord(start));
                cuda::sample_rows(logits.as<float>(), rows, kGlmVocab,
                                  dparams.as<cuda::SampleRowParams>(), dids.as<int32_t>(), nullptr);
            }
            CUDA_CHECK(cudaEventRecord(stop));
            CUDA_CHECK(cudaEventSynchronize(stop));
            float ms = 0;
            CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
            std::printf("sample_rows %-32s rows %3d: %7.1f us per launch\n", name, rows,
                        1000.0 * ms / kIters);
        }
    }
    CUDA_CHECK(cudaEventDestroy(start));
    CUDA_CHECK(cudaEventDestroy(stop));
}

// cuda::apply_logit_edits gives the host reference's bits (no FMA contraction, IEEE division),
// and the edited rows (some of them masked to -inf) then sample to the CPU Sampler's ids.
TEST(CudaSampling, LogitEditsEqualTheHostPenaltiesThenSample) {
    REQUIRE_GPU();
    constexpr int kRows = 8;
    std::mt19937 gen(5);
    std::normal_distribution<float> value(0.0f, 4.0f);
    std::uniform_int_distribution<int32_t> token(0, kGlmVocab - 1);
    std::vector<float> raw(static_cast<size_t>(kRows * kGlmVocab));
    for (float& x : raw) x = value(gen);
    const std::vector<int32_t> eos = {151329, 151336, 151338};
    std::vector<SamplingParams> params(kRows);
    std::vector<std::vector<int32_t>> outputs(kRows);
    std::vector<LogitEdit> edits;
    std::vector<float> want = raw;
    for (int r = 0; r < kRows; ++r) {
        SamplingParams& p = params[static_cast<size_t>(r)];
        p.repetition_penalty = r % 2 ? 1.15f : 1.0f;
        p.frequency_penalty = r % 3 ? 0.2f : -0.4f;
        p.presence_penalty = r % 4 ? 0.0f : 0.6f;
        p.min_tokens = r % 2 ? 1000 : 0;
        p.stop_token_ids = {token(gen)};
        p.logit_bias = {{token(gen), 5.0f}, {eos[0], 1.0f}};
        std::vector<int32_t> prompt(5000), &output = outputs[static_cast<size_t>(r)];
        for (int32_t& t : prompt) t = token(gen) % 20000;
        output.resize(300);
        for (int32_t& t : output) t = token(gen) % 3000;  // repeats, overlaps the prompt
        const auto row =
            std::span<float>(want).subspan(static_cast<size_t>(r) * kGlmVocab, kGlmVocab);
        apply_penalties(row, prompt, output, p);
        apply_min_tokens(row, static_cast<int64_t>(output.size()), p, eos);
        ASSERT_TRUE(append_logit_edits(r, distinct_ids(prompt), output, p, eos, kGlmVocab, edits));
    }
    std::vector<float> host = raw;
    apply_logit_edits(host, kGlmVocab, edits);
    ASSERT_EQ(host, want);

    DeviceBuffer logits(raw.size() * 4), dedits(edits.size() * sizeof(LogitEdit));
    logits.copy_from_host(raw.data(), raw.size() * 4);
    dedits.copy_from_host(edits.data(), edits.size() * sizeof(LogitEdit));
    static_assert(sizeof(LogitEdit) == sizeof(cuda::LogitEdit));
    cuda::apply_logit_edits(logits.as<float>(), kGlmVocab, dedits.as<cuda::LogitEdit>(),
                            static_cast<int64_t>(edits.size()), nullptr);
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> got(raw.size());
    logits.copy_to_host(got.data(), got.size() * 4);
    int64_t edited = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
            << "index " << i;
        edited += got[i] != raw[i];
    }
    EXPECT_GT(edited, kRows * 2000) << "the rows must have been edited";

    // Sampling the edited rows: greedy and drawn, against the CPU on the same rows.
    std::vector<cuda::SampleRowParams> sp;
    for (int r = 0; r < kRows; ++r)
        sp.push_back({r % 3 == 0 ? 0.0f : 0.9f, r % 2 ? 40 : 0, 0.95f, 0.0f,
                      counter_uniform(3, static_cast<uint64_t>(r))});
    DeviceBuffer dparams(sp.size() * sizeof(cuda::SampleRowParams)), dids(kRows * 4);
    dparams.copy_from_host(sp.data(), sp.size() * sizeof(cuda::SampleRowParams));
    cuda::sample_rows(logits.as<float>(), kRows, kGlmVocab, dparams.as<cuda::SampleRowParams>(),
                      dids.as<int32_t>(), nullptr);
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<int32_t> ids(kRows);
    dids.copy_to_host(ids.data(), ids.size() * 4);
    for (int r = 0; r < kRows; ++r) {
        const auto& s = sp[static_cast<size_t>(r)];
        std::vector<float> x(want.begin() + static_cast<ptrdiff_t>(r) * kGlmVocab,
                             want.begin() + static_cast<ptrdiff_t>(r + 1) * kGlmVocab);
        int32_t expect = 0;
        if (s.temperature == 0.0f) {
            expect = argmax_first(x);
        } else {
            x = cpu_process(x, {s.temperature, s.top_k, s.top_p, s.min_p});
            expect = sample_inverse_cdf(x, s.u);
        }
        EXPECT_EQ(ids[static_cast<size_t>(r)], expect) << "row " << r;
        if (params[static_cast<size_t>(r)].min_tokens > 0) {
            for (const int32_t e : eos) EXPECT_NE(ids[static_cast<size_t>(r)], e);
        }
    }
}

}  // namespace
}  // namespace autoglm
