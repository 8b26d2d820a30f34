// CUDA ops against their CPU twins over ragged shapes; skipped (with a message) where no GPU is
// present. Inputs are fresh random values, outputs are poisoned before each run, and errors are
// max|got - want| / max|want| against the f32 CPU op fed the same bf16-rounded inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/cuda_check.h"
#include "core/device_buffer.h"
#include "core/dtype.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/rms_norm.cuh"
#include "kernels/cuda_test_util.h"
#include "kernels/ops.h"

namespace autoglm {
namespace {

using namespace cuda_test;
using cuda::bf16;

TEST(CudaOps, RmsNormMatchesCpuTwin) {
    REQUIRE_GPU();
    std::mt19937 gen(3);
    std::normal_distribution<float> dist(0.0f, 2.0f);
    for (auto [rows, dim] : {std::pair{1, 1}, {3, 37}, {17, 4096}, {5, 1000}}) {
        std::vector<float> x(static_cast<size_t>(rows * dim)), w(static_cast<size_t>(dim));
        for (float& v : x) v = dist(gen);
        for (float& v : w) v = dist(gen);
        std::vector<float> ref(x.size());
        cpu::rms_norm(x.data(), f32_view(w, {dim}), rows, dim, 1e-5f, ref.data());
        DeviceBuffer dx = upload(x), dw = upload(w), dy = poisoned(x.size() * 4);
        cuda::rms_norm(dx.as<float>(), dw.as<float>(), rows, dim, 1e-5f, dy.as<float>(), nullptr);
        EXPECT_LE(rel_error(download_f32(dy, x.size()), ref), 1e-6) << rows << "x" << dim;
    }
}

TEST(CudaOps, AddRmsNormIsTheSandwichStep) {
    REQUIRE_GPU();
    for (auto [rows, dim] : {std::pair{1, 64}, {7, 4096}, {3, 200}}) {
        const auto n = static_cast<size_t>(rows * dim);
        auto residual = random_bf16_values(n, 1, 3.0f), branch = random_bf16_values(n, 2);
        auto wb = random_bf16_values(static_cast<size_t>(dim), 3);
        auto wo = random_bf16_values(static_cast<size_t>(dim), 4);
        // CPU: residual += norm(branch) * wb; out = norm(residual) * wo.
        std::vector<float> normed(n), want_res = residual, want_out(n);
        cpu::rms_norm(branch.data(), f32_view(wb, {dim}), rows, dim, 1e-5f, normed.data());
        cpu::add_inplace(want_res.data(), normed.data(), static_cast<int64_t>(n));
        cpu::rms_norm(want_res.data(), f32_view(wo, {dim}), rows, dim, 1e-5f, want_out.data());
        DeviceBuffer dres = upload(residual), dbr = upload_bf16(branch), dwb = upload_bf16(wb),
                     dwo = upload_bf16(wo), dout = poisoned(n * 2);
        cuda::add_rms_norm(dres.as<float>(), dbr.as<bf16>(), dwb.as<bf16>(), dwo.as<bf16>(),
                           nullptr, rows, dim, 1e-5f, dout.as<bf16>(), nullptr);
        EXPECT_LE(rel_error(download_f32(dres, n), want_res), 1e-6);
        EXPECT_LE(rel_error(download_bf16(dout, n), want_out), 8e-3);
        // Gathered rows, norm only (the final norm of the sampled rows).
        std::vector<int32_t> pick = {static_cast<int32_t>(rows - 1), 0};
        DeviceBuffer dpick = upload(pick), dout2 = poisoned(2 * static_cast<size_t>(dim) * 2);
        cuda::add_rms_norm(dres.as<float>(), nullptr, nullptr, dwo.as<bf16>(), dpick.as<int32_t>(),
                           2, dim, 1e-5f, dout2.as<bf16>(), nullptr);
        std::vector<float> want2(want_out.end() - dim, want_out.end());
        want2.insert(want2.end(), want_out.begin(), want_out.begin() + dim);
        EXPECT_LE(rel_error(download_bf16(dout2, want2.size()), want2), 8e-3);
    }
}

TEST(CudaOps, SiluMulMatchesCpu) {
    REQUIRE_GPU();
    for (auto [rows, width] : {std::pair{1, 13696}, {5, 100}, {3, 7}}) {
        auto gu = random_bf16_values(static_cast<size_t>(rows * 2 * width), 20, 2.0f);
        std::vector<float> want(static_cast<size_t>(rows * width));
        cpu::silu_mul(gu.data(), rows, width, want.data());
        DeviceBuffer d = upload_bf16(gu), out = poisoned(want.size() * 2);
        cuda::silu_mul(d.as<bf16>(), rows, width, out.as<bf16>(), nullptr);
        EXPECT_LE(rel_error(download_bf16(out, want.size()), want), 8e-3);
    }
}

TEST(CudaOps, MropeAndPagedKvWriteMatchCpu) {
    REQUIRE_GPU();
    const int64_t heads = 32, kvh = 2, hd = 128, rot = 64, n = 9;
    const int64_t width = (heads + 2 * kvh) * hd;
    auto qkv = random_bf16_values(static_cast<size_t>(n * width), 30);
    std::vector<int32_t> pos(static_cast<size_t>(n * 3));
    for (int64_t i = 0; i < n; ++i)
        pos[3 * i] = static_cast<int32_t>(i), pos[3 * i + 1] = static_cast<int32_t>(100 + 7 * i),
                pos[3 * i + 2] = static_cast<int32_t>(3000 - i);
    cuda::MropeParams rp;
    rp.num_pairs = static_cast<int>(rot / 2);
    std::vector<float> cos(static_cast<size_t>(n * rot / 2)), sin(cos.size());
    for (int i = 0; i < rp.num_pairs; ++i) {
        rp.inv_freq[i] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / rot);
        rp.section[i] = static_cast<int8_t>(i < 8 ? 0 : (i < 20 ? 1 : 2));
        for (int64_t t = 0; t < n; ++t) {
            const float a = static_cast<float>(pos[3 * t + rp.section[i]]) * rp.inv_freq[i];
            cos[t * rot / 2 + i] = std::cos(a), sin[t * rot / 2 + i] = std::sin(a);
        }
    }
    // CPU: rotate q and k in place, then the K/V rows go to their slots.
    std::vector<float> q(static_cast<size_t>(n * heads * hd)), k(static_cast<size_t>(n * kvh * hd)),
        v(k.size());
    for (int64_t t = 0; t < n; ++t) {
        const float* row = qkv.data() + t * width;
        std::copy(row, row + heads * hd, q.begin() + t * heads * hd);
        std::copy(row + heads * hd, row + (heads + kvh) * hd, k.begin() + t * kvh * hd);
        std::copy(row + (heads + kvh) * hd, row + width, v.begin() + t * kvh * hd);
    }
    cpu::rope_interleaved(q.data(), n, heads, hd, rot, cos.data(), sin.data());
    cpu::rope_interleaved(k.data(), n, kvh, hd, rot, cos.data(), sin.data());
    const int64_t slots_n = 64;
    std::vector<int64_t> slots = {5, 17, 0, 63, 32, 33, 34, -1, 9};
    std::vector<float> kc(static_cast<size_t>(slots_n * kvh * hd), 0.0f), vc(kc.size(), 0.0f);
    for (int64_t t = 0; t < n; ++t)
        if (slots[t] >= 0) {
            std::copy_n(k.begin() + t * kvh * hd, kvh * hd, kc.begin() + slots[t] * kvh * hd);
            std::copy_n(v.begin() + t * kvh * hd, kvh * hd, vc.begin() + slots[t] * kvh * hd);
        }
    DeviceBuffer dqkv = upload_bf16(qkv), dpos = upload(pos), dslots = upload(slots);
    DeviceBuffer dk = upload_bf16(std::vector<float>(kc.size(), 0.0f)),
                 dv = upload_bf16(std::vector<float>(kc.size(), 0.0f));
    cuda::rope_kv_write(dqkv.as<bf16>(), n, dpos.as<int32_t>(), rp, heads, kvh, hd,
                        dslots.as<int64_t>(), dk.as<bf16>(), dv.as<bf16>(), nullptr);
    const auto got = download_bf16(dqkv, qkv.size());
    std::vector<float> got_q(q.size());
    for (int64_t t = 0; t < n; ++t)
        std::copy_n(got.begin() + t * width, heads * hd, got_q.begin() + t * heads * hd);
    EXPECT_LE(rel_error(got_q, q), 8e-3);
    EXPECT_LE(rel_error(download_bf16(dk, kc.size()), kc), 8e-3);
    EXPECT_LE(rel_error(download_bf16(dv, vc.size()), vc), 0.0);
}

// The FP8 KV pool of `slots` slots holding kc / vc ([slots, kvh * hd] bf16 values), written by
// quantize_kv_fp8 from staging rows; `emulated` gets the CPU's write_slots_fp8 rows of the same.
struct Fp8Pool {
    DeviceBuffer k, v, k_scale, v_scale;
    cuda::KvFp8Layer layer() {
        return {k.as<uint8_t>(), v.as<uint8_t>(), k_scale.as<float>(), v_scale.as<float>()};
    }
};
// The rows go in as one step in shuffled slot order, with an extra row at slot -1 (skipped).
Fp8Pool make_fp8_pool(const std::vector<float>& kc, const std::vector<float>& vc, int64_t slots,
                      int64_t kvh, int64_t hd, std::vector<float>& k_emulated,
                      std::vector<float>& v_emulated) {
    const int64_t row = kvh * hd;
    std::vector<int64_t> order(static_cast<size_t>(slots));
    for (int64_t i = 0; i < slots; ++i) order[static_cast<size_t>(i)] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(11));
    order.insert(order.begin() + slots / 2, -1);
    std::vector<float> k_rows, v_rows;  // row i holds slot order[i]'s values
    for (const int64_t slot : order)
        for (int64_t e = 0; e < row; ++e) {
            k_rows.push_back(slot < 0 ? 1e4f : kc[static_cast<size_t>(slot * row + e)]);
            v_rows.push_back(slot < 0 ? -1e4f : vc[static_cast<size_t>(slot * row + e)]);
        }
    const auto n = static_cast<int64_t>(order.size());
    k_emulated.assign(kc.size(), 0.0f), v_emulated.assign(vc.size(), 0.0f);
    cpu::write_slots_fp8(k_emulated.data(), order.data(), k_rows.data(), n, kvh, hd);
    cpu::write_slots_fp8(v_emulated.data(), order.data(), v_rows.data(), n, kvh, hd);
    Fp8Pool pool{poisoned(kc.size()), poisoned(vc.size()),
                 poisoned(static_cast<size_t>(slots * kvh) * 4),
                 poisoned(static_cast<size_t>(slots * kvh) * 4)};
    DeviceBuffer dk = upload_bf16(k_rows), dv = upload_bf16(v_rows), dslots = upload(order);
    cuda::quantize_kv_fp8(dk.as<bf16>(), dv.as<bf16>(), n, kvh, hd, dslots.as<int64_t>(),
                          pool.layer(), nullptr);
    CUDA_CHECK(cudaDeviceSynchronize());
    return pool;
}

