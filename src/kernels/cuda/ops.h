// CUDA twins of the CPU ops (kernels/ops.h), on device pointers with the stream last. Activations
// are bf16 except the residual stream (f32); weights are bf16. Every launch checks its error.
// Each op is tested against its CPU twin in tests/kernels/cuda_ops_test.cpp.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace autoglm::cuda {

using bf16 = __nv_bfloat16;

// out[i, :] = table[ids[i], :] as f32.                  table [vocab, dim] -> out [n, dim]
void embedding(const bf16* table, const int32_t* ids, int64_t n, int64_t dim, float* out,
               cudaStream_t stream);
// A vocabulary slice's share: table holds rows [vocab_begin, vocab_begin + vocab_rows); other ids
// give zero rows (tensor parallelism sums the ranks' shares).
void embedding_slice(const bf16* table, const int32_t* ids, int64_t n, int64_t dim,
                     int64_t vocab_begin, int64_t vocab_rows, float* out, cudaStream_t stream);

// x[dst[i], :] = rows[i][0 .. dim) for i < count: the rows of image tokens replace embeddings.
void scatter_rows(const bf16* const* rows, const int32_t* dst, int64_t count, int64_t dim, float* x,
                  cudaStream_t stream);

// An FP8 GEMM's products before their scales (Gemm::fp8_products in kernels/cuda/gemm.h): the
// value of [r, c] is raw[r, c] * x_scale[r] * w_scale[c] (+ bias[c]). The kernels that read such
// products apply this on the fly; x_scale null means the values are final.
struct Fp8Products {
    const float* x_scale = nullptr;  // [rows]: the GEMM input's row scales
    const float* w_scale = nullptr;  // [cols]: the weight's output-row scales
    const bf16* bias = nullptr;      // [cols] or null
};

// Rows quantized for the next FP8 GEMM, as quantize_rows_fp8 (kernels/cuda/gemm.h) would:
// scale[r] = amax_r / 448 (1 for zeros), q[r, c] = e4m3_satfinite(x[r, c] * 448 / amax_r).
struct Fp8Rows {
    uint8_t* q = nullptr;    // [rows, cols]
    float* scale = nullptr;  // [rows]
};

// The sandwich norm step, per row r (reading residual row src_row[r], or r when src_row is null):
//   if branch:  residual[r] += w_branch * rmsnorm(branch[r])      (written back)
//   if out:     out[r] = w_out * rmsnorm(residual[r])              (bf16)
// f32 arithmetic. residual [rows, dim] f32; branch, out [rows, dim] bf16.
void add_rms_norm(float* residual, const bf16* branch, const bf16* w_branch, const bf16* w_out,
                  const int32_t* src_row, int64_t rows, int64_t dim, float eps, bf16* out,
                  cudaStream_t stream);

// add_rms_norm for the FP8 path: the branch is an FP8 GEMM's products (scales applied here), the
// output row is quantized for the next FP8 GEMM instead of rounded to bf16 (out.q null: no
// output). branch_products.x_scale may be out.scale: each row reads its scale before writing
// it. dim % 8 == 0 and dim <= 8192.
void add_rms_norm_fp8(float* residual, const bf16* branch, const Fp8Products& branch_products,
                      const bf16* w_branch, const bf16* w_out, int64_t rows, int64_t dim, float eps,
                      const Fp8Rows& out, cudaStream_t stream);

// Plain RMSNorm, f32 arithmetic: f32 rows to f32 or bf16, bf16 rows to bf16 (the vision
// tower's norms; its residual stream is bf16, as the reference keeps it).
void rms_norm_f32(const float* x, const bf16* weight, int64_t rows, int64_t dim, float eps,
                  float* out, cudaStream_t stream);
void rms_norm_to_bf16(const float* x, const bf16* weight, int64_t rows, int64_t dim, float eps,
                      bf16* out, cudaStream_t stream);
void rms_norm_bf16(const bf16* x, const bf16* weight, int64_t rows, int64_t dim, float eps,
                   bf16* out, cudaStream_t stream);

// Text M-RoPE parameters: pair i of the rotary dims rotates by position[section[i]] * inv_freq[i].
struct MropeParams {
    static constexpr int kMaxPairs = 64;
    float inv_freq[kMaxPairs];
    int8_t section[kMaxPairs];
    int num_pairs = 0;
};

