// CudaGlm4vModel under tensor parallelism: the ranks' creation (one model per GPU from
// shard_text_weights' slices, joined by NCCL), and rank 0's entry points that run on every
// rank at once. The per-rank forward (its all-reduces and gather) is in cuda_model.cpp.
#include <algorithm>
#include <mutex>

#include "core/cuda_check.h"
#include "core/logging.h"
#include "model/glm4v/cuda_model.h"
#include "model/glm4v/cuda_model_internal.h"
#include "model/glm4v/tensor_parallel.h"

namespace autoglm {

// One caller at a time (the engine thread, or set-up before it starts).
void CudaGlm4vModel::on_all_ranks(const std::function<void(CudaGlm4vModel&)>& fn) const {
    for (size_t i = 0; i < followers_.size(); ++i) {
        CudaGlm4vModel* m = followers_[i].get();
        workers_[i]->post([&fn, m] { fn(*m); });
    }
    fn(const_cast<CudaGlm4vModel&>(*this));
    for (const auto& w : workers_) w->wait();
}

void CudaGlm4vModel::release_ranks() {
    for (size_t i = 0; i < followers_.size(); ++i) {  // each rank freed on its own GPU's thread
        workers_[i]->post([this, i] { followers_[i].reset(); });
        workers_[i]->wait();
    }
    workers_.clear();
}

Result<std::unique_ptr<CudaGlm4vModel>> CudaGlm4vModel::create_tensor_parallel(
    const Glm4vModel& host, const CudaModelOptions& options, int size) {
    if (size <= 1) return create(host, options);
    const auto& t = host.config().text;
    const std::string of = " (tensor parallel size " + std::to_string(size) + ")";
    if (Status s = check_tensor_parallel(t, size); !s) return Error{s.error_message()};
    if (options.fp8_weights && ((t.intermediate_size / size) % 16 != 0 ||
                                (t.num_attention_heads / size * t.head_dim()) % 16 != 0))
        return Error{"FP8 weights need each rank's MLP and attention widths to be multiples of 16" +
                     of};
    if (t.vocab_size % size != 0)
        return Error{"vocabulary of " + std::to_string(t.vocab_size) + " does not split evenly" +
                     of};
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
    if (count < options.device + size)
        return Error{"tensor parallel size " + std::to_string(size) + " needs GPUs " +
                     std::to_string(options.device) + " .. " +
                     std::to_string(options.device + size - 1) + ", " + std::to_string(count) +
                     " found"};
    std::vector<int> devices;
    for (int r = 0; r < size; ++r) devices.push_back(options.device + r);
    auto collectives = cuda::Collectives::create(devices);
    if (!collectives) return collectives.error();
    // The last rank first, so that rank 0's GPU is current when this returns.
    std::vector<std::unique_ptr<CudaGlm4vModel>> ranks(static_cast<size_t>(size));
    for (int r = size - 1; r >= 0; --r) {
        CudaModelOptions o = options;
        o.device = devices[static_cast<size_t>(r)];
        o.tp_rank = r, o.tp_size = size, o.collectives = collectives.value().get();
        if (r > 0) o.upload_progress = nullptr;
        auto m = create(host, o);
        if (!m) return Error{"rank " + std::to_string(r) + ": " + m.error_message()};
        ranks[static_cast<size_t>(r)] = std::move(m).value();
        LOG_INFO << "tensor-parallel rank " << r << " of " << size << " on GPU " << o.device << ": "
                 << (ranks[static_cast<size_t>(r)]->weight_bytes() >> 20) << " MiB of weights";
    }
    std::unique_ptr<CudaGlm4vModel> leader = std::move(ranks[0]);
    leader->collectives_ = std::move(collectives).value();
    for (int r = 1; r < size; ++r) {
        leader->workers_.push_back(std::make_unique<RankWorker>(devices[static_cast<size_t>(r)]));
        leader->followers_.push_back(std::move(ranks[static_cast<size_t>(r)]));
    }
    CUDA_CHECK(cudaSetDevice(options.device));
    leader->warm_up();
    return leader;
}

Status CudaGlm4vModel::allocate_kv_pool(int64_t num_blocks) {
    if (followers_.empty()) return allocate_rank_pool(num_blocks);
    CUDA_CHECK(cudaSetDevice(options_.device));
    std::mutex mu;
    Status first;
    on_all_ranks([&](CudaGlm4vModel& m) {
        Status s = m.allocate_rank_pool(num_blocks);
        std::lock_guard<std::mutex> lock(mu);
        if (!s && first.ok())
            first = Error{"rank " + std::to_string(m.options_.tp_rank) + ": " + s.error_message()};
    });
    return first;
}

void CudaGlm4vModel::forward(const ForwardBatch& batch, std::span<const bf16* const> image_rows,
                             std::span<const int32_t> image_dst) {
    if (followers_.empty()) {
        forward_rank(batch, image_rows, image_dst);
        return;
    }
    CHECK(!batch.observer) << "layer taps are not supported with tensor parallelism";
    CUDA_CHECK(cudaSetDevice(options_.device));
    on_all_ranks([&](CudaGlm4vModel& m) {
        if (&m == this) {
            m.forward_rank(batch, image_rows, image_dst);
            return;
        }
        // Zeros where rank 0 puts the image rows: the embeddings' all-reduce adds them.
        const std::vector<const bf16*> zeros(image_rows.size(), m.zero_row_);
        m.forward_rank(batch, zeros, image_dst);
    });
}

uint64_t CudaGlm4vModel::kv_budget(double utilization) const {
    if (followers_.empty()) return rank_kv_budget(utilization);
    CUDA_CHECK(cudaSetDevice(options_.device));
    std::mutex mu;
    uint64_t least = UINT64_MAX;  // the tightest rank's
    on_all_ranks([&](CudaGlm4vModel& m) {
        const uint64_t b = m.rank_kv_budget(utilization);
        std::lock_guard<std::mutex> lock(mu);
        least = std::min(least, b);
    });
    return least;
}

}  // namespace autoglm
