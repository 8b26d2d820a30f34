// CudaGlm4vModel: creation, workspaces and the batched text forward (prefill, mixed and
// graph-captured decode), a tensor-parallel rank's share of it included. What the backend
// supports is checked in cuda_model_checks.cpp, the weight upload is in cuda_weights.cpp, the
// vision tower in cuda_vision.cpp, a step's layers (run_layers) in cuda_text_layers.cpp, the
// ranks' creation and rank 0's all-ranks entry points in cuda_tensor_parallel.cpp.
#include "model/glm4v/cuda_model.h"

#include "model/glm4v/cuda_model_internal.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "core/cuda_check.h"
#include "core/dtype.h"
#include "core/logging.h"
#include "model/glm4v/attention_plan.h"
#include "model/glm4v/mrope.h"
#include "model/glm4v/tensor_parallel.h"

namespace autoglm {

using detail::align_up;
using detail::kAlign;

int64_t padded_decode_batch(int64_t num_seqs, int64_t max_num_seqs) {
    int64_t b = 1;
    while (b < num_seqs) b *= 2;
    return std::min(b, std::max(max_num_seqs, num_seqs));
}

CudaGlm4vModel::CudaGlm4vModel(const Glm4vModel& host, const CudaModelOptions& options)
    : config_(host.config()), options_(options), w_(std::make_unique<Weights>()) {
    const auto& t = config_.text;
    dims_ = {t.num_attention_heads, t.num_key_value_heads, t.intermediate_size, t.vocab_size, 0};
}

CudaGlm4vModel::~CudaGlm4vModel() {
    release_ranks();
    for (auto& [b, g] : graphs_) cudaGraphExecDestroy(g);
    if (vision_stream_) cudaStreamSynchronize(vision_stream_);
    streams_->alive.store(false);
    for (UploadStage* ring : {stages_, small_stages_})
        for (size_t i = 0; i < kUploadStages; ++i) {
            if (ring[i].host) cudaFreeHost(ring[i].host);
            if (ring[i].done) cudaEventDestroy(ring[i].done);
        }
    gemm_.reset();
    vision_gemm_.reset();
    vision_.reset();
    for (void* p : allocations_) cudaFree(p);
    if (host_in_) cudaFreeHost(host_in_);
    if (stream_) cudaStreamDestroy(stream_);
    if (vision_stream_) cudaStreamDestroy(vision_stream_);
}

void* CudaGlm4vModel::device_alloc(size_t bytes) {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    CHECK(e == cudaSuccess) << "out of GPU memory allocating " << bytes
                            << " bytes: " << cudaGetErrorString(e);
    allocations_.push_back(p);
    return p;
}

void CudaGlm4vModel::synchronize() const {
    CUDA_CHECK(cudaStreamSynchronize(stream_));
}

std::pair<uint64_t, uint64_t> CudaGlm4vModel::memory_info() const {
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    return {total_b, free_b};
}

uint64_t CudaGlm4vModel::kv_bytes_per_block() const {
    const auto& t = config_.text;
    const auto row = static_cast<uint64_t>(dims_.kv_heads * t.head_dim());
    const uint64_t slot =
        options_.fp8_kv ? row + 4 * static_cast<uint64_t>(dims_.kv_heads) : 2 * row;
    return static_cast<uint64_t>(t.num_hidden_layers) * 2 * options_.block_size * slot;
}

cuda::KvFp8Layer CudaGlm4vModel::kv_fp8_layer(int64_t layer) const {
    const auto& t = config_.text;
    const int64_t slots = num_kv_blocks_ * options_.block_size, kvh = dims_.kv_heads;
    const int64_t row = kvh * t.head_dim();
    auto* bytes = static_cast<uint8_t*>(kv_pool_);
    auto* scales = reinterpret_cast<float*>(bytes + t.num_hidden_layers * 2 * slots * row);
    cuda::KvFp8Layer k;
    k.k = bytes + layer * 2 * slots * row, k.v = k.k + slots * row;
    k.k_scale = scales + layer * 2 * slots * kvh, k.v_scale = k.k_scale + slots * kvh;
    return k;
}

Result<std::unique_ptr<CudaGlm4vModel>> CudaGlm4vModel::create(const Glm4vModel& host,
                                                               const CudaModelOptions& options) {
    if (Status s = detail::check_cuda_support(host, options); !s) return Error{s.error_message()};
    const auto& t = host.config().text;
    CUDA_CHECK(cudaSetDevice(options.device));
    std::unique_ptr<CudaGlm4vModel> m(new CudaGlm4vModel(host, options));
    // Text steps first: a decode's blocks take SMs before an image encode's waiting blocks.
    int least = 0, greatest = 0;
    CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    CUDA_CHECK(cudaStreamCreateWithPriority(&m->stream_, cudaStreamNonBlocking, greatest));
    CUDA_CHECK(cudaStreamCreateWithPriority(&m->vision_stream_, cudaStreamNonBlocking, least));
    m->streams_->text = m->stream_;
    m->streams_->vision = m->vision_stream_;
    {
        // Keep up to 1 GiB of freed image rows (~40 screenshots) in the stream-ordered pool
        // instead of returning them to the driver at every synchronization; beyond that the
        // pool gives memory back, so cudaMalloc elsewhere never starves behind it.
        cudaMemPool_t pool = nullptr;
        CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, options.device));
        uint64_t keep = uint64_t{1} << 30;
        CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    }
    m->gemm_ = std::make_unique<cuda::Gemm>();
    const int64_t gemv_rows = options.decode_gemv_max_rows >= 0 ? options.decode_gemv_max_rows
                              : options.fp8_weights             ? 1
                                                                : cuda::kGemvMaxRows;
    m->gemm_->set_gemv_max_rows(std::min<int64_t>(gemv_rows, cuda::kGemvMaxRows));
    m->gemm_->set_fp8_fast_accumulation(options.fp8_fast_accumulation);
    m->vision_gemm_ = std::make_unique<cuda::Gemm>();
    m->vision_gemm_->set_fp8_fast_accumulation(options.fp8_fast_accumulation);
    {
        const MropeTable table(t);  // the CPU's table, so both backends rotate alike
        m->rope_.num_pairs = static_cast<int>(table.num_pairs());
        for (int64_t i = 0; i < table.num_pairs(); ++i) {
            m->rope_.inv_freq[i] = table.inv_freq()[static_cast<size_t>(i)];
            m->rope_.section[i] = static_cast<int8_t>(table.section()[static_cast<size_t>(i)]);
        }
    }
    if (options.tp_size > 1 && !options.collectives)
        return Error{"a tensor-parallel rank needs its collectives: use create_tensor_parallel"};
    if (options.tp_size > 1) {  // this rank's share of the text decoder (rank 0: and the vision)
        const TextShard shard =
            shard_text_weights(t, host.weights(), options.tp_rank, options.tp_size);
        m->dims_ = {shard.dims.heads, shard.dims.kv_heads, shard.dims.intermediate,
                    shard.dims.vocab_end - shard.dims.vocab_begin, shard.dims.vocab_begin};
        Glm4vWeights w = shard.weights;
        w.vision = host.weights().vision;
        if (Status s = m->upload_weights(w); !s) return Error{s.error_message()};
    } else if (Status s = m->upload_weights(host.weights()); !s) {
        return Error{s.error_message()};
    }
    m->allocate_workspaces();
    if (options.tp_rank == 0) m->reserve_uploads();  // other ranks never upload images
    // A one-block pool for the warm-up; the caller sizes the real one from what is left. Ranks
    // of a tensor-parallel model warm up together (create_tensor_parallel).
    if (Status s = m->allocate_rank_pool(1); !s) return Error{s.error_message()};
    if (options.tp_size == 1) m->warm_up();
    return m;
}

