// One decode step of one sequence through every text layer in one persistent kernel, for FP8
// weights (a scale per output row) and the bf16 paged KV pool: the kernel-per-op path's five
// launches a layer (qkv + M-RoPE + KV write, attention, o + norm, gate/up + SwiGLU, down + norm)
// become stages of one grid, one block an SM, with a grid-wide counter between stages instead of
// a kernel boundary. Weights depend on nothing the step computes, so each block streams its next
// weight tiles into a ring of shared-memory slots (bulk copies) ahead of the stage it is in:
// while a stage waits for the whole grid (the norms, attention), the ring keeps HBM busy.
// Every block runs the sandwich norms itself on the whole row (the residual in f32, ping-ponged
// between two buffers so that no block overwrites a row another still reads), so the GEMV
// stages need no launch of their own for them. Needs sm_90 (bulk copies, cooperative launch).
// Measured slower than the kernel-per-op path (7.2 against 4.0 ms a step on an H100): the
// stages' serial parts (grid barriers, norms, attention) take ~100 us a layer, far more than the
// ring's ~7 us of weights can cover (docs/PERFORMANCE.md).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/ops.h"

namespace autoglm::cuda {

// One text layer's weights: w[i] / scale[i] for qkv (+ qkv_bias), o, gate/up (rows grouped as
// gemv_silu_pairs takes them) and down, FP8 e4m3 rows of k bytes with a scale each.
struct DecodeStepLayer {
    const uint8_t* w[4] = {};
    const float* scale[4] = {};
    const bf16* qkv_bias = nullptr;
    const bf16* input_ln = nullptr;
    const bf16* post_self_attn = nullptr;
    const bf16* post_attention = nullptr;
    const bf16* post_mlp = nullptr;
};

struct DecodeStepArgs {
    const DecodeStepLayer* layers = nullptr;  // device array [num_layers]
    int num_layers = 0;
    int hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, inter = 0;
    float eps = 1e-5f;
    float scale = 1.0f;  // attention's 1 / sqrt(head_dim)
    MropeParams rope;
    // The step's token: positions [3], its KV slot, kv_len (this token included), block table.
    const int32_t* positions = nullptr;
    const int64_t* slot = nullptr;
    const int32_t* kv_len = nullptr;
    const int32_t* block_table = nullptr;
    int block_size = 0;
    // The pool: layer l's K at kv_pool + l * layer_stride, its V slots_stride elements further.
    bf16* kv_pool = nullptr;
    int64_t layer_stride = 0, v_offset = 0;
    // residual: the embeddings in, the last layer's residual out (f32 [hidden]); residual_alt the
    // same size. qkv, attn, branch, act: the step's activations (one row each).
    float* residual = nullptr;
    float* residual_alt = nullptr;
    bf16* qkv = nullptr;
    bf16* attn = nullptr;
    bf16* branch = nullptr;
    bf16* act = nullptr;
    float* partial = nullptr;  // decode_step_partial_floats(heads, head_dim)
    unsigned* sync = nullptr;  // decode_step_sync_words(kv_heads), zero before the first call
};

// Whether this device and these dimensions can run the kernel (sm_90 or newer; head_dim <= 128
// and a multiple of 8; at most 16 query heads a KV head; hidden <= 4,096;
// every row length a multiple of 16; at most 16,384 inputs to a GEMV).
bool decode_step_fp8_supported(int64_t hidden, int64_t heads, int64_t kv_heads, int64_t head_dim,
                               int64_t inter);
int64_t decode_step_partial_floats(int64_t heads, int64_t head_dim);
int64_t decode_step_sync_words(int64_t kv_heads);

// The step: residual (embeddings) -> residual after the last layer; the K/V rows of the token are
// written into the pool. The kernel leaves its attention counters at zero; the grid counter is
// zeroed by a memset before the launch (both graph-capture).
void decode_step_fp8(const DecodeStepArgs& a, cudaStream_t stream);

}  // namespace autoglm::cuda
