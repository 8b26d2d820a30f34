// Definitions CudaGlm4vModel's source files share: the device weight pointers, the step
// inputs, the vision workspaces, and the observer taps (device tensors copied for a
// LayerObserver). Not part of the public header.
#pragma once

#include <cuda_runtime.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/cuda_check.h"
#include "core/dtype.h"
#include "kernels/cuda/gemm.h"
#include "model/glm4v/attention_plan.h"
#include "model/glm4v/cuda_model.h"

namespace autoglm {
namespace detail {

constexpr size_t kAlign = 256;  // every device allocation's offset within a block
inline size_t align_up(size_t n, size_t a = kAlign) {
    return (n + a - 1) / a * a;
}

inline void tap(LayerObserver* obs, const char* name, const float* dev, int64_t rows, int64_t cols,
                cudaStream_t stream) {
    std::vector<float> host(static_cast<size_t>(rows * cols));
    CUDA_CHECK(cudaMemcpyAsync(host.data(), dev, host.size() * sizeof(float),
                               cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    obs->on_tensor(name, host.data(), rows, cols);
}

inline void tap_bf16(LayerObserver* obs, const char* name, const cuda::bf16* dev, int64_t rows,
                     int64_t cols, cudaStream_t stream) {
    std::vector<uint16_t> raw(static_cast<size_t>(rows * cols));
    CUDA_CHECK(cudaMemcpyAsync(raw.data(), dev, raw.size() * 2, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<float> host(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) host[i] = bf16_to_f32(raw[i]);
    obs->on_tensor(name, host.data(), rows, cols);
}

// Whether the CUDA backend runs this model with these options (device, head shapes, the FP8
// modes' hardware and widths): CudaGlm4vModel::create asks first (cuda_model_checks.cpp).
Status check_cuda_support(const Glm4vModel& host, const CudaModelOptions& options);

}  // namespace detail

using cuda::bf16;

// A linear layer's weight: bf16, or FP8 with a scale per row (CudaModelOptions::fp8_weights for
// the text decoder's, fp8_vision for the vision blocks').
struct LinearWeight {
    bf16* w = nullptr;
    uint8_t* fp8 = nullptr;
    float* scale = nullptr;
    void set(cuda::LinearArgs& a) const { a.w = w, a.w_fp8 = fp8, a.w_scale = scale; }
};

struct CudaGlm4vModel::Layer {
    bf16 *input_ln, *qkv_b, *post_self_attn, *post_attention, *post_mlp;
    LinearWeight qkv, o, gate_up, down;
};
struct CudaGlm4vModel::VisionBlock {
    bf16 *norm1, *norm2;
    LinearWeight qkv, proj, gate_up, down;  // gate_up grouped as the text MLP's when FP8
};
struct CudaGlm4vModel::Weights {
    bf16 *embed = nullptr, *norm = nullptr;
    LinearWeight lm_head;  // the embeddings' rows when tied
    std::vector<Layer> layers;
    bf16 *patch_w = nullptr, *patch_b = nullptr, *post_conv_ln = nullptr, *pos_embed = nullptr;
    std::vector<VisionBlock> blocks;
    bf16 *post_ln = nullptr, *down_w = nullptr, *down_b = nullptr, *merger_proj = nullptr;
    bf16 *merger_ln_w = nullptr, *merger_ln_b = nullptr, *merger_gate_up = nullptr,
         *merger_down = nullptr;
};

struct CudaGlm4vModel::Inputs {
    int32_t* tokens = nullptr;
    int32_t* positions = nullptr;
    int64_t* slots = nullptr;
    int32_t* q_start = nullptr;
    int32_t* kv_len = nullptr;
    int32_t* tables = nullptr;
    int32_t* logits_rows = nullptr;
    cuda::AttentionWork* work = nullptr;
    const bf16** image_rows = nullptr;
    int32_t* image_dst = nullptr;
    int64_t num_tokens = 0, num_seqs = 0, max_blocks = 0, num_logits = 0, num_work = 0;
    int64_t num_image_rows = 0, max_kv_len = 0;
    // FP8 KV pool, steps that are not decodes (plan_attention_step, attention_plan.h): the
    // prefill sequences' scratch block tables and page pairs on the device, their groups, and
    // whether one-token sequences go to decode_attention.
    int32_t* scratch_tables = nullptr;
    int32_t* pages = nullptr;
    std::vector<AttentionStepPlan::Group> kv_groups;
    bool decode_rows = false;
};

// A thread on one GPU that runs the jobs a tensor-parallel rank 0 posts, one at a time.
struct CudaGlm4vModel::RankWorker {
    explicit RankWorker(int device) : thread_([this, device] { loop(device); }) {}
    ~RankWorker() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void post(std::function<void()> job) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            job_ = std::move(job);
            done_ = false;
        }
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return done_; });
    }

  private:
    void loop(int device) {
        CUDA_CHECK(cudaSetDevice(device));
        std::unique_lock<std::mutex> lock(mu_);
        for (;;) {
            cv_.wait(lock, [&] { return stop_ || job_; });
            if (stop_) return;
            std::function<void()> job = std::move(job_);
            job_ = nullptr;
            lock.unlock();
            job();
            lock.lock();
            done_ = true;
            cv_.notify_all();
        }
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::function<void()> job_;
    bool done_ = true, stop_ = false;
    std::thread thread_;  // last: starts once the rest is built
};

struct CudaGlm4vModel::VisionWork {
    int64_t capacity = 0;  // patches
    float* px = nullptr;   // [N, patch_input_dim] f32
    bf16* px16 = nullptr;
    float* x = nullptr;  // [N, hidden] f32: the embeddings (patch, norm, positions)
    bf16* xb = nullptr;  // [N, hidden] the blocks' residual stream, bf16 as the reference's
    bf16 *h = nullptr, *qkv = nullptr, *attn = nullptr, *gu = nullptr, *act = nullptr;
    bf16 *z = nullptr, *t = nullptr, *gu2 = nullptr, *act2 = nullptr;
    int32_t* ints = nullptr;  // coords [N,2], grid_hw [N,2], then attention metadata
    float* table = nullptr;   // [3][256] a compact image's normalization
    void* rgb = nullptr;      // a compact image's bytes (grown on demand)
    size_t rgb_capacity = 0;
    std::vector<void*> owned;
    ~VisionWork() {
        for (void* p : owned) cudaFree(p);
        if (rgb) cudaFree(rgb);
    }
};

}  // namespace autoglm