void CudaGlm4vModel::allocate_workspaces() {
    const auto& t = config_.text;
    const int64_t T = options_.max_num_tokens, H = t.hidden_size;
    const int64_t wqkv = (dims_.heads + 2 * dims_.kv_heads) * t.head_dim();
    const int64_t I = dims_.inter, R = options_.max_num_seqs;
    residual_ = static_cast<float*>(device_alloc(static_cast<size_t>(T * H) * 4));
    normed_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(T * H) * 2));
    qkv_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(T * wqkv) * 2));
    attn_ =
        static_cast<bf16*>(device_alloc(static_cast<size_t>(T * dims_.heads * t.head_dim()) * 2));
    branch_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(T * H) * 2));
    gate_up_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(T * 2 * I) * 2));
    act_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(T * I) * 2));
    rows_normed_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(R * H) * 2));
    // The whole logits live on rank 0 only (tensor parallelism gathers them there).
    if (options_.tp_rank == 0)
        logits_ = static_cast<float*>(device_alloc(static_cast<size_t>(R * t.vocab_size) * 4));
    if (options_.tp_size > 1) {
        logits_part_ = static_cast<float*>(device_alloc(static_cast<size_t>(R * dims_.vocab) * 4));
        logits_gather_ =
            static_cast<float*>(device_alloc(static_cast<size_t>(R * t.vocab_size) * 4));
        zero_row_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(H) * 2));
        CUDA_CHECK(cudaMemsetAsync(zero_row_, 0, static_cast<size_t>(H) * 2, stream_));
    }
    argmax_ids_ = static_cast<int32_t*>(device_alloc(static_cast<size_t>(R) * 4));
    argmax_scratch_ = device_alloc(cuda::argmax_scratch_bytes(R));
    const auto decode_bytes =
        static_cast<size_t>(cuda::decode_workspace_floats(R, dims_.heads, t.head_dim())) * 4;
    decode_partial_ = static_cast<float*>(device_alloc(decode_bytes));
    CUDA_CHECK(cudaMemsetAsync(decode_partial_, 0, decode_bytes, stream_));
    norm_branch_ =
        static_cast<bf16*>(device_alloc(static_cast<size_t>(cuda::kGemvMaxRows * H) * 2));
    cuda::gemv_norm_rows_empty(norm_branch_, cuda::kGemvMaxRows * H, stream_);
    mlp_in_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(cuda::kGemvMaxRows * H) * 2));
    mlp_act_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(cuda::kGemvMaxRows * I) * 2));
    cuda::gemv_norm_rows_empty(mlp_act_, cuda::kGemvMaxRows * I, stream_);
    if (options_.fp8_weights) gemm_->reserve_fp8(T, std::max({H, I, dims_.heads * t.head_dim()}));
    decode_blocks_per_seq_ =
        (options_.max_model_len + options_.block_size - 1) / options_.block_size;
    const int64_t max_blocks = std::max<int64_t>(decode_blocks_per_seq_, 1);
    // Inputs: tokens, positions, slots, q_start, kv_len, tables, logits rows, work, image rows.
    in_bytes_ = align_up(T * 4) + align_up(T * 12) + align_up(T * 8) + 3 * align_up((R + 1) * 4) +
                align_up(R * max_blocks * 4) + align_up((T + R) * 8) + align_up(T * 8) +
                align_up(T * 4) + 4 * kAlign;
    if (options_.fp8_kv) {
        const int64_t row = dims_.kv_heads * t.head_dim();
        kv_stage_ = static_cast<bf16*>(device_alloc(static_cast<size_t>(2 * T * row) * 2));
        std::vector<int64_t> ident(static_cast<size_t>(T));
        for (int64_t i = 0; i < T; ++i) ident[static_cast<size_t>(i)] = i;
        kv_stage_slots_ = static_cast<int64_t*>(device_alloc(ident.size() * 8));
        CUDA_CHECK(
            cudaMemcpy(kv_stage_slots_, ident.data(), ident.size() * 8, cudaMemcpyHostToDevice));
        // One sequence of max_model_len always fits, with a step's worth of tokens besides.
        kv_scratch_blocks_ = max_blocks + (T + options_.block_size - 1) / options_.block_size;
        if (options_.fp8_kv_scratch_tokens > 0)  // a smaller scratch pool (tests: more groups)
            kv_scratch_blocks_ = std::max<int64_t>(
                max_blocks,
                (options_.fp8_kv_scratch_tokens + options_.block_size - 1) / options_.block_size);
        const auto scratch_bytes =
            static_cast<size_t>(2 * kv_scratch_blocks_ * options_.block_size * row) * 2;
        kv_scratch_ = static_cast<bf16*>(device_alloc(scratch_bytes));
        // Finite everywhere: the Hopper kernel reads masked slots of a page.
        CUDA_CHECK(cudaMemsetAsync(kv_scratch_, 0, scratch_bytes, stream_));
        // The scratch block tables and the page pairs.
        in_bytes_ += align_up(R * max_blocks * 4) + align_up(R * max_blocks * 8) + 2 * kAlign;
    }
    CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&host_in_), in_bytes_));
    dev_in_ = static_cast<char*>(device_alloc(in_bytes_));
}

