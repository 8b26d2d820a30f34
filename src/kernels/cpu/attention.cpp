// CPU reference causal GQA attention: one (query, head) pair at a time, f32 softmax.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/ops.h"

namespace autoglm::cpu {

void attention(const AttentionArgs& a) {
    CHECK(a.num_kv_heads > 0 && a.num_heads % a.num_kv_heads == 0)
        << "heads " << a.num_heads << " not a multiple of kv heads " << a.num_kv_heads;
    const int64_t group = a.num_heads / a.num_kv_heads;
    const int64_t d = a.head_dim;
    const int64_t kv_stride = a.num_kv_heads * d;  // floats per cache row
    parallel_for(a.num_queries * a.num_heads, [&](int64_t begin, int64_t end) {
        std::vector<float> scores;
        for (int64_t job = begin; job < end; ++job) {
            const int64_t qi = job / a.num_heads;
            const int64_t h = job % a.num_heads;
            const int64_t kvh = h / group;
            const int64_t num_keys = a.causal ? a.q_start + qi + 1 : a.q_start + a.num_queries;
            const float* q = a.q + (qi * a.num_heads + h) * d;
            scores.resize(static_cast<size_t>(num_keys));
            float max_score = -INFINITY;
            for (int64_t j = 0; j < num_keys; ++j) {
                const float* k = a.k_cache + j * kv_stride + kvh * d;
                float s = 0.0f;
                for (int64_t t = 0; t < d; ++t) s += q[t] * k[t];
                scores[j] = s * a.scale;
                max_score = std::max(max_score, scores[j]);
            }
            float denom = 0.0f;
            for (int64_t j = 0; j < num_keys; ++j) {
                scores[j] = std::exp(scores[j] - max_score);
                denom += scores[j];
            }
            float* o = a.out + qi * a.num_heads * d + h * d;
            std::fill(o, o + d, 0.0f);
            for (int64_t j = 0; j < num_keys; ++j) {
                const float p = scores[j] / denom;
                const float* v = a.v_cache + j * kv_stride + kvh * d;
                for (int64_t t = 0; t < d; ++t) o[t] += p * v[t];
            }
        }
    });
}

}  // namespace autoglm::cpu