// qkv [n, (heads + 2 * kv_heads) * head_dim] (q, then k, then v per token). Rotates q and k in
// adjacent pairs (2i, 2i+1) for i < num_pairs (q in place), and writes k and v to slot slots[t]
// of k_cache / v_cache ([num_slots, kv_heads * head_dim]).
void rope_kv_write(bf16* qkv, int64_t n, const int32_t* positions /* [n, 3] */,
                   const MropeParams& rope, int64_t heads, int64_t kv_heads, int64_t head_dim,
                   const int64_t* slots, bf16* k_cache, bf16* v_cache, cudaStream_t stream);
// The same on an FP8 GEMM's products: every q, k and v value gets its scales and bias first
// (q written back in full). head_dim % 8 == 0.
void rope_kv_write(bf16* qkv, int64_t n, const int32_t* positions, const MropeParams& rope,
                   int64_t heads, int64_t kv_heads, int64_t head_dim, const int64_t* slots,
                   bf16* k_cache, bf16* v_cache, const Fp8Products& products, cudaStream_t stream);

// One layer's FP8 KV pool (--kv-cache-dtype fp8, kernels/kv_fp8.h): e4m3 bytes [num_slots,
// kv_heads * head_dim] for K and for V, and one power-of-two f32 scale per (slot, KV head)
// [num_slots, kv_heads] each; a value is e4m3 * scale.
struct KvFp8Layer {
    uint8_t* k = nullptr;
    uint8_t* v = nullptr;
    float* k_scale = nullptr;
    float* v_scale = nullptr;
};

// Quantizes n tokens' K and V rows (k, v [n, kv_heads * head_dim] bf16, as rope_kv_write left
// them in a staging buffer) into slot slots[t] of the FP8 pool (slots < 0 skipped): per (token,
// KV head) the scale kv_fp8_scale(amax) and e4m3 bytes rounded to nearest even, as the CPU's
// write_slots_fp8. head_dim % 8 == 0, head_dim <= 256.
void quantize_kv_fp8(const bf16* k, const bf16* v, int64_t n, int64_t kv_heads, int64_t head_dim,
                     const int64_t* slots, const KvFp8Layer& pool, cudaStream_t stream);

// Pages of the FP8 pool as bf16 (exact: scales are powers of two) for the prefill attention
// kernels: pages [num_pages][2] = (pool block, destination block) on the device; every slot of
// each block is converted into k_out / v_out ([blocks, block_size, kv_heads * head_dim]).
void dequantize_kv_pages(const KvFp8Layer& pool, const int32_t* pages, int64_t num_pages,
                         int64_t block_size, int64_t kv_heads, int64_t head_dim, bf16* k_out,
                         bf16* v_out, cudaStream_t stream);

// out[r, j] = silu(gate_up[r, j]) * gate_up[r, width + j].
void silu_mul(const bf16* gate_up, int64_t rows, int64_t width, bf16* out, cudaStream_t stream);
// The same on rows whose gate and up halves are interleaved in groups of 4 (the layout
// gemv_silu_pairs reads, kernels/cuda/gemm.h): out[r, j] = silu(g) * u with
// g = gate_up[r, 8 * (j / 4) + j % 4] and u four columns further. width % 4 == 0.
void silu_mul_grouped4(const bf16* gate_up, int64_t rows, int64_t width, bf16* out,
                       cudaStream_t stream);
// silu_mul_grouped4 on an FP8 GEMM's products (scales applied here), each output row quantized
// for the down projection's FP8 GEMM. products.x_scale may be out.scale. width % 4 == 0,
// width <= kSiluMulFp8MaxWidth (a row is held in one block's registers).
constexpr int64_t kSiluMulFp8MaxWidth = 16384;
void silu_mul_grouped4_fp8(const bf16* gate_up, const Fp8Products& products, int64_t rows,
                           int64_t width, const Fp8Rows& out, cudaStream_t stream);

// Vision 2-D rotary on q and k of qkv [n, 3 * heads * head_dim]: half-split pairs (i, i + d/2);
// pair i < d/4 takes coords[t].row * inv_freq[i], the rest coords[t].col * inv_freq[i - d/4],
// inv_freq[k] = theta^(-2k / (d/2)).
void vision_rope(bf16* qkv, int64_t n, int64_t heads, int64_t head_dim, const int32_t* coords,
                 float theta, cudaStream_t stream);
// The same on an FP8 GEMM's products (Fp8Products): every q, k and v value gets its scales first
// (rounded to bf16, v written back scaled), then q and k rotate; equal to scale_fp8_products
// followed by the plain vision_rope.
void vision_rope(bf16* qkv, int64_t n, int64_t heads, int64_t head_dim, const int32_t* coords,
                 float theta, const Fp8Products& products, cudaStream_t stream);

