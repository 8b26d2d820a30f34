// Tensor parallelism of the text decoder, in vLLM's layout: q/k/v and gate/up split by output
// rows (whole heads; with fewer KV heads than ranks, the ranks whose query heads share a KV head
// each hold a copy of it), o and down split by input columns and summed over the ranks after,
// the embedding and the LM head split by vocabulary rows (the embeddings summed, the logits
// gathered). The norms and the vision tower are whole on every rank. Here the ranks are threads
// of one process on the CPU backend and CollectiveGroup sums and gathers in memory, so the
// partitioning is tested where there are no GPUs.
#pragma once

#include <barrier>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/result.h"
#include "model/forward_batch.h"
#include "model/glm4v/config.h"
#include "model/glm4v/text_model.h"
#include "model/glm4v/weights.h"
#include "model/kv_cache.h"

namespace autoglm {

// The collectives of `size` ranks in one process (NCCL's all-reduce and all-gather, in memory).
// Every rank calls each collective once, in the same order; each call returns when all have
// taken part.
class CollectiveGroup {
  public:
    explicit CollectiveGroup(int size);
    int size() const { return size_; }
    // data [count] becomes the sum over the ranks, added in rank order (the same bits on every
    // rank).
    void all_reduce_sum(int rank, float* data, int64_t count);
    // Each rank's part [rows, cols] lands in columns col0.. of every rank's out [rows, total].
    void all_gather_columns(int rank, const float* part, int64_t rows, int64_t col0, int64_t cols,
                            int64_t total, float* out);

  private:
    struct Slot {
        const float* data = nullptr;
        int64_t col0 = 0, cols = 0;
    };
    int size_;
    std::barrier<> barrier_;
    std::vector<Slot> slots_;
};

// Whether `size` ranks can split this decoder: they divide the query heads, the intermediate
// size, and the KV heads (or the KV heads divide them).
Status check_tensor_parallel(const Glm4vTextConfig& config, int size);

// What one of `size` ranks holds of the text decoder (the same for every rank): its linear
// layers' parameters and output rows over all layers, its KV heads, its vocabulary rows (of the
// embedding and of the LM head each).
struct TextShardSizes {
    int64_t linear_params = 0, linear_rows = 0, kv_heads = 0, vocab_rows = 0;
};
TextShardSizes text_shard_sizes(const Glm4vTextConfig& config, int size);

// Rank `rank`'s dimensions of `size`, and its slices of the whole model's text weights: views
// where the rows are contiguous, copies (owned here) for column slices and the gate/up rows.
struct TextShard {
    TextShardDims dims;
    Glm4vWeights weights;
    std::vector<std::vector<unsigned char>> storage;
};
TextShard shard_text_weights(const Glm4vTextConfig& config, const Glm4vWeights& full, int rank,
                             int size);

// The text decoder over `size` ranks, each with its weights and its paged KV cache (`num_blocks`
// blocks of `block_size` slots holding its KV heads).
class TensorParallelText {
  public:
    TensorParallelText(const Glm4vTextConfig& config, const Glm4vWeights& full, int size,
                       int64_t num_blocks, int64_t block_size,
                       KvStorage storage = KvStorage::kExact);
    int size() const { return group_.size(); }
    int64_t block_size() const { return block_size_; }
    // One step on every rank at once, a thread each: Glm4vTextModel::forward_batch's logits.
    std::vector<float> forward_batch(const ForwardBatch& batch);
    // One sequence's tokens after `cached` ones in block 0 (caches of one block of block_size
    // slots, DenseKvCache's layout): Glm4vTextModel::forward's logits.
    std::vector<float> forward(const TextForwardArgs& args, int64_t cached);

  private:
    int64_t block_size_;
    CollectiveGroup group_;
    std::vector<std::unique_ptr<TextShard>> shards_;
    std::vector<std::unique_ptr<Glm4vTextModel>> models_;
    std::vector<std::unique_ptr<PagedKvCache>> caches_;
};

}  // namespace autoglm
