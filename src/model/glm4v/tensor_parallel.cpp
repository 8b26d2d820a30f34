// Tensor parallelism on the CPU backend: the weight slices of each rank, the in-memory
// collectives, and the ranks run as threads.
#include "model/glm4v/tensor_parallel.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>

#include "core/check.h"

namespace autoglm {

CollectiveGroup::CollectiveGroup(int size)
    : size_(size), barrier_(size), slots_(static_cast<size_t>(size)) {
    CHECK(size >= 1) << "a collective group of " << size << " ranks";
}

void CollectiveGroup::all_reduce_sum(int rank, float* data, int64_t count) {
    slots_[static_cast<size_t>(rank)].data = data;
    barrier_.arrive_and_wait();
    std::vector<float> sum(static_cast<size_t>(count), 0.0f);
    for (const Slot& s : slots_)
        for (int64_t i = 0; i < count; ++i) sum[static_cast<size_t>(i)] += s.data[i];
    barrier_.arrive_and_wait();  // every rank has read every input
    std::copy(sum.begin(), sum.end(), data);
}

void CollectiveGroup::all_gather_columns(int rank, const float* part, int64_t rows, int64_t col0,
                                         int64_t cols, int64_t total, float* out) {
    slots_[static_cast<size_t>(rank)] = {part, col0, cols};
    barrier_.arrive_and_wait();
    for (const Slot& s : slots_)
        for (int64_t r = 0; r < rows; ++r)
            std::copy_n(s.data + r * s.cols, s.cols, out + r * total + s.col0);
    barrier_.arrive_and_wait();
}

Status check_tensor_parallel(const Glm4vTextConfig& c, int size) {
    const auto n = static_cast<int64_t>(size);
    const std::string of = " (tensor parallel size " + std::to_string(size) + ")";
    if (size < 1) return Error{"tensor parallel size must be at least 1" + of};
    if (c.num_attention_heads % n != 0)
        return Error{std::to_string(c.num_attention_heads) +
                     " attention heads do not split evenly" + of};
    if (c.num_key_value_heads % n != 0 && n % c.num_key_value_heads != 0)
        return Error{std::to_string(c.num_key_value_heads) +
                     " KV heads neither split evenly nor divide the ranks" + of};
    if (c.intermediate_size % n != 0)
        return Error{"intermediate size " + std::to_string(c.intermediate_size) +
                     " does not split evenly" + of};
    return {};
}

namespace {

// Rank `rank`'s share of `size`: heads, KV heads (one at least: shared by the ranks whose query
// heads use it), MLP rows, and a ceil(vocab / size) range of the vocabulary.
TextShardDims shard_dims(const Glm4vTextConfig& c, int rank, int size) {
    const int64_t n = size, V = c.vocab_size;
    TextShardDims dims;
    dims.rank = rank, dims.size = size;
    dims.heads = c.num_attention_heads / n;
    dims.kv_heads = std::max<int64_t>(1, c.num_key_value_heads / n);
    dims.intermediate = c.intermediate_size / n;
    const int64_t chunk = (V + n - 1) / n;
    dims.vocab_begin = std::min(V, rank * chunk);
    dims.vocab_end = std::min(V, dims.vocab_begin + chunk);
    return dims;
}

}  // namespace

TextShardSizes text_shard_sizes(const Glm4vTextConfig& c, int size) {
    const TextShardDims dims = shard_dims(c, 0, size);
    const int64_t d = c.head_dim(), H = c.hidden_size;
    const int64_t q = dims.heads * d, kv = dims.kv_heads * d, I = dims.intermediate;
    TextShardSizes z;
    z.linear_params = c.num_hidden_layers * (H * (q + 2 * kv) + q * H + 3 * H * I);
    z.linear_rows = c.num_hidden_layers * (q + 2 * kv + H + 2 * I + H);
    z.kv_heads = dims.kv_heads;
    z.vocab_rows = dims.vocab_end - dims.vocab_begin;
    return z;
}

namespace {

// Rows [r0, r0 + count) of a 2-D tensor, or elements of a 1-D one: a view.
TensorView rows_of(const TensorView& t, int64_t r0, int64_t count) {
    if (t.empty()) return t;
    TensorView v = t;
    v.data = t.row(r0);
    v.shape[0] = count;
    return v;
}

// Owned storage for a [rows, cols] tensor of t's dtype, filled by `fill(dst)`.
template <typename Fill>
TensorView owned(TextShard& shard, const TensorView& t, int64_t rows, int64_t cols, Fill fill) {
    auto& buf = shard.storage.emplace_back(static_cast<size_t>(rows * cols) * dtype_size(t.dtype));
    fill(buf.data());
    return TensorView{t.dtype, {rows, cols}, buf.data()};
}

// Columns [c0, c0 + count) of a 2-D tensor, copied.
TensorView columns_of(TextShard& shard, const TensorView& t, int64_t c0, int64_t count) {
    const int64_t rows = t.dim(0), cols = t.dim(1);
    const size_t es = dtype_size(t.dtype);
    return owned(shard, t, rows, count, [&](unsigned char* dst) {
        for (int64_t r = 0; r < rows; ++r)
            std::memcpy(
                dst + static_cast<size_t>(r * count) * es,
                static_cast<const unsigned char*>(t.data) + static_cast<size_t>(r * cols + c0) * es,
                static_cast<size_t>(count) * es);
    });
}

}  // namespace

TextShard shard_text_weights(const Glm4vTextConfig& config, const Glm4vWeights& full, int rank,
                             int size) {
    const Status split = check_tensor_parallel(config, size);
    CHECK(split.ok()) << split.error_message();
    CHECK(rank >= 0 && rank < size) << "rank " << rank << " of " << size;
    const int64_t n = size, d = config.head_dim(), I = config.intermediate_size;
    const int64_t kvh = config.num_key_value_heads;
    TextShard shard;
    shard.dims = shard_dims(config, rank, size);
    const TextShardDims& dims = shard.dims;
    const int64_t q0 = rank * dims.heads * d;
    const int64_t kv0 = rank * kvh / n * d;  // the KV heads of this rank's query heads
    const int64_t i0 = rank * dims.intermediate;

    Glm4vWeights& w = shard.weights;
    w.embed_tokens =
        rows_of(full.embed_tokens, dims.vocab_begin, dims.vocab_end - dims.vocab_begin);
    w.lm_head = rows_of(full.lm_head, dims.vocab_begin, dims.vocab_end - dims.vocab_begin);
    w.norm = full.norm;
    for (const TextLayerWeights& f : full.layers) {
        TextLayerWeights l = f;
        l.q_proj_weight = rows_of(f.q_proj_weight, q0, dims.heads * d);
        l.q_proj_bias = rows_of(f.q_proj_bias, q0, dims.heads * d);
        for (auto [dst, src] : {std::pair{&l.k_proj_weight, &f.k_proj_weight},
                                {&l.k_proj_bias, &f.k_proj_bias},
                                {&l.v_proj_weight, &f.v_proj_weight},
                                {&l.v_proj_bias, &f.v_proj_bias}})
            *dst = rows_of(*src, kv0, dims.kv_heads * d);
        l.o_proj_weight = columns_of(shard, f.o_proj_weight, q0, dims.heads * d);
        // gate rows i0.., then up rows I + i0..: one [2 * I / n, hidden] tensor, as the whole
        // model's gate_up is laid out.
        const TensorView& gu = f.gate_up_proj_weight;
        const size_t half =
            static_cast<size_t>(dims.intermediate * gu.dim(1)) * dtype_size(gu.dtype);
        l.gate_up_proj_weight =
            owned(shard, gu, 2 * dims.intermediate, gu.dim(1), [&](unsigned char* dst) {
                std::memcpy(dst, gu.row(i0), half);
                std::memcpy(dst + half, gu.row(I + i0), half);
            });
        l.down_proj_weight = columns_of(shard, f.down_proj_weight, i0, dims.intermediate);
        w.layers.push_back(l);
    }
    return shard;
}

TensorParallelText::TensorParallelText(const Glm4vTextConfig& config, const Glm4vWeights& full,
                                       int size, int64_t num_blocks, int64_t block_size,
                                       KvStorage storage)
    : block_size_(block_size), group_(size) {
    for (int r = 0; r < size; ++r) {
        shards_.push_back(std::make_unique<TextShard>(shard_text_weights(config, full, r, size)));
        TextShard& s = *shards_.back();
        s.dims.group = &group_;
        models_.push_back(std::make_unique<Glm4vTextModel>(config, s.weights, s.dims));
        caches_.push_back(std::make_unique<PagedKvCache>(config, num_blocks, block_size,
                                                         s.dims.kv_heads, storage));
    }
}

std::vector<float> TensorParallelText::forward_batch(const ForwardBatch& batch) {
    std::vector<std::vector<float>> logits(models_.size());
    std::vector<std::thread> ranks;
    for (size_t r = 1; r < models_.size(); ++r)
        ranks.emplace_back([&, r] { logits[r] = models_[r]->forward_batch(batch, *caches_[r]); });
    logits[0] = models_[0]->forward_batch(batch, *caches_[0]);
    for (std::thread& t : ranks) t.join();
    return std::move(logits[0]);
}

std::vector<float> TensorParallelText::forward(const TextForwardArgs& args, int64_t cached) {
    CHECK(cached + static_cast<int64_t>(args.token_ids.size()) <= block_size_)
        << "the sequence outgrows its block: " << cached << " + " << args.token_ids.size() << " > "
        << block_size_;
    const SingleSequenceBatch one(args, cached);
    return forward_batch(one.batch);
}

}  // namespace autoglm
