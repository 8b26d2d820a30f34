// The step batches of `autoglm bench latency`.
#include "app/bench_batches.h"

#include <algorithm>
#include <random>

#include "model/glm4v/mrope.h"

namespace autoglm {

SeqBatch one_sequence(std::vector<int32_t> tokens, int64_t start, int64_t block_size,
                      int64_t total_len) {
    SeqBatch b;
    const auto n = static_cast<int64_t>(tokens.size());
    b.tokens = std::move(tokens);
    b.positions = text_positions(start, n);
    for (int64_t i = 0; i < n; ++i) b.slots.push_back(start + i);
    b.query_start = {0, static_cast<int32_t>(n)};
    b.seq_lens = {static_cast<int32_t>(start + n)};
    b.max_blocks = (total_len + block_size - 1) / block_size;
    for (int64_t i = 0; i < b.max_blocks; ++i) b.tables.push_back(static_cast<int32_t>(i));
    b.logits = {static_cast<int32_t>(n - 1)};
    return b;
}

SeqBatch mixed_step(int64_t decodes, int64_t context, int64_t prefill, int64_t offset,
                    int64_t block_size, const std::vector<int32_t>& tokens) {
    SeqBatch b;
    const int64_t dec_blocks = context / block_size + 1;
    b.max_blocks = std::max(dec_blocks, (offset + prefill + block_size - 1) / block_size);
    b.query_start = {0};
    for (int64_t s = 0; s < decodes + (prefill > 0 ? 1 : 0); ++s) {
        const bool dec = s < decodes;
        const int64_t start = dec ? context : offset, n = dec ? 1 : prefill;
        const auto pos = text_positions(start, n);
        for (int64_t i = 0; i < n; ++i) {
            const int64_t t = start + i;
            b.tokens.push_back(tokens[static_cast<size_t>(b.tokens.size() % tokens.size())]);
            b.positions.push_back(pos[static_cast<size_t>(i)]);
            b.slots.push_back((s * b.max_blocks + t / block_size) * block_size + t % block_size);
        }
        b.query_start.push_back(static_cast<int32_t>(b.tokens.size()));
        b.seq_lens.push_back(static_cast<int32_t>(start + n));
        for (int64_t i = 0; i < b.max_blocks; ++i)
            b.tables.push_back(static_cast<int32_t>(s * b.max_blocks + i));
        if (dec) b.logits.push_back(static_cast<int32_t>(s));
    }
    return b;
}

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab - 1000));
    return t;
}

}  // namespace autoglm