// The pool's values as the host reads them: e4m3 byte times its (slot, head) scale.
std::vector<float> read_fp8_side(const DeviceBuffer& bytes, const DeviceBuffer& scales,
                                 int64_t slots, int64_t kvh, int64_t hd) {
    std::vector<uint8_t> b(static_cast<size_t>(slots * kvh * hd));
    std::vector<float> sc(static_cast<size_t>(slots * kvh));
    bytes.copy_to_host(b.data(), b.size());
    scales.copy_to_host(sc.data(), sc.size() * 4);
    std::vector<float> v(b.size());
    for (size_t i = 0; i < b.size(); ++i)
        v[i] = e4m3_to_f32(b[i]) * sc[i / static_cast<size_t>(hd)];
    return v;
}

// Paged causal attention over ragged sequences (chunks after cached prefixes, single tokens) with
// shuffled block tables, through both the prefill kernel (or, with hopper, its sm_90a twin) and,
// for one-token steps, the decode one. With fp8 the keys live in an FP8 pool (written by
// quantize_kv_fp8, checked bit for bit against the CPU's emulation, which is also the reference's
// cache): decode reads it directly (in a mixed step only its one-token sequences, the other rows
// left untouched), the prefill kernels read its pages converted by dequantize_kv_pages.
void check_paged_attention(int64_t heads, int64_t kvh, int64_t hd, std::vector<int32_t> q_lens,
                           std::vector<int32_t> kv_lens, bool decode, bool hopper = false,
                           bool fp8 = false) {
    const int64_t bs = 16;
    const auto seqs = static_cast<int64_t>(q_lens.size());
    int64_t max_blocks = 0, total_blocks = 0;
    for (int32_t l : kv_lens) {
        max_blocks = std::max<int64_t>(max_blocks, (l + bs - 1) / bs);
        total_blocks += (l + bs - 1) / bs;
    }
    std::vector<int32_t> perm(static_cast<size_t>(total_blocks));
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int32_t>(i);
    std::shuffle(perm.begin(), perm.end(), std::mt19937(7));
    std::vector<int32_t> tables(static_cast<size_t>(seqs * max_blocks), 0), qs{0};
    size_t next = 0;
    for (int64_t s = 0; s < seqs; ++s) {
        for (int64_t b = 0; b < (kv_lens[s] + bs - 1) / bs; ++b)
            tables[s * max_blocks + b] = perm[next++];
        qs.push_back(qs.back() + q_lens[s]);
    }
    const int64_t tokens = qs.back(), slots = total_blocks * bs;
    const int64_t q_stride = (heads + 2 * kvh) * hd;  // q inside a fused qkv row
    auto qkv = random_bf16_values(static_cast<size_t>(tokens * q_stride), 40, 1.5f);
    auto kc = random_bf16_values(static_cast<size_t>(slots * kvh * hd), 41, 1.5f);
    auto vc = random_bf16_values(kc.size(), 42);
    Fp8Pool pool;
    if (fp8) {
        // Each (slot, head) row times its own power of two, so rows have different scales and a
        // scale read for the wrong row or head shows.
        std::mt19937 gen(43);
        std::uniform_int_distribution<int> exp(-4, 4);
        for (auto* side : {&kc, &vc})
            for (size_t r = 0; r < side->size() / static_cast<size_t>(hd); ++r) {
                const float f = std::ldexp(1.0f, exp(gen));
                for (int64_t e = 0; e < hd; ++e) (*side)[r * static_cast<size_t>(hd) + e] *= f;
            }
        std::vector<float> k8, v8;
        pool = make_fp8_pool(kc, vc, slots, kvh, hd, k8, v8);
        EXPECT_EQ(max_abs_diff(read_fp8_side(pool.k, pool.k_scale, slots, kvh, hd), k8), 0.0);
        EXPECT_EQ(max_abs_diff(read_fp8_side(pool.v, pool.v_scale, slots, kvh, hd), v8), 0.0);
        EXPECT_GT(rel_error(k8, kc), 0.0);  // the pool rounds: the reference must see it
        kc = std::move(k8), vc = std::move(v8);
    }
    std::vector<float> q(static_cast<size_t>(tokens * heads * hd));
    for (int64_t t = 0; t < tokens; ++t)
        std::copy_n(qkv.begin() + t * q_stride, heads * hd, q.begin() + t * heads * hd);
    std::vector<float> want(q.size());
    cpu::PagedAttentionArgs a;
    a.q = q.data(), a.k_cache = kc.data(), a.v_cache = vc.data(), a.out = want.data();
    a.query_start = qs.data(), a.seq_lens = kv_lens.data(), a.block_tables = tables.data();
    a.num_seqs = seqs, a.max_blocks_per_seq = max_blocks, a.block_size = bs;
    a.num_heads = heads, a.num_kv_heads = kvh, a.head_dim = hd;
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    cpu::paged_attention(a);

    DeviceBuffer dq = upload_bf16(qkv), dk = upload_bf16(kc), dv = upload_bf16(vc);
    DeviceBuffer dqs = upload(qs), dlen = upload(kv_lens), dtab = upload(tables);
    DeviceBuffer dout = poisoned(want.size() * 2);
    cuda::AttentionParams p;
    p.q = dq.as<bf16>(), p.q_stride = q_stride, p.k = dk.as<bf16>(), p.v = dv.as<bf16>();
    p.kv_stride = kvh * hd, p.out = dout.as<bf16>(), p.out_stride = heads * hd;
    p.q_start = dqs.as<int32_t>(), p.kv_len = dlen.as<int32_t>(),
    p.block_tables = dtab.as<int32_t>();
    p.max_blocks_per_seq = max_blocks, p.block_size = bs, p.num_seqs = seqs;
    p.heads = heads, p.kv_heads = kvh, p.head_dim = hd, p.scale = a.scale, p.causal = true;
    DeviceBuffer scratch_k, scratch_v;
    const bool mixed =
        decode && std::any_of(q_lens.begin(), q_lens.end(), [](int32_t l) { return l != 1; });
    if (fp8 && decode) {
        p.kv8 = pool.layer(), p.k = nullptr, p.v = nullptr;
        if (!mixed) p.q_start = nullptr;  // token s is sequence s, as in the model's decode steps
    } else if (fp8) {  // the prefill kernels read the pages as bf16: every block, shuffled
        std::vector<int32_t> to(static_cast<size_t>(total_blocks)), pages;
        for (size_t i = 0; i < to.size(); ++i) to[i] = static_cast<int32_t>(i);
        std::shuffle(to.begin(), to.end(), std::mt19937(13));
        for (int64_t b = 0; b < total_blocks; ++b) {
            pages.push_back(static_cast<int32_t>(b));
            pages.push_back(to[static_cast<size_t>(b)]);
        }
        for (int32_t& t : tables) t = to[static_cast<size_t>(t)];
        dtab = upload(tables);
        p.block_tables = dtab.as<int32_t>();
        DeviceBuffer dpages = upload(pages);
        scratch_k = poisoned(kc.size() * 2), scratch_v = poisoned(vc.size() * 2);
        cuda::dequantize_kv_pages(pool.layer(), dpages.as<int32_t>(), total_blocks, bs, kvh, hd,
                                  scratch_k.as<bf16>(), scratch_v.as<bf16>(), nullptr);
        const auto got_k = download_bf16(scratch_k, kc.size());
        const auto got_v = download_bf16(scratch_v, vc.size());
        const int64_t page = bs * kvh * hd;
        for (int64_t b = 0; b < total_blocks; ++b) {
            const int64_t d = to[static_cast<size_t>(b)];
            for (int64_t i = 0; i < page; ++i) {
                ASSERT_EQ(got_k[static_cast<size_t>(d * page + i)],
                          kc[static_cast<size_t>(b * page + i)]);
                ASSERT_EQ(got_v[static_cast<size_t>(d * page + i)],
                          vc[static_cast<size_t>(b * page + i)]);
            }
        }
        p.k = scratch_k.as<bf16>(), p.v = scratch_v.as<bf16>();
    }
    if (mixed) {  // only the one-token sequences' rows are written
        int32_t max_len = *std::max_element(kv_lens.begin(), kv_lens.end());
        const size_t ws = static_cast<size_t>(cuda::decode_workspace_floats(seqs, heads, hd)) * 4;
        DeviceBuffer part(ws);
        CUDA_CHECK(cudaMemset(part.data(), 0, ws));
        cuda::decode_attention(p, max_len, part.as<float>(), nullptr);
        const auto got = download_bf16(dout, want.size());
        const int64_t row = heads * hd;
        std::vector<float> got_rows, want_rows;
        for (int64_t s = 0; s < seqs; ++s)
            for (int64_t t = qs[s]; t < qs[s + 1]; ++t) {
                auto g = got.begin() + t * row;
                if (q_lens[s] == 1) {
                    got_rows.insert(got_rows.end(), g, g + row);
                    want_rows.insert(want_rows.end(), want.begin() + t * row,
                                     want.begin() + (t + 1) * row);
                } else {
                    EXPECT_TRUE(std::all_of(g, g + row, [](float x) { return std::isnan(x); }))
                        << "decode wrote a row of sequence " << s << " (" << q_lens[s]
                        << " new tokens)";
                }
            }
        ASSERT_FALSE(got_rows.empty());
        EXPECT_LE(rel_error(got_rows, want_rows), 1e-2) << "mixed-step decode rows";
        return;
    }
    if (decode) {
        int32_t max_len = *std::max_element(kv_lens.begin(), kv_lens.end());
        const size_t ws = static_cast<size_t>(cuda::decode_workspace_floats(seqs, heads, hd)) * 4;
        DeviceBuffer part(ws);
        CUDA_CHECK(cudaMemset(part.data(), 0, ws));  // the merge counters start at zero
        cuda::decode_attention(p, max_len, part.as<float>(), nullptr);
        EXPECT_LE(rel_error(download_bf16(dout, want.size()), want), 1e-2)
            << "decode heads " << heads << "/" << kvh << " hd " << hd;
        // The graph form: a max length far above the real ones gives the same result.
        DeviceBuffer dout2 = poisoned(want.size() * 2);
        p.out = dout2.as<bf16>();
        cuda::decode_attention(p, 65536, part.as<float>(), nullptr);
        EXPECT_LE(rel_error(download_bf16(dout2, want.size()), want), 1e-2);
        // The merge counters are back at zero: the same call again gives the same bits.
        const auto first = download_bf16(dout, want.size());
        DeviceBuffer dout3 = poisoned(want.size() * 2);
        p.out = dout3.as<bf16>();
        cuda::decode_attention(p, max_len, part.as<float>(), nullptr);
        EXPECT_EQ(max_abs_diff(download_bf16(dout3, want.size()), first), 0.0);
        return;
    }
    std::vector<cuda::AttentionWork> work;
    const int64_t group = heads / kvh;
    for (int64_t s = 0; s < seqs; ++s)
        for (int64_t r0 = 0; r0 < q_lens[s] * group; r0 += cuda::attention_rows_per_block())
            work.push_back({static_cast<int32_t>(s), static_cast<int32_t>(r0)});
    DeviceBuffer dwork(work.size() * sizeof(cuda::AttentionWork));
    dwork.copy_from_host(work.data(), work.size() * sizeof(cuda::AttentionWork));
    const auto num_work = static_cast<int64_t>(work.size());
    if (hopper)
        cuda::prefill_attention_sm90_causal(p, dwork.as<cuda::AttentionWork>(), num_work, tokens,
                                            slots, nullptr);
    else
        cuda::prefill_attention(p, dwork.as<cuda::AttentionWork>(), num_work, nullptr);
    EXPECT_LE(rel_error(download_bf16(dout, want.size()), want), 1e-2)
        << (hopper ? "hopper " : "") << "prefill heads " << heads << "/" << kvh << " hd " << hd;
}

