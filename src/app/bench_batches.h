// The step batches `autoglm bench latency` runs through the CUDA model: one sequence, or a
// loaded server's mixed step; and the random prompts they carry.
#pragma once

#include <cstdint>
#include <vector>

#include "model/forward_batch.h"

namespace autoglm {

// The arrays of a ForwardBatch, owned.
struct SeqBatch {
    std::vector<int32_t> tokens;
    std::vector<Position3> positions;
    std::vector<int64_t> slots;
    std::vector<int32_t> query_start, seq_lens, tables, logits;
    int64_t max_blocks = 0;
    ForwardBatch view(int32_t image_token_id = -1) const {
        return ForwardBatch{tokens,     positions, slots, query_start,    seq_lens, tables,
                            max_blocks, logits,    {},    image_token_id, nullptr};
    }
};

// One sequence of `tokens` after `start` cached ones, in blocks 0, 1, 2, ... (enough for
// total_len); the last token's logits.
SeqBatch one_sequence(std::vector<int32_t> tokens, int64_t start, int64_t block_size,
                      int64_t total_len);

// A loaded server's step: `decodes` sequences of one new token after `context` cached ones,
// then one prefill chunk of `prefill` tokens (none: a decode step) after `offset` cached ones;
// each sequence in blocks of its own. Logits for the decodes only (the chunk does not end its
// prompt). Tokens cycle through `tokens`.
SeqBatch mixed_step(int64_t decodes, int64_t context, int64_t prefill, int64_t offset,
                    int64_t block_size, const std::vector<int32_t>& tokens);

// n ids drawn below vocab - 1000 (clear of the special tokens at the top).
std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed);

}  // namespace autoglm