// The vision blocks' residual step on the FP8 path (their residual is bf16), per row r:
//   if branch:  residual[r] = bf16(residual[r] + bf16(scaled branch[r]))   (written back)
//   then w_out * rmsnorm(residual[r]): quantized into `out` for the next FP8 GEMM, or, with
//   out.q null, stored in bf16 to out_bf16 (one of the two). branch_products.x_scale may be
//   out.scale (each row reads its scale before writing it). dim % 8 == 0 and dim <= 8192.
void add_rms_norm_bf16_fp8(bf16* residual, const bf16* branch, const Fp8Products& branch_products,
                           const bf16* w_out, int64_t rows, int64_t dim, float eps,
                           const Fp8Rows& out, bf16* out_bf16, cudaStream_t stream);

// x[t, :] += bicubic sample (A = -0.75, align_corners false, border) of the side x side table at
// patch coords[t] of an image grid_hw[t] = (h, w) patches.
void vision_pos_embed(float* x, const bf16* table, int64_t side, int64_t hidden,
                      const int32_t* coords, const int32_t* grid_hw, int64_t n,
                      cudaStream_t stream);

// Patch rows of one picture from its bytes: rgb [height, width, 3] uint8 (height and width
// multiples of patch * merge), table [3][256] f32 (the value of each byte per channel). out
// [(height / patch) * (width / patch), 3 * temporal * patch * patch] bf16, rows in merge-window
// order, columns (channel, frame, y, x), every frame the same picture: the CPU processor's
// pixel_values rounded to bf16.
void vision_patchify(const uint8_t* rgb, int64_t height, int64_t width, const float* table,
                     int64_t patch, int64_t merge, int64_t temporal, bf16* out,
                     cudaStream_t stream);

// x = gelu_erf(layer_norm(x) * gamma + beta), in place, bf16 rows.
void layer_norm_gelu(bf16* x, const bf16* gamma, const bf16* beta, int64_t rows, int64_t dim,
                     float eps, cudaStream_t stream);

void f32_to_bf16(const float* in, int64_t n, bf16* out, cudaStream_t stream);
void bf16_to_f32(const bf16* in, int64_t n, float* out, cudaStream_t stream);

// ids[r] = argmax over logits[r, 0 .. vocab) (first on ties), in two passes over slices;
// `scratch` holds argmax_scratch_bytes(rows) on the device.
size_t argmax_scratch_bytes(int64_t rows);
void argmax_rows(const float* logits, int64_t rows, int64_t vocab, int32_t* ids, void* scratch,
                 cudaStream_t stream);

// Fills n bf16 values with offset + scale * uniform(-1, 1) from a counter hash of (seed, index).
void fill_uniform(bf16* out, int64_t n, uint64_t seed, float offset, float scale,
                  cudaStream_t stream);

// --- attention -----------------------------------------------------------------------------

// Prefill (and mixed) attention, FlashAttention-2 style on the tensor cores: bf16 in, f32
// softmax, bf16 out. For "sequence" s, queries are tokens [q_start[s], q_start[s+1]) of q; keys
// are the first kv_len[s] context entries; with causal, the i-th query of s (context index
// kv_len[s] - q_len + i) sees keys [0, that index]. GQA: query head h reads KV head h / group.
// Keys come either from the paged pool (block_tables, block_size) or, when block_tables is
// null, contiguously from k/v at rows kv_start[s] + j.
struct AttentionParams {
    const bf16* q = nullptr;
    int64_t q_stride = 0;  // elements between tokens
    const bf16* k = nullptr;
    const bf16* v = nullptr;
    int64_t kv_stride = 0;  // elements between key rows (slots or tokens)
    bf16* out = nullptr;    // [tokens, heads * head_dim]
    int64_t out_stride = 0;
    const int32_t* q_start = nullptr;       // [num_seqs + 1]
    const int32_t* kv_len = nullptr;        // [num_seqs]
    const int32_t* kv_start = nullptr;      // [num_seqs] (contiguous keys only)
    const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq] (paged only)
    int64_t max_blocks_per_seq = 0;
    int64_t block_size = 0;
    int64_t num_seqs = 0;
    int64_t heads = 0;
    int64_t kv_heads = 0;
    int64_t head_dim = 0;
    float scale = 1.0f;
    bool causal = true;
    // decode_attention only: keys from the FP8 pool (k and v unused; same slots, kv_stride bytes
    // between slots) when kv8.k is set.
    KvFp8Layer kv8;
};

// Work items for prefill_attention: (sequence, first query row) per block of 128 rows, where
// rows enumerate (token, head in group). Built on the host from the per-sequence query counts.
struct AttentionWork {
    int32_t seq;
    int32_t row0;
};
int64_t attention_rows_per_block();

