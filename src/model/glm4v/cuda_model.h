// CudaGlm4vModel: GLM-4.1V on one GPU. Weights are uploaded once (bf16, through pinned staging
// buffers, q/k/v and gate/up fused into single matrices); the KV pool is bf16 (or FP8) and paged
// like the CPU one; every step is one batched forward on one stream. Decode steps (one token per
// sequence) replay CUDA graphs captured per padded batch size.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "kernels/cuda/collectives.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/ops.h"
#include "model/forward_batch.h"
#include "model/glm4v/gpu_span_timer.h"
#include "model/glm4v/image_processor.h"
#include "model/glm4v/model.h"

namespace autoglm {

struct CudaModelOptions {
    int device = 0;
    int64_t max_num_tokens = 8192;  // tokens of one step (activation workspaces)
    int64_t max_num_seqs = 256;     // sequences of one step (logits rows, decode graphs)
    int64_t max_model_len = 8192;   // longest sequence (block tables, decode graphs)
    int32_t block_size = 16;
    bool cuda_graphs = true;
    // The text decoder's linear layers (q/k/v, o, gate/up, down) quantized at load to FP8 e4m3
    // with a scale per output row, and the LM head with fp8_lm_head; the embeddings, the norms
    // and the vision tower (but with fp8_vision) stay bf16.
    bool fp8_weights = false;
    // The vision blocks' linear layers (qkv, proj, gate/up, down) in FP8 too, quantized the same
    // way, with their inputs quantized per patch row: the tower's GEMMs on FP8 tensor cores. The
    // patch embedding, the merger and the attention stay bf16. Independent of fp8_weights (the
    // app's default follows them: fp8_vision_from_flags).
    bool fp8_vision = false;
    // With fp8_weights: the LM head (when not tied to the embeddings, and its rows a multiple of
    // 16) as FP8 rows with a scale each too, like the layers: half of its 1.24 GB at the full
    // shape, which every decode step streams. Off: bf16, as vLLM keeps it.
    bool fp8_lm_head = true;
    // Steps of up to this many tokens take the GEMV path (decode: norms, M-RoPE and SwiGLU in
    // the GEMVs' epilogues), larger ones cuBLASLt; -1: 1 with FP8 weights, cuda::kGemvMaxRows
    // in bf16. The FP8 GEMMs were chosen for 2-8 sequences when the FP8 GEMV converted each
    // weight again for every row (batched decode of 2 / 4 / 8 sequences 7.0 / 12.3 / 26.9 ms a
    // step against 4.2 / 4.2 / 4.7, H200, docs/PERFORMANCE.md); the tensor-core FP8 GEMV that
    // replaced it measured 3.98 / 4.66 / 6.66 ms against 4.18 / 4.24 / 4.68 (one run each):
    // ahead at 2 rows only, by 5 %.
    int64_t decode_gemv_max_rows = -1;
    // With FP8 weights: cuBLASLt's FP8 fast accumulation (Gemm::set_fp8_fast_accumulation).
    bool fp8_fast_accumulation = false;
    // The KV pool in FP8 (--kv-cache-dtype fp8, kernels/kv_fp8.h): e4m3 bytes and a
    // power-of-two scale per (token, KV head), half the bytes of bf16. The step's K/V rows are
    // written as bf16 to a staging buffer and quantized into the pool by a pass of their own;
    // decode attention reads the FP8 pool directly (a mixed step's one-token sequences too); the
    // prefill kernels read the pages of their sequences converted back to bf16 (exact) in a
    // scratch pool, in groups that fit it.
    bool fp8_kv = false;
    // Tokens the FP8 path's scratch pool holds (0: max_model_len + max_num_tokens; at least one
    // max_model_len sequence). Smaller pools take a step's prefill sequences in more groups.
    int64_t fp8_kv_scratch_tokens = 0;
    // Tensor parallelism (CudaGlm4vModel::create_tensor_parallel sets these): rank tp_rank of
    // tp_size on GPU `device`, its share of the text decoder as shard_text_weights cuts it
    // (model/glm4v/tensor_parallel.h), the ranks joined by `collectives`.
    int tp_rank = 0, tp_size = 1;
    cuda::Collectives* collectives = nullptr;
    std::function<void(uint64_t done, uint64_t total)> upload_progress;  // bytes uploaded
};

// One bf16 device allocation per image: [num_tokens, hidden], written on the vision stream;
// `ready` is recorded there once the rows are complete.
struct DeviceImageEmbeddings {
    std::shared_ptr<void> data;
    std::shared_ptr<CUevent_st> ready;
    int64_t num_tokens = 0;
    const cuda::bf16* row(int64_t i, int64_t hidden) const {
        return static_cast<const cuda::bf16*>(data.get()) + i * hidden;
    }
};

class CudaGlm4vModel {
  public:
    static Result<std::unique_ptr<CudaGlm4vModel>> create(const Glm4vModel& host,
                                                          const CudaModelOptions& options);
    // The text decoder split over GPUs 0 .. size - 1 (vLLM's layout: heads, MLP rows and
    // vocabulary; NCCL all-reduces after the o and down projections and of the embeddings, an
    // all-gather of the logits). The returned rank 0 is used as a one-GPU model is: each forward
    // and each KV pool change also runs on the other ranks, a thread each, and they meet in
    // NCCL; rank 0 alone holds the vision tower and encodes images (the others add zeros in
    // their place before the embeddings' all-reduce) and holds the whole logits. With FP8
    // weights each rank's o and down products get their scales before the all-reduce.
    static Result<std::unique_ptr<CudaGlm4vModel>> create_tensor_parallel(
        const Glm4vModel& host, const CudaModelOptions& options, int size);
    int tensor_parallel_size() const { return options_.tp_size; }
    ~CudaGlm4vModel();
    CudaGlm4vModel(const CudaGlm4vModel&) = delete;
    CudaGlm4vModel& operator=(const CudaGlm4vModel&) = delete;