Status CudaGlm4vModel::allocate_rank_pool(int64_t num_blocks) {
    if (num_blocks < 1) return Error{"the KV pool needs at least one block"};
    for (auto& [b, g] : graphs_) cudaGraphExecDestroy(g);
    graphs_.clear();  // graphs hold pool addresses
    if (kv_pool_) {
        synchronize();
        allocations_.erase(std::remove(allocations_.begin(), allocations_.end(), kv_pool_),
                           allocations_.end());
        CUDA_CHECK(cudaFree(kv_pool_));
        kv_pool_ = nullptr;
    }
    const uint64_t bytes = kv_bytes_per_block() * static_cast<uint64_t>(num_blocks);
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        return Error{"cannot allocate the KV pool: " + std::to_string(num_blocks) + " blocks (" +
                     std::to_string(bytes >> 20) + " MiB)"};
    }
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
    allocations_.push_back(p);
    kv_pool_ = p;
    num_kv_blocks_ = num_blocks;
    synchronize();
    return {};
}

CudaGlm4vModel::Inputs CudaGlm4vModel::stage_inputs(const ForwardBatch& b,
                                                    std::span<const bf16* const> image_rows,
                                                    std::span<const int32_t> image_dst,
                                                    int64_t pad_to_seqs, bool decode, bool graph) {
    const auto n_real = static_cast<int64_t>(b.token_ids.size());
    const auto s_real = static_cast<int64_t>(b.seq_lens.size());
    const int64_t S = std::max(s_real, pad_to_seqs);
    const int64_t n = decode ? S : n_real;
    const int64_t MB = graph ? decode_blocks_per_seq_ : b.max_blocks_per_seq;
    const int64_t R = decode ? S : static_cast<int64_t>(b.logits_indices.size());
    const int64_t group = dims_.heads / dims_.kv_heads;
    CHECK(n <= options_.max_num_tokens)
        << "step of " << n << " tokens exceeds max_num_tokens " << options_.max_num_tokens;
    CHECK(S <= std::max<int64_t>(options_.max_num_seqs, 1) && R <= options_.max_num_seqs)
        << "step of " << S << " sequences / " << R << " logits rows exceeds max_num_seqs "
        << options_.max_num_seqs;
    CHECK(!graph || b.max_blocks_per_seq <= MB) << "block table wider than max_model_len";
    synchronize();  // the previous step's inputs are consumed

    Inputs in;
    AttentionStepPlan plan;
    if (!decode) {
        plan = plan_attention_step(b, S, MB, options_.block_size, group,
                                   cuda::attention_rows_per_block(), options_.fp8_kv,
                                   kv_scratch_blocks_);
        in.decode_rows = plan.decode_rows;
        in.kv_groups = plan.groups;
    }
    static_assert(sizeof(cuda::AttentionWork) == sizeof(AttentionWorkItem));
    const std::vector<AttentionWorkItem>& work = plan.work;
    const std::vector<int32_t>&scratch_tables = plan.scratch_tables, &pages = plan.pages;
    size_t off = 0;
    auto place = [&](auto*& dev_ptr, size_t bytes) -> char* {
        char* h = host_in_ + off;
        dev_ptr = reinterpret_cast<std::remove_reference_t<decltype(dev_ptr)>>(dev_in_ + off);
        off += align_up(bytes);
        CHECK(off <= in_bytes_) << "step inputs exceed their buffer";
        return h;
    };
    auto* tok = reinterpret_cast<int32_t*>(place(in.tokens, n * 4));
    auto* pos = reinterpret_cast<int32_t*>(place(in.positions, n * 12));
    auto* slots = reinterpret_cast<int64_t*>(place(in.slots, n * 8));
    auto* qs = reinterpret_cast<int32_t*>(place(in.q_start, (S + 1) * 4));
    auto* kvl = reinterpret_cast<int32_t*>(place(in.kv_len, S * 4));
    auto* tables = reinterpret_cast<int32_t*>(place(in.tables, S * MB * 4));
    auto* lrows = reinterpret_cast<int32_t*>(place(in.logits_rows, R * 4));
    auto* wk = reinterpret_cast<cuda::AttentionWork*>(place(in.work, work.size() * 8));
    auto* irows = reinterpret_cast<const bf16**>(place(in.image_rows, image_rows.size() * 8));
    auto* idst = reinterpret_cast<int32_t*>(place(in.image_dst, image_rows.size() * 4));
    if (!scratch_tables.empty()) {
        std::memcpy(place(in.scratch_tables, scratch_tables.size() * 4), scratch_tables.data(),
                    scratch_tables.size() * 4);
        std::memcpy(place(in.pages, pages.size() * 4), pages.data(), pages.size() * 4);
    }
    for (int64_t i = 0; i < n; ++i) {
        const bool real = i < n_real;
        tok[i] = real ? b.token_ids[i] : 0;
        const Position3 p = real ? b.positions[i] : Position3{};
        pos[3 * i] = p.t, pos[3 * i + 1] = p.h, pos[3 * i + 2] = p.w;
        slots[i] = real ? b.slot_mapping[i] : -1;
    }
    int64_t max_kv = 1;
    for (int64_t s = 0; s <= S; ++s)
        qs[s] = s <= s_real ? b.query_start[s] : static_cast<int32_t>(n_real + (s - s_real));
    std::memset(tables, 0, static_cast<size_t>(S * MB) * 4);
    for (int64_t s = 0; s < S; ++s) {
        kvl[s] = s < s_real ? b.seq_lens[s] : 1;
        max_kv = std::max<int64_t>(max_kv, kvl[s]);
        if (s < s_real) {
            const int64_t width = std::min(MB, b.max_blocks_per_seq);
            std::memcpy(tables + s * MB, b.block_tables.data() + s * b.max_blocks_per_seq,
                        static_cast<size_t>(width) * 4);
        }
    }
    for (int64_t r = 0; r < R; ++r)
        lrows[r] = decode ? static_cast<int32_t>(r) : b.logits_indices[r];
    std::memcpy(wk, work.data(), work.size() * 8);
    for (size_t i = 0; i < image_rows.size(); ++i) irows[i] = image_rows[i];
    if (!image_dst.empty()) {
        CHECK(image_dst.size() == image_rows.size()) << "one destination per image row";
        for (size_t i = 0; i < image_dst.size(); ++i) {
            CHECK(image_dst[i] >= 0 && image_dst[i] < n_real) << "image row outside the batch";
            idst[i] = image_dst[i];
        }
    } else if (!image_rows.empty()) {
        size_t next = 0;
        for (int64_t i = 0; i < n_real && next < image_rows.size(); ++i)
            if (b.token_ids[i] == b.image_token_id) idst[next++] = static_cast<int32_t>(i);
        CHECK(next == image_rows.size()) << "image rows for " << image_rows.size()
                                         << " tokens, batch has " << next << " image tokens";
    }
    CUDA_CHECK(cudaMemcpyAsync(dev_in_, host_in_, off, cudaMemcpyHostToDevice, stream_));
    in.num_tokens = n, in.num_seqs = S, in.max_blocks = MB, in.num_logits = R;
    in.num_work = static_cast<int64_t>(work.size());
    in.num_image_rows = static_cast<int64_t>(image_rows.size());
    in.max_kv_len = graph ? options_.max_model_len : max_kv;
    return in;
}

