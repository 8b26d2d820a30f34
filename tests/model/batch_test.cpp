// Batched paged forward == one-sequence forward, bit for bit: several sequences with different
// lengths, scattered block tables, a decode step next to prefills, and a prefill split in chunks.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "model/glm4v/model.h"

namespace autoglm {
namespace {

constexpr int64_t kBlockSize = 4;

std::unique_ptr<Glm4vModel> load_fixture() {
    LoadOptions options;
    options.model = std::string(AUTOGLM_TEST_DATA_DIR) + "/tiny_bf16_sharded/model";
    return std::move(Glm4vModel::load(options)).value();
}

std::vector<int32_t> random_ids(size_t n, uint32_t seed) {
    std::mt19937 gen(seed);
    std::vector<int32_t> ids(n);
    for (auto& id : ids) id = static_cast<int32_t>(gen() % 1500);
    return ids;
}

// Logits of the last token of `ids`, alone, through the dense single-sequence path.
std::vector<float> reference_last_logits(const Glm4vTextModel& text,
                                         const std::vector<int32_t>& ids) {
    DenseKvCache cache(text.config(), static_cast<int64_t>(ids.size()));
    const auto pos = text_positions(0, static_cast<int64_t>(ids.size()));
    return text.forward({ids, pos}, cache);
}

// A step builder over sequences that own scattered blocks of one shared paged cache.
struct Step {
    std::vector<int32_t> tokens, query_start{0}, seq_lens, tables, logits;
    std::vector<Position3> positions;
    std::vector<int64_t> slots;
    int64_t max_blocks = 0;

    // Adds tokens [begin, end) of a sequence whose blocks are `table`.
    void add(const std::vector<int32_t>& ids, int64_t begin, int64_t end,
             const std::vector<int32_t>& table) {
        for (int64_t j = begin; j < end; ++j) {
            tokens.push_back(ids[static_cast<size_t>(j)]);
            const auto p = static_cast<int32_t>(j);
            positions.push_back({p, p, p});
            slots.push_back(table[static_cast<size_t>(j / kBlockSize)] * kBlockSize +
                            j % kBlockSize);
        }
        query_start.push_back(static_cast<int32_t>(tokens.size()));
        seq_lens.push_back(static_cast<int32_t>(end));
        logits.push_back(static_cast<int32_t>(tokens.size()) - 1);
        tables.insert(tables.end(), table.begin(), table.end());
        tables.resize(seq_lens.size() * static_cast<size_t>(max_blocks), 0);
    }
    ForwardBatch batch() const {
        return ForwardBatch{tokens,   positions, slots,      query_start,
                            seq_lens, tables,    max_blocks, logits};
    }
};

TEST(BatchedForward, EqualsSingleSequenceBitForBit) {
    const auto model = load_fixture();
    const Glm4vTextModel& text = model->text();
    PagedKvCache cache(text.config(), /*num_blocks=*/32, kBlockSize);
    const auto a = random_ids(13, 1), b = random_ids(7, 2), c = random_ids(10, 3);
    const std::vector<int32_t> table_a = {7, 3, 30, 12}, table_b = {5, 9}, table_c = {0, 21, 17};
    // Step 1: a fully, b without its last token, c's first 6 tokens (a chunk).
    Step s1{.max_blocks = 4};
    s1.add(a, 0, 13, table_a);
    s1.add(b, 0, 6, table_b);
    s1.add(c, 0, 6, table_c);
    const auto l1 = text.forward_batch(s1.batch(), cache);
    const auto vocab = static_cast<size_t>(text.config().vocab_size);
    const auto ref_a = reference_last_logits(text, a);
    EXPECT_TRUE(std::equal(ref_a.begin(), ref_a.end(), l1.begin())) << "sequence a";
    // Step 2: b decodes its last token, c prefills the rest (a second chunk).
    Step s2{.max_blocks = 4};
    s2.add(b, 6, 7, table_b);
    s2.add(c, 6, 10, table_c);
    const auto l2 = text.forward_batch(s2.batch(), cache);
    const auto ref_b = reference_last_logits(text, b), ref_c = reference_last_logits(text, c);
    EXPECT_TRUE(std::equal(ref_b.begin(), ref_b.end(), l2.begin())) << "sequence b (decode)";
    EXPECT_TRUE(
        std::equal(ref_c.begin(), ref_c.end(), l2.begin() + static_cast<std::ptrdiff_t>(vocab)))
        << "sequence c (chunked prefill)";
}

}  // namespace
}  // namespace autoglm