    // One step: K/V of the new tokens go to their slots; logits of batch.logits_indices are left
    // on the device (logits()). `image_rows` replace, in order, the embeddings of the batch's
    // image tokens (batch.image_embeds is ignored), or the tokens at `image_dst` when given. The
    // observer, if any, sees f32 copies.
    void forward(const ForwardBatch& batch, std::span<const cuda::bf16* const> image_rows = {},
                 std::span<const int32_t> image_dst = {});
    // Logits of the last forward, [rows, vocab] f32 on the device.
    const float* logits() const { return logits_; }
    float* logits() { return logits_; }  // edited in place before sampling
    int64_t num_logits() const { return num_logits_; }
    void copy_logits(float* host) const;
    // GPU time of the last forward's layers (after its inputs were staged), in ms.
    float last_forward_ms() const;
    // Appends the GPU times (ms) of forwards (image encodes) that finished since the last call,
    // oldest first, without waiting; true when all have been reported (GpuSpanTimer).
    bool collect_forward_ms(std::vector<float>& done) { return forward_timer_.collect(done); }
    bool collect_vision_ms(std::vector<float>& done) { return vision_timer_.collect(done); }
    // Greedy ids of the last forward's logits rows (GPU argmax; copies only the ids).
    std::vector<int32_t> argmax();

    // Vision tower + merger for images concatenated in pixel_values (merge-window order). The
    // tower runs on its own stream; text work queued after this call waits for it.
    DeviceImageEmbeddings encode_images(std::span<const float> pixel_values,
                                        std::span<const ImageGrid> grids,
                                        LayerObserver* observer = nullptr);
    // One processed image; a compact one goes up as its resized bytes (~7 MB for a screenshot
    // instead of ~58 MB of floats) and is normalized and cut into rows on the device, to the
    // same bf16 rows the pixel_values path gives.
    DeviceImageEmbeddings encode_image(const Glm4vProcessedImage& image,
                                       LayerObserver* observer = nullptr);
    // The same without joining the text stream: the encode runs beside text steps; call
    // wait_for before the forward that reads the rows.
    DeviceImageEmbeddings encode_images_async(std::span<const float> pixel_values,
                                              std::span<const ImageGrid> grids,
                                              LayerObserver* observer = nullptr);
    DeviceImageEmbeddings encode_image_async(const Glm4vProcessedImage& image,
                                             LayerObserver* observer = nullptr);
    // Text work queued from now on waits until the rows are written.
    void wait_for(const DeviceImageEmbeddings& embeddings);
    // Whether the rows are written (without waiting); wait_ready blocks the host until they are.
    bool is_ready(const DeviceImageEmbeddings& embeddings) const;
    void wait_ready(const DeviceImageEmbeddings& embeddings) const;