// Whether this build and device run the Hopper causal kernel for the GLM-4 shape.
bool hopper_causal_here() {
    cuda::AttentionParams probe;
    probe.head_dim = 128, probe.heads = 32, probe.kv_heads = 2, probe.causal = true;
    probe.q = probe.k = probe.v = reinterpret_cast<const bf16*>(uintptr_t{256});
    probe.block_tables = reinterpret_cast<const int32_t*>(uintptr_t{256});
    probe.block_size = 16, probe.q_stride = 36 * 128, probe.kv_stride = 2 * 128;
    probe.out_stride = 32 * 128;
    return cuda::hopper_causal_attention_supported(probe);
}

TEST(CudaOps, PrefillAttentionOverPagedKvMatchesCpu) {
    REQUIRE_GPU();
    // GLM-4 shape: 32 heads on 2 KV heads; prompt chunks after cached prefixes and lone tokens.
    check_paged_attention(32, 2, 128, {300, 1, 64, 17}, {300, 40, 200, 17}, false);
    check_paged_attention(4, 1, 32, {70, 5}, {100, 5}, false);
    check_paged_attention(4, 2, 16, {33, 129}, {33, 140}, false);
    check_paged_attention(8, 8, 64, {130}, {130}, false);
}

TEST(CudaOps, HopperCausalAttentionMatchesCpu) {
    REQUIRE_GPU();
    if (!hopper_causal_here())
        GTEST_SKIP() << "the Hopper attention kernel needs an sm_90a build on a compute 9.0 GPU: "
                     << cuda_device_summary();
    // Prompt chunks after cached prefixes, lone tokens (decodes in a mixed step), a partial last
    // block of rows, and tiles past the diagonal; then a group of 8 and a longer chunk.
    check_paged_attention(32, 2, 128, {300, 1, 64, 17, 1}, {300, 40, 200, 17, 513}, false, true);
    check_paged_attention(16, 2, 128, {77, 250}, {77, 600}, false, true);
    check_paged_attention(32, 2, 128, {400}, {1100}, false, true);
}

