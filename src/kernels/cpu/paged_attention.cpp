// CPU reference paged attention: one (token, head) pair at a time, keys gathered through the block
// table; and the KV slot scatter.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/kv_fp8.h"
#include "kernels/ops.h"

namespace autoglm::cpu {

void write_slots(float* cache, const int64_t* slots, const float* rows, int64_t num_rows,
                 int64_t row_floats) {
    for (int64_t i = 0; i < num_rows; ++i)
        std::memcpy(cache + slots[i] * row_floats, rows + i * row_floats,
                    static_cast<size_t>(row_floats) * sizeof(float));
}

void write_slots_fp8(float* cache, const int64_t* slots, const float* rows, int64_t num_rows,
                     int64_t kv_heads, int64_t head_dim) {
    const int64_t row = kv_heads * head_dim;
    for (int64_t i = 0; i < num_rows; ++i) {
        if (slots[i] < 0) continue;
        for (int64_t h = 0; h < kv_heads; ++h) {
            const float* x = rows + i * row + h * head_dim;
            float* dst = cache + slots[i] * row + h * head_dim;
            float amax = 0.0f;
            for (int64_t e = 0; e < head_dim; ++e) amax = std::max(amax, std::fabs(x[e]));
            const float scale = kv_fp8_scale(amax), inv = 1.0f / scale;  // exact: powers of two
            for (int64_t e = 0; e < head_dim; ++e)
                dst[e] = e4m3_to_f32(f32_to_e4m3_sat(x[e] * inv)) * scale;
        }
    }
}

void paged_attention(const PagedAttentionArgs& a) {
    CHECK(a.num_kv_heads > 0 && a.num_heads % a.num_kv_heads == 0) << "bad GQA head counts";
    const int64_t num_tokens = a.query_start[a.num_seqs];
    const int64_t group = a.num_heads / a.num_kv_heads;
    const int64_t d = a.head_dim;
    const int64_t row = a.num_kv_heads * d;
    // Sequence of every token, so a job needs no search.
    std::vector<int32_t> seq_of(static_cast<size_t>(num_tokens));
    for (int64_t s = 0; s < a.num_seqs; ++s)
        for (int64_t t = a.query_start[s]; t < a.query_start[s + 1]; ++t)
            seq_of[t] = static_cast<int32_t>(s);
    parallel_for(num_tokens * a.num_heads, [&](int64_t begin, int64_t end) {
        std::vector<float> scores;
        for (int64_t job = begin; job < end; ++job) {
            const int64_t t = job / a.num_heads, h = job % a.num_heads, kvh = h / group;
            const int64_t s = seq_of[t];
            const int64_t num_new = a.query_start[s + 1] - a.query_start[s];
            const int64_t ctx = a.seq_lens[s] - num_new + (t - a.query_start[s]);  // own index
            const int32_t* table = a.block_tables + s * a.max_blocks_per_seq;
            auto slot = [&](int64_t j) {
                return table[j / a.block_size] * a.block_size + j % a.block_size;
            };
            const float* q = a.q + (t * a.num_heads + h) * d;
            scores.resize(static_cast<size_t>(ctx + 1));
            float max_score = -INFINITY;
            for (int64_t j = 0; j <= ctx; ++j) {
                const float* k = a.k_cache + slot(j) * row + kvh * d;
                float dot = 0.0f;
                for (int64_t x = 0; x < d; ++x) dot += q[x] * k[x];
                scores[j] = dot * a.scale;
                max_score = std::max(max_score, scores[j]);
            }
            float denom = 0.0f;
            for (int64_t j = 0; j <= ctx; ++j)
                denom += (scores[j] = std::exp(scores[j] - max_score));
            float* o = a.out + t * a.num_heads * d + h * d;
            std::fill(o, o + d, 0.0f);
            for (int64_t j = 0; j <= ctx; ++j) {
                const float p = scores[j] / denom;
                const float* v = a.v_cache + slot(j) * row + kvh * d;
                for (int64_t x = 0; x < d; ++x) o[x] += p * v[x];
            }
        }
    });
}

}  // namespace autoglm::cpu