    const Glm4vConfig& config() const { return config_; }
    int64_t num_kv_blocks() const { return num_kv_blocks_; }
    int32_t block_size() const { return options_.block_size; }
    uint64_t kv_bytes_per_block() const;
    uint64_t weight_bytes() const { return weight_bytes_; }
    // Whether the LM head is held as FP8 rows (fp8_weights with fp8_lm_head, untied, rows % 16).
    bool lm_head_fp8() const;
    cudaStream_t stream() const { return stream_; }
    void synchronize() const;
    // (total, free) device memory now.
    std::pair<uint64_t, uint64_t> memory_info() const;
    std::string describe() const;
    // Replaces the KV pool (create() leaves a one-block pool for its warm-up); drops graphs.
    // Under tensor parallelism every rank's pool (of its KV heads).
    Status allocate_kv_pool(int64_t num_blocks);
    // Bytes the KV pool may take under a share of the whole device memory (vLLM's
    // --gpu-memory-utilization): utilization * total - what is in use now (this pool excluded).
    uint64_t kv_budget(double utilization) const;
    int64_t graphs_captured() const { return static_cast<int64_t>(graphs_.size()); }

  private:
    struct Layer;
    struct VisionBlock;
    struct Weights;
    struct Inputs;

    CudaGlm4vModel(const Glm4vModel& host, const CudaModelOptions& options);
    Status upload_weights(const Glm4vWeights& weights);
    void forward_rank(const ForwardBatch& batch, std::span<const cuda::bf16* const> image_rows,
                      std::span<const int32_t> image_dst);
    Status allocate_rank_pool(int64_t num_blocks);
    uint64_t rank_kv_budget(double utilization) const;
    void allocate_workspaces();
    void warm_up();
    void run_layers(const Inputs& in, int64_t n, bool decode, LayerObserver* observer);
    void run_decode_graph(const Inputs& in, int64_t padded);
    Inputs stage_inputs(const ForwardBatch& batch, std::span<const cuda::bf16* const> image_rows,
                        std::span<const int32_t> image_dst, int64_t pad_to_seqs, bool decode,
                        bool graph);
    void* device_alloc(size_t bytes);
    void upload_bytes(const void* src, size_t bytes, void* dst);
    // Pins every upload slot at its usual size up front (see cuda_vision.cpp).
    void reserve_uploads();
    struct VisionWork;
    DeviceImageEmbeddings encode(std::span<const ImageGrid> grids,
                                 const std::function<void(VisionWork&)>& stage_input,
                                 LayerObserver* observer);

    Glm4vConfig config_;
    CudaModelOptions options_;
    // This rank's share of the text decoder (the whole of it on one GPU).
    struct TextDims {
        int64_t heads = 0, kv_heads = 0, inter = 0, vocab = 0, vocab_begin = 0;
    };
    TextDims dims_;
    // Tensor parallelism, on rank 0: the other ranks and a worker thread each (a forward or a
    // pool change runs on all at once), and the collectives they share.
    struct RankWorker;
    std::vector<std::unique_ptr<CudaGlm4vModel>> followers_;
    std::vector<std::unique_ptr<RankWorker>> workers_;
    std::unique_ptr<cuda::Collectives> collectives_;
    // fn(rank model) on every rank at once (each follower in its thread), rank 0 here.
    void on_all_ranks(const std::function<void(CudaGlm4vModel&)>& fn) const;
    void release_ranks();  // the other ranks, each on its own thread (the destructor's first step)
    // Tensor parallelism, every rank: a zero row standing in for rank 0's image rows, and this
    // rank's logits columns and every rank's, gathered ([size][rows][vocab / size]).
    cuda::bf16* zero_row_ = nullptr;
    float *logits_part_ = nullptr, *logits_gather_ = nullptr;
    cudaStream_t stream_ = nullptr;         // text steps, the higher priority
    cudaStream_t vision_stream_ = nullptr;  // image encodes, the lower priority
    std::unique_ptr<cuda::Gemm> gemm_, vision_gemm_;
    std::unique_ptr<Weights> w_;
    std::vector<void*> allocations_;
    uint64_t weight_bytes_ = 0;
    cuda::MropeParams rope_{};
    bool gate_up_grouped_ = false;  // text gate/up rows interleaved (see upload_weights)