// The FP8 KV pool: written bit for bit as the CPU emulates it; decode reads it (whole batches,
// splits, and a mixed step's one-token sequences); the prefill kernels read its pages converted
// exactly to bf16. The reference attends over the CPU's emulated cache.
TEST(CudaOps, Fp8KvCacheAttentionMatchesCpu) {
    REQUIRE_GPU();
    for (const bool decode : {true, false}) {
        check_paged_attention(32, 2, 128, {1, 1, 1}, {1, 700, 4097}, decode, false, true);
        check_paged_attention(4, 1, 32, {1, 1}, {30000, 7}, decode, false, true);
        check_paged_attention(4, 2, 16, {1}, {300}, decode, false, true);
        check_paged_attention(8, 8, 64, {1, 1}, {64, 129}, decode, false, true);
        // The keys a block holds at once, and one past.
        check_paged_attention(32, 2, 128, {1, 1, 1, 1}, {384, 385, 200, 65}, decode, false, true);
        check_paged_attention(4, 1, 32, {1, 1}, {63, 64}, decode, false, true);
    }
    // Mixed steps: decode takes the one-token sequences, the prefill kernel the rest.
    check_paged_attention(32, 2, 128, {300, 1, 64, 17, 1}, {300, 40, 200, 17, 513}, true, false,
                          true);
    check_paged_attention(32, 2, 128, {300, 1, 64, 17, 1}, {300, 40, 200, 17, 513}, false, false,
                          true);
    std::vector<int32_t> ones(24, 1), lens;
    for (int i = 0; i < 24; ++i) lens.push_back(1 + (i * 977) % 3000);
    check_paged_attention(32, 2, 128, ones, lens, true, false, true);
    if (hopper_causal_here())
        check_paged_attention(32, 2, 128, {300, 1, 64, 17, 1}, {300, 40, 200, 17, 513}, false, true,
                              true);
}