void CudaGlm4vModel::run_decode_graph(const Inputs& in, int64_t padded) {
    auto it = graphs_.find(padded);
    if (it == graphs_.end()) {
        cudaGraph_t graph = nullptr;
        CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
        run_layers(in, padded, true, nullptr);
        CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
        cudaGraphExec_t exec = nullptr;
        CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        CUDA_CHECK(cudaGraphDestroy(graph));
        it = graphs_.emplace(padded, exec).first;
    }
    CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
}

void CudaGlm4vModel::forward_rank(const ForwardBatch& batch,
                                  std::span<const bf16* const> image_rows,
                                  std::span<const int32_t> image_dst) {
    const auto n = static_cast<int64_t>(batch.token_ids.size());
    const auto seqs = static_cast<int64_t>(batch.seq_lens.size());
    CHECK(n > 0 && seqs > 0) << "empty forward";
    CHECK(batch.query_start.size() == batch.seq_lens.size() + 1 && batch.query_start.back() == n)
        << "query_start must cover every token";
    bool decode = n == seqs && image_rows.empty();
    if (decode) {  // decode kernels return one logits row per sequence, in order
        for (int64_t i = 0; i < seqs && decode; ++i)
            decode = batch.logits_indices.size() == static_cast<size_t>(seqs) &&
                     batch.logits_indices[i] == i && batch.seq_lens[i] <= options_.max_model_len;
    }
    if (decode && options_.cuda_graphs && !batch.observer) {
        const int64_t padded = padded_decode_batch(seqs, options_.max_num_seqs);
        const Inputs in = stage_inputs(batch, image_rows, image_dst, padded, true, true);
        forward_timer_.begin(stream_);
        run_decode_graph(in, padded);
        forward_timer_.end(stream_);
        num_logits_ = seqs;
        return;
    }
    const Inputs in = stage_inputs(batch, image_rows, image_dst, 0, decode, false);
    forward_timer_.begin(stream_);
    run_layers(in, n, decode, batch.observer);
    forward_timer_.end(stream_);
    num_logits_ = in.num_logits;
}

