// The GLM-4.1V text decoder on the CPU reference backend (spec §3): embedding, 40 sandwich-normed
// layers (GQA attention with partial M-RoPE, SwiGLU MLP), final norm, lm_head. f32 arithmetic.
#pragma once

#include <vector>

#include "model/forward_batch.h"
#include "model/glm4v/config.h"
#include "model/glm4v/mrope.h"
#include "model/glm4v/weights.h"
#include "model/kv_cache.h"

namespace autoglm {

// The KV cache of one sequence: a paged cache of a single block holding `capacity` tokens, so the
// single-sequence path runs exactly the batched code.
class DenseKvCache {
  public:
    DenseKvCache(const Glm4vTextConfig& config, int64_t capacity,
                 KvStorage storage = KvStorage::kExact)
        : paged_(config, 1, capacity, storage) {}

    int64_t length() const { return length_; }
    int64_t capacity() const { return paged_.block_size(); }
    PagedKvCache& paged() { return paged_; }
    void advance(int64_t count) { length_ += count; }
    void clear() { length_ = 0; }

  private:
    PagedKvCache paged_;
    int64_t length_ = 0;
};

class CollectiveGroup;

// One sequence's new tokens after `cached` ones as a ForwardBatch, in block 0 of a cache whose
// one block holds the whole sequence (DenseKvCache's layout). The batch views this object's
// arrays and args' spans.
struct SingleSequenceBatch {
    SingleSequenceBatch(const TextForwardArgs& args, int64_t cached);
    SingleSequenceBatch(const SingleSequenceBatch&) = delete;  // batch views the arrays below
    SingleSequenceBatch& operator=(const SingleSequenceBatch&) = delete;
    ForwardBatch batch;

  private:
    std::vector<int64_t> slots_;
    std::vector<int32_t> logits_rows_;
    int32_t query_start_[2] = {}, seq_len_[1] = {}, block_table_[1] = {0};
};

// One shard of the decoder under tensor parallelism (model/glm4v/tensor_parallel.h): its query
// and KV heads, its part of the MLP's intermediate rows and of the vocabulary, and the group it
// sums and gathers with. The default is the whole model, alone.
struct TextShardDims {
    int rank = 0, size = 1;
    int64_t heads = 0, kv_heads = 0, intermediate = 0;  // 0: the config's
    int64_t vocab_begin = 0, vocab_end = 0;             // end 0: the whole vocabulary
    CollectiveGroup* group = nullptr;                   // with size > 1
};

class Glm4vTextModel {
  public:
    // `weights` hold the shard's slices when `shard` is given (shard_text_weights).
    Glm4vTextModel(const Glm4vTextConfig& config, const Glm4vWeights& weights,
                   const TextShardDims& shard = {});

    // Runs the tokens after the cache's current length, appends their K/V and returns logits:
    // [num_tokens, vocab] with all_logits, else [1, vocab] for the last token.
    std::vector<float> forward(const TextForwardArgs& args, DenseKvCache& cache) const;

    // One batched step: writes every new token's K/V to its slot and returns the logits of
    // batch.logits_indices ([num_logits, vocab]).
    std::vector<float> forward_batch(const ForwardBatch& batch, PagedKvCache& cache) const;

    const Glm4vTextConfig& config() const { return config_; }

  private:
    void attention_block(int64_t layer, const float* x, const ForwardBatch& batch, const float* cos,
                         const float* sin, PagedKvCache& cache, float* out) const;
    void mlp_block(int64_t layer, const float* x, int64_t n, float* out) const;
    void scatter_image_embeds(const ForwardBatch& batch, float* x) const;

    Glm4vTextConfig config_;
    const Glm4vWeights& weights_;
    TextShardDims shard_;
    MropeTable rope_;
};

}  // namespace autoglm
