// Backend-neutral op signatures. The CPU reference lives in cpu/ (namespace autoglm::cpu); CUDA
// twins in cuda/ take device pointers and a stream last and are tested against these.
// Activations are f32 row-major; weights are TensorViews in F32, F16 or BF16.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"

namespace autoglm::cpu {

// out[i, :] = table[ids[i], :]                          table [vocab, dim] -> out [n, dim]
void embedding(const TensorView& table, std::span<const int32_t> ids, float* out);

// out = weight * (x * rsqrt(mean(x^2) + eps)), per row. x, out: [rows, dim]; may alias.
void rms_norm(const float* x, const TensorView& weight, int64_t rows, int64_t dim, float eps,
              float* out);

// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n]).       x [m, K], w [N, K], y [m, N]
void linear(const float* x, int64_t m, const TensorView& w, const TensorView* bias, float* y);

// out[r, j] = silu(gate_up[r, j]) * gate_up[r, width + j]. gate_up [rows, 2*width], out [rows,
// width]
void silu_mul(const float* gate_up, int64_t rows, int64_t width, float* out);

// x += y over n elements.
void add_inplace(float* x, const float* y, int64_t n);

// Rotates the first `rotary_dim` dims of each head in adjacent pairs (2i, 2i+1) (GPT-J style):
// x [rows, heads, head_dim]; cos, sin [rows, rotary_dim / 2].
void rope_interleaved(float* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t rotary_dim,
                      const float* cos, const float* sin);

struct AttentionArgs {
    const float* q = nullptr;        // [num_queries, num_heads, head_dim]
    const float* k_cache = nullptr;  // [>= q_start + num_queries, num_kv_heads, head_dim]
    const float* v_cache = nullptr;  // same layout as k_cache
    float* out = nullptr;            // [num_queries, num_heads * head_dim]
    int64_t num_queries = 0;
    int64_t q_start = 0;  // cache index of query 0; query i sees keys [0, q_start + i] (causal)
    int64_t num_heads = 0;
    int64_t num_kv_heads = 0;  // GQA: head h reads KV head h / (num_heads / num_kv_heads)
    int64_t head_dim = 0;
    float scale = 1.0f;
    bool causal = true;  // false: every query sees keys [0, q_start + num_queries)
};

// GQA attention with an f32 softmax (causal, or full within the given keys).
void attention(const AttentionArgs& args);

// Paged KV: slot s of a cache holds one token's [kv_heads, head_dim] K (or V) row. The slot of a
// sequence's context index j is block_table[j / block_size] * block_size + j % block_size.
struct PagedAttentionArgs {
    const float* q = nullptr;        // [num_tokens, num_heads, head_dim]
    const float* k_cache = nullptr;  // [num_slots, num_kv_heads, head_dim]
    const float* v_cache = nullptr;
    float* out = nullptr;                  // [num_tokens, num_heads * head_dim]
    const int32_t* query_start = nullptr;  // [num_seqs + 1]: tokens of seq s are [qs[s], qs[s+1])
    const int32_t* seq_lens = nullptr;  // [num_seqs]: context length including this step's tokens
    const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
    int64_t num_seqs = 0;
    int64_t max_blocks_per_seq = 0;
    int64_t block_size = 0;
    int64_t num_heads = 0;
    int64_t num_kv_heads = 0;
    int64_t head_dim = 0;
    float scale = 1.0f;
};

// Causal GQA attention over paged K/V: the i-th new token of a sequence (context index
// seq_len - num_new + i) sees context indices [0, that index]. f32 softmax.
void paged_attention(const PagedAttentionArgs& args);

// cache[slots[i], :] = rows[i, :] for i < num_rows; rows [num_rows, row_floats].
void write_slots(float* cache, const int64_t* slots, const float* rows, int64_t num_rows,
                 int64_t row_floats);
// write_slots for the FP8 KV cache (kernels/kv_fp8.h), emulated in f32: each head's head_dim
// values of a row are quantized with their power-of-two scale and stored as e4m3 * scale, the
// numbers the GPU's FP8 pool holds. Negative slots are skipped, as on the GPU.
void write_slots_fp8(float* cache, const int64_t* slots, const float* rows, int64_t num_rows,
                     int64_t kv_heads, int64_t head_dim);

// Rotates all head dims in half-split pairs (i, i + head_dim/2) (NeoX style), angle i taken from
// angles[row, i] for i < head_dim/2. x [rows, heads, head_dim]; cos, sin [rows, head_dim/2].
void rope_half_split(float* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos,
                     const float* sin);

// out = (x - mean) / sqrt(var + eps) * gamma + beta per row (biased variance). May alias.
void layer_norm(const float* x, const TensorView& gamma, const TensorView& beta, int64_t rows,
                int64_t dim, float eps, float* out);

// x = gelu(x) with the exact erf form, in place.
void gelu_erf_inplace(float* x, int64_t n);

// out[r, j] = silu(gate[r, j]) * up[r, j]. gate, up, out: [rows, width]; out may alias gate.
void silu_mul_separate(const float* gate, const float* up, int64_t n, float* out);

// Each row of x [rows, cols] replaced by its FP8 value with one scale a row, as the GPU's FP8
// linear layers store weights (per output row) and quantize GEMM inputs (per token): scale =
// amax / 448 (1 for a row of zeros), x = e4m3_sat(x * 448 / amax) * scale, rounded to nearest even.
void fp8_round_rows(float* x, int64_t rows, int64_t cols);

}  // namespace autoglm::cpu