float CudaGlm4vModel::last_forward_ms() const {
    return forward_timer_.last_ms();
}

void CudaGlm4vModel::copy_logits(float* host) const {
    CUDA_CHECK(cudaMemcpyAsync(host, logits_,
                               static_cast<size_t>(num_logits_ * config_.text.vocab_size) * 4,
                               cudaMemcpyDeviceToHost, stream_));
    synchronize();
}

std::vector<int32_t> CudaGlm4vModel::argmax() {
    std::vector<int32_t> ids(static_cast<size_t>(num_logits_));
    cuda::argmax_rows(logits_, num_logits_, config_.text.vocab_size, argmax_ids_, argmax_scratch_,
                      stream_);
    CUDA_CHECK(
        cudaMemcpyAsync(ids.data(), argmax_ids_, ids.size() * 4, cudaMemcpyDeviceToHost, stream_));
    synchronize();
    return ids;
}

void CudaGlm4vModel::warm_up() {
    // One short prefill through the one-block pool: loads the kernels and cuBLASLt handles before
    // the caller measures what memory the KV pool may take.
    const int64_t n = options_.block_size;
    std::vector<int32_t> tokens(static_cast<size_t>(n), 0);
    const std::vector<Position3> positions = text_positions(0, n);
    const std::vector<int64_t> slots(static_cast<size_t>(n), -1);
    const int32_t qs[2] = {0, static_cast<int32_t>(n)};
    const int32_t lens[1] = {static_cast<int32_t>(n)};
    const int32_t table[1] = {0};
    const int32_t last[1] = {static_cast<int32_t>(n - 1)};
    forward(ForwardBatch{tokens, positions, slots, qs, lens, table, 1, last, {}, -1, nullptr});
    if (options_.tp_size > 1) {
        // Also a decode step (its graph captured on every rank), so that its kernels and NCCL's
        // buffers for small messages are in place before the pool is sized.
        const int32_t tok[1] = {0}, one_len[1] = {1}, first[1] = {0}, q1[2] = {0, 1};
        const int64_t slot[1] = {-1};
        const std::vector<Position3> pos = text_positions(0, 1);
        forward(ForwardBatch{tok, pos, slot, q1, one_len, table, 1, first, {}, -1, nullptr});
    }
    synchronize();
}