TEST(CudaOps, DecodeAttentionMatchesCpu) {
    REQUIRE_GPU();
    check_paged_attention(32, 2, 128, {1, 1, 1}, {1, 700, 4097}, true);
    // All keys in one block (up to 6 steps of 64), just past it, and short ones beside them.
    check_paged_attention(32, 2, 128, {1, 1, 1, 1}, {384, 385, 200, 65}, true);
    check_paged_attention(4, 1, 32, {1, 1}, {63, 64}, true);
    check_paged_attention(4, 2, 16, {1}, {300}, true);
    // Splits longer than the keys a block holds at once: 30,000 keys over at most 64 splits,
    // and 24 sequences (few splits each) of up to 3,000 keys.
    check_paged_attention(4, 1, 32, {1, 1}, {30000, 7}, true);
    std::vector<int32_t> ones(24, 1), lens;
    for (int i = 0; i < 24; ++i) lens.push_back(1 + (i * 977) % 3000);
    check_paged_attention(32, 2, 128, ones, lens, true);
}

// Full attention per image over interleaved qkv rows (the vision tower's layout), on the
// mma.sync kernel or on the Hopper one; against the CPU op.
enum class VisionKernel { kFlash, kHopper };
void check_vision_attention(const std::vector<int32_t>& lens, uint32_t seed, VisionKernel kernel) {
    const int64_t heads = 12, hd = 128, H = heads * hd;
    std::vector<int32_t> qs{0};
    for (int32_t l : lens) qs.push_back(qs.back() + l);
    const int64_t n = qs.back();
    auto qkv = random_bf16_values(static_cast<size_t>(n * 3 * H), seed, 1.5f);
    std::vector<float> q(static_cast<size_t>(n * H)), k(q.size()), v(q.size()), want(q.size());
    for (int64_t t = 0; t < n; ++t) {
        std::copy_n(qkv.begin() + t * 3 * H, H, q.begin() + t * H);
        std::copy_n(qkv.begin() + t * 3 * H + H, H, k.begin() + t * H);
        std::copy_n(qkv.begin() + t * 3 * H + 2 * H, H, v.begin() + t * H);
    }
    for (size_t i = 0; i < lens.size(); ++i) {
        cpu::AttentionArgs a;
        a.q = q.data() + qs[i] * H, a.k_cache = k.data() + qs[i] * H;
        a.v_cache = v.data() + qs[i] * H, a.out = want.data() + qs[i] * H;
        a.num_queries = lens[i], a.num_heads = heads, a.num_kv_heads = heads, a.head_dim = hd;
        a.causal = false, a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
        cpu::attention(a);
    }
    std::vector<cuda::AttentionWork> work;
    for (size_t i = 0; i < lens.size(); ++i)
        for (int32_t r0 = 0; r0 < lens[i]; r0 += 128) work.push_back({static_cast<int32_t>(i), r0});
    DeviceBuffer dqkv = upload_bf16(qkv), dqs = upload(qs), dlen = upload(lens);
    std::vector<int32_t> starts(qs.begin(), qs.end() - 1);
    DeviceBuffer dstart = upload(starts), dout = poisoned(want.size() * 2);
    DeviceBuffer dwork(work.size() * sizeof(cuda::AttentionWork));
    dwork.copy_from_host(work.data(), work.size() * sizeof(cuda::AttentionWork));
    cuda::AttentionParams p;
    p.q = dqkv.as<bf16>(), p.k = dqkv.as<bf16>() + H, p.v = dqkv.as<bf16>() + 2 * H;
    p.q_stride = 3 * H, p.kv_stride = 3 * H, p.out = dout.as<bf16>(), p.out_stride = H;
    p.q_start = dqs.as<int32_t>(), p.kv_len = dlen.as<int32_t>(), p.kv_start = dstart.as<int32_t>();
    p.num_seqs = static_cast<int64_t>(lens.size()), p.heads = heads, p.kv_heads = heads;
    p.head_dim = hd, p.scale = 1.0f / std::sqrt(static_cast<float>(hd)), p.causal = false;
    const auto num_work = static_cast<int64_t>(work.size());
    if (kernel == VisionKernel::kHopper) {
        ASSERT_TRUE(cuda::hopper_attention_supported(p));
        cuda::prefill_attention_sm90(p, dwork.as<cuda::AttentionWork>(), num_work, n, nullptr);
    } else {
        cuda::prefill_attention(p, dwork.as<cuda::AttentionWork>(), num_work, nullptr);
    }
    EXPECT_LE(rel_error(download_bf16(dout, want.size()), want), 1e-2);
}