// `work` [num_work] lives on the device.
void prefill_attention(const AttentionParams& p, const AttentionWork* work, int64_t num_work,
                       cudaStream_t stream);

// Hopper (sm_90a, wgmma + bulk tensor copies) twin of prefill_attention for the vision tower's
// case: head_dim 128, non-causal, contiguous K/V (kv_start), heads == kv_heads, 16-byte aligned
// q/k/v with strides a multiple of 8 elements. Same work items (attention_rows_per_block rows
// each). hopper_attention_supported says whether p qualifies and this binary and device run
// the kernel (an sm_90a build on a compute-capability 9.0 GPU).
// num_rows: rows addressable at q, k and v (every q_start / kv_start + kv_len lies within);
// the copy engine reads boxes past a sequence's end up to there and zero-fills beyond.
bool hopper_attention_supported(const AttentionParams& p);
void prefill_attention_sm90(const AttentionParams& p, const AttentionWork* work, int64_t num_work,
                            int64_t num_rows, cudaStream_t stream);

// The same kernel family for the text decoder's prefill: causal, paged K/V (block_size a
// multiple of 16; slots past a sequence's kv_len in its last page must hold finite values, as
// the zero-filled pool does), GQA with heads / kv_heads dividing attention_rows_per_block(),
// head_dim 128, 16-byte aligned q/k/v with strides a multiple of 8 elements; mixed steps (prefix
// hits, chunks, single-token sequences) included. Same work items as prefill_attention, grid
// (num_work, kv_heads). num_tokens: tokens addressable at q (q_start[num_seqs] or more);
// num_slots: rows addressable at k and v (the pool's slots).
bool hopper_causal_attention_supported(const AttentionParams& p);
void prefill_attention_sm90_causal(const AttentionParams& p, const AttentionWork* work,
                                   int64_t num_work, int64_t num_tokens, int64_t num_slots,
                                   cudaStream_t stream);

// Decode attention (one query token per sequence; token s is sequence s, or with q_start set,
// token q_start[s], and sequences with other than one new token are skipped: a mixed step's
// decodes, the prefill kernels taking the rest): the
// keys are split over up to 64 blocks per (sequence, KV head), fewer as the batch grows, each
// walking 64-key chunks; the last split of a (sequence, KV head) to finish merges the splits.
// `workspace` holds decode_workspace_floats(num_seqs, ...) floats, zeroed before the first call
// (the kernel leaves its counters at zero again). The grid depends only on num_seqs and
// max_kv_len (an upper bound of every kv_len), so the launch graph-captures.
int64_t decode_workspace_floats(int64_t num_seqs, int64_t heads, int64_t head_dim);
void decode_attention(const AttentionParams& p, int64_t max_kv_len, float* workspace,
                      cudaStream_t stream);

// --- sampling ------------------------------------------------------------------------------

// One (row, token) logit adjustment, laid out as engine/sampler.h's LogitEdit: in order
// x += bias (ops & 1), repetition x > 0 ? x / r : x * r (2), x -= frequency (4),
// x -= presence (8), x = -inf (16); each an IEEE round-to-nearest float operation.
struct LogitEdit {
    int32_t row;
    int32_t token;
    uint32_t ops;
    float bias, repetition, frequency, presence;
};
// Applies `edits` [n] (on the device, at most one per (row, token)) to logits rows of `vocab`.
// Graph-capturable.
void apply_logit_edits(float* logits, int64_t vocab, const LogitEdit* edits, int64_t n,
                       cudaStream_t stream);

// One row's settings, as the CPU Sampler reads them (engine/sampler.h) for a row without
// penalties and past min_tokens.
struct SampleRowParams {
    float temperature;  // 0: greedy (argmax_first of the raw row); else the divisor (> 0)
    int32_t top_k;      // <= 0 or >= vocab: off
    float top_p;        // >= 1: off
    float min_p;        // <= 0: off
    double u;           // the draw's uniform in [0, 1) (counter_uniform(seed, step))
};

// ids[r] = the CPU Sampler's token for logits[r, 0 .. vocab) (f32, rows contiguous): divide by
// the temperature, min-p, top-k (ties at the k-th value kept), top-p (vLLM's rule, ties by lower
// id), then the first id in id order whose running mass exceeds u * total, masses in double.
// One 1024-thread block per row; thresholds by exact selection over the values' bit patterns,
// no sort of the row. `params` [rows] lives on the device. No allocation and no host
// synchronization, so the launch graph-captures. vocab <= 2^21.
void sample_rows(const float* logits, int64_t rows, int64_t vocab, const SampleRowParams* params,
                 int32_t* ids, cudaStream_t stream);

}  // namespace autoglm::cuda