uint64_t CudaGlm4vModel::rank_kv_budget(double utilization) const {
    const auto [total, free_now] = memory_info();
    const uint64_t pool = kv_bytes_per_block() * static_cast<uint64_t>(num_kv_blocks_);
    const uint64_t used = total - free_now - pool;
    const auto allowed = static_cast<uint64_t>(utilization * static_cast<double>(total));
    return allowed > used ? allowed - used : 0;
}

bool CudaGlm4vModel::lm_head_fp8() const {
    return w_->lm_head.fp8 != nullptr;
}

std::string CudaGlm4vModel::describe() const {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, options_.device));
    std::ostringstream os;
    const char* text = lm_head_fp8() ? "text linear layers and LM head" : "text linear layers";
    os << prop.name << ": weights " << (weight_bytes_ >> 20) << " MiB ";
    if (options_.fp8_weights && options_.fp8_vision)
        os << "(" << text << ", vision linear layers FP8, the rest bf16)";
    else if (options_.fp8_weights)
        os << "(" << text << " FP8, the rest bf16)";
    else if (options_.fp8_vision)
        os << "(vision linear layers FP8, the rest bf16)";
    else
        os << "bf16";
    os << ", KV pool " << (options_.fp8_kv ? "(FP8) " : "") << num_kv_blocks_ << " blocks x "
       << options_.block_size << " tokens ("
       << ((kv_bytes_per_block() * static_cast<uint64_t>(num_kv_blocks_)) >> 20)
       << " MiB), CUDA graphs " << (options_.cuda_graphs ? "on" : "off");
    if (options_.tp_size > 1)
        os << ", tensor parallel over " << options_.tp_size << " GPUs (" << prop.name
           << " is rank 0; weights and KV pool per rank)";
    return os.str();
}

}  // namespace autoglm