TEST(CudaOps, VisionAttentionPerImageMatchesCpu) {
    REQUIRE_GPU();
    check_vision_attention({300, 64, 129}, 50, VisionKernel::kFlash);
}

// Ragged images: shorter than a tile, one row past a tile (129), a key tile's edge (176 * k),
// several CTAs, a single patch.
TEST(CudaOps, HopperVisionAttentionMatchesCpu) {
    REQUIRE_GPU();
    cuda::AttentionParams probe;
    probe.head_dim = 128, probe.heads = probe.kv_heads = 12, probe.causal = false;
    probe.q = probe.k = probe.v = reinterpret_cast<const bf16*>(uintptr_t{256});
    probe.kv_start = reinterpret_cast<const int32_t*>(uintptr_t{256});
    probe.q_stride = probe.kv_stride = 3 * 12 * 128, probe.out_stride = 12 * 128;
    if (!cuda::hopper_attention_supported(probe))
        GTEST_SKIP() << "the Hopper attention kernel needs an sm_90a build on a compute 9.0 GPU: "
                     << cuda_device_summary();
    check_vision_attention({300, 64, 129}, 51, VisionKernel::kHopper);
    check_vision_attention({1, 352, 255, 1000, 77}, 52, VisionKernel::kHopper);
}

TEST(CudaOps, VisionRopeNormsGeluArgmaxMatchCpu) {
    REQUIRE_GPU();
    // 2-D rotary on q and k of a fused qkv row: 16-byte vectors (head_dim % 32 == 0) and pair
    // by pair (head_dim 40).
    for (const int64_t hd : {int64_t{32}, int64_t{128}, int64_t{40}}) {
        const int64_t heads = 3, n = 6, H = heads * hd;
        auto qkv = random_bf16_values(static_cast<size_t>(n * 3 * H), 60);
        std::vector<int32_t> coords = {0, 0, 0, 1, 5, 2, 7, 7, 2, 9, 13, 1};
        const int64_t half = hd / 2, quarter = half / 2;
        std::vector<float> cos(static_cast<size_t>(n * half)), sin(cos.size());
        for (int64_t t = 0; t < n; ++t)
            for (int64_t kq = 0; kq < quarter; ++kq) {
                const float f = 1.0f / std::pow(10000.0f, static_cast<float>(2 * kq) / half);
                const float r = coords[2 * t] * f, c = coords[2 * t + 1] * f;
                cos[t * half + kq] = std::cos(r), sin[t * half + kq] = std::sin(r);
                cos[t * half + quarter + kq] = std::cos(c),
                                         sin[t * half + quarter + kq] = std::sin(c);
            }
        std::vector<float> qk(static_cast<size_t>(n * 2 * H));
        for (int64_t t = 0; t < n; ++t)
            std::copy_n(qkv.begin() + t * 3 * H, 2 * H, qk.begin() + t * 2 * H);
        cpu::rope_half_split(qk.data(), n, 2 * heads, hd, cos.data(), sin.data());
        DeviceBuffer d = upload_bf16(qkv), dc = upload(coords);
        cuda::vision_rope(d.as<bf16>(), n, heads, hd, dc.as<int32_t>(), 10000.0f, nullptr);
        const auto got = download_bf16(d, qkv.size());
        std::vector<float> got_qk(qk.size());
        for (int64_t t = 0; t < n; ++t)
            std::copy_n(got.begin() + t * 3 * H, 2 * H, got_qk.begin() + t * 2 * H);
        EXPECT_LE(rel_error(got_qk, qk), 8e-3) << "head_dim " << hd;
    }
    {  // RMSNorm of bf16 rows (the vision blocks'): the 8-wide kernel (1536) and the plain one.
        for (const int64_t dim : {int64_t{1536}, int64_t{100}}) {
            const int64_t rows = 7;
            auto x = random_bf16_values(static_cast<size_t>(rows * dim), 65, 4.0f);
            auto w = random_bf16_values(static_cast<size_t>(dim), 66);
            std::vector<float> want(x.size());
            cpu::rms_norm(x.data(), f32_view(w, {dim}), rows, dim, 1e-6f, want.data());
            DeviceBuffer dx = upload_bf16(x), dw = upload_bf16(w), dout = poisoned(x.size() * 2);
            cuda::rms_norm_bf16(dx.as<bf16>(), dw.as<bf16>(), rows, dim, 1e-6f, dout.as<bf16>(),
                                nullptr);
            EXPECT_LE(rel_error(download_bf16(dout, x.size()), want), 8e-3) << "dim " << dim;
        }
    }
    {  // LayerNorm + exact GELU.
        const int64_t rows = 5, dim = 4096;
        auto x = random_bf16_values(static_cast<size_t>(rows * dim), 61, 3.0f);
        auto g = random_bf16_values(static_cast<size_t>(dim), 62),
             b = random_bf16_values(static_cast<size_t>(dim), 63);
        std::vector<float> want(x.size());
        cpu::layer_norm(x.data(), f32_view(g, {dim}), f32_view(b, {dim}), rows, dim, 1e-5f,
                        want.data());
        cpu::gelu_erf_inplace(want.data(), static_cast<int64_t>(want.size()));
        DeviceBuffer dx = upload_bf16(x), dg = upload_bf16(g), db = upload_bf16(b);
        cuda::layer_norm_gelu(dx.as<bf16>(), dg.as<bf16>(), db.as<bf16>(), rows, dim, 1e-5f,
                              nullptr);
        EXPECT_LE(rel_error(download_bf16(dx, x.size()), want), 8e-3);
    }
    {  // Argmax, first index on ties.
        const int64_t rows = 3, vocab = 151552;
        auto logits = random_bf16_values(static_cast<size_t>(rows * vocab), 64);
        logits[5] = logits[77] = 100.0f;    // row 0: tie, the first wins
        logits[vocab + vocab - 1] = 50.0f;  // row 1: the last element
        logits[2 * vocab + 123456] = 9.0f;  // row 2
        DeviceBuffer dl = upload(logits), ids = poisoned(rows * 4);
        DeviceBuffer scratch(cuda::argmax_scratch_bytes(rows));
        cuda::argmax_rows(dl.as<float>(), rows, vocab, ids.as<int32_t>(), scratch.data(), nullptr);
        CUDA_CHECK(cudaDeviceSynchronize());
        std::vector<int32_t> got(rows);
        ids.copy_to_host(got.data(), rows * 4);
        EXPECT_EQ(got, (std::vector<int32_t>{5, static_cast<int32_t>(vocab - 1), 123456}));
    }
}

}  // namespace
}  // namespace autoglm