    // KV pool: [layers][2][num_slots][kv_heads * head_dim] bf16, or with fp8_kv the same in
    // e4m3 bytes followed by the scales [layers][2][num_slots][kv_heads] f32.
    void* kv_pool_ = nullptr;
    int64_t num_kv_blocks_ = 0;
    cuda::KvFp8Layer kv_fp8_layer(int64_t layer) const;
    // fp8_kv: the step's K and V rows before quantization ([2][max_num_tokens][kv row] bf16, slot
    // t for token t: kv_stage_slots_ = 0, 1, ...), and the bf16 scratch pool the prefill kernels
    // read ([2][kv_scratch_blocks_ * block_size][kv row]).
    cuda::bf16* kv_stage_ = nullptr;
    int64_t* kv_stage_slots_ = nullptr;
    cuda::bf16* kv_scratch_ = nullptr;
    int64_t kv_scratch_blocks_ = 0;

    // Activations for max_num_tokens tokens.
    float* residual_ = nullptr;
    cuda::bf16 *normed_ = nullptr, *qkv_ = nullptr, *attn_ = nullptr, *branch_ = nullptr;
    cuda::bf16 *gate_up_ = nullptr, *act_ = nullptr, *rows_normed_ = nullptr;
    float* logits_ = nullptr;
    int32_t* argmax_ids_ = nullptr;
    void* argmax_scratch_ = nullptr;
    float* decode_partial_ = nullptr;
    cuda::bf16* norm_branch_ = nullptr;  // gemv_add_rms_norm's rows (kept empty between steps)
    cuda::bf16* mlp_in_ = nullptr;       // gemv_mlp_fp8's input rows
    cuda::bf16* mlp_act_ = nullptr;      // gemv_mlp_fp8's act rows, empty between launches
    int64_t num_logits_ = 0;

    // Step inputs: one pinned host block copied to one device block.
    char* host_in_ = nullptr;
    char* dev_in_ = nullptr;
    size_t in_bytes_ = 0;

    // Vision workspaces (grown on demand).
    std::unique_ptr<VisionWork> vision_;

    GpuSpanTimer forward_timer_, vision_timer_;
    struct UploadStage {
        void* host = nullptr;  // pinned
        size_t bytes = 0;
        cudaEvent_t done = nullptr;  // its copy has run
    };
    static constexpr size_t kUploadStages = 16;
    static constexpr size_t kSmallUpload = size_t{1} << 20;
    static constexpr size_t kPictureUpload = size_t{8} << 20;  // a screenshot's RGB bytes fit
    UploadStage stages_[kUploadStages], small_stages_[kUploadStages];
    size_t next_stage_ = 0, next_small_ = 0;
    // What an image's rows need to free themselves, outliving the model if they must.
    struct Streams {
        cudaStream_t text = nullptr, vision = nullptr;
        std::atomic<bool> alive{true};
    };
    std::shared_ptr<Streams> streams_ = std::make_shared<Streams>();
    std::map<int64_t, cudaGraphExec_t> graphs_;  // padded decode batch size -> graph
    int64_t decode_blocks_per_seq_ = 0;
};

// Decode batch sizes that get a graph: 1, 2, 4, 8, 16, ... up to max_num_seqs.
int64_t padded_decode_batch(int64_t num_seqs, int64_t max_num_seqs);

}  // namespace autoglm
