// CudaGlm4vModel's vision tower: pixel upload through pinned buffers, patch embedding, position
// embeddings, the blocks, post norm, downsample and merger, all on the vision stream (its own
// cuBLASLt workspace), which runs beside the text stream at a lower priority.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "model/glm4v/cuda_model.h"
#include "model/glm4v/cuda_model_internal.h"

namespace autoglm {

void CudaGlm4vModel::upload_bytes(const void* src, size_t bytes, void* dst) {
    // Two rings of pinned buffers, one buffer per upload: encodes queued on the vision stream
    // keep theirs until the copy runs, and the engine thread waits only when a whole ring is
    // still queued. Small uploads (an encode's metadata and table) have their own ring, so a
    // picture's ring holds kUploadStages pictures.
    const bool small = bytes <= kSmallUpload;
    UploadStage& slot = small ? small_stages_[next_small_++ % kUploadStages]
                              : stages_[next_stage_++ % kUploadStages];
    if (slot.done) CUDA_CHECK(cudaEventSynchronize(slot.done));
    if (!slot.done) CUDA_CHECK(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
    if (slot.bytes < bytes) {
        if (slot.host) CUDA_CHECK(cudaFreeHost(slot.host));
        slot.host = nullptr;
        slot.bytes = std::max(bytes, small ? kSmallUpload : kPictureUpload);
        CUDA_CHECK(cudaMallocHost(&slot.host, slot.bytes));
    }
    auto* stage = static_cast<char*>(slot.host);
    const auto* from = static_cast<const char*>(src);
    // One thread: a screenshot is ~7 MB, and the worker pool belongs to the HTTP threads' resizes.
    std::memcpy(stage, from, bytes);
    CUDA_CHECK(cudaMemcpyAsync(dst, stage, bytes, cudaMemcpyHostToDevice, vision_stream_));
    CUDA_CHECK(cudaEventRecord(slot.done, vision_stream_));
}

void CudaGlm4vModel::reserve_uploads() {
    // cudaMallocHost of a picture slot takes milliseconds; made lazily, the first kUploadStages
    // screenshots would each pay one on the engine thread (and a benchmark's repeats with them).
    for (size_t i = 0; i < kUploadStages; ++i) {
        for (auto [slot, bytes] :
             {std::pair{&stages_[i], kPictureUpload}, std::pair{&small_stages_[i], kSmallUpload}}) {
            if (!slot->done)
                CUDA_CHECK(cudaEventCreateWithFlags(&slot->done, cudaEventDisableTiming));
            if (slot->bytes >= bytes) continue;
            if (slot->host) CUDA_CHECK(cudaFreeHost(slot->host));
            CUDA_CHECK(cudaMallocHost(&slot->host, bytes));
            slot->bytes = bytes;
        }
    }
}

void CudaGlm4vModel::wait_for(const DeviceImageEmbeddings& e) {
    if (e.ready) CUDA_CHECK(cudaStreamWaitEvent(stream_, e.ready.get(), 0));
}

bool CudaGlm4vModel::is_ready(const DeviceImageEmbeddings& e) const {
    if (!e.ready) return true;
    const cudaError_t status = cudaEventQuery(e.ready.get());
    if (status == cudaErrorNotReady) return false;
    CUDA_CHECK(status);
    return true;
}

void CudaGlm4vModel::wait_ready(const DeviceImageEmbeddings& e) const {
    if (e.ready) CUDA_CHECK(cudaEventSynchronize(e.ready.get()));
}

DeviceImageEmbeddings CudaGlm4vModel::encode_images(std::span<const float> pixel_values,
                                                    std::span<const ImageGrid> grids,
                                                    LayerObserver* obs) {
    DeviceImageEmbeddings e = encode_images_async(pixel_values, grids, obs);
    wait_for(e);
    return e;
}

DeviceImageEmbeddings CudaGlm4vModel::encode_image(const Glm4vProcessedImage& image,
                                                   LayerObserver* obs) {
    DeviceImageEmbeddings e = encode_image_async(image, obs);
    wait_for(e);
    return e;
}

DeviceImageEmbeddings CudaGlm4vModel::encode_images_async(std::span<const float> pixel_values,
                                                          std::span<const ImageGrid> grids,
                                                          LayerObserver* obs) {
    int64_t N = 0;
    for (const ImageGrid& g : grids) N += g.num_patches();
    const int64_t in_dim = config_.vision.patch_input_dim();
    CHECK(static_cast<int64_t>(pixel_values.size()) == N * in_dim)
        << "pixel_values hold " << pixel_values.size() << " floats, grids need " << N * in_dim;
    return encode(
        grids,
        [&](VisionWork& v) {
            upload_bytes(pixel_values.data(), pixel_values.size_bytes(), v.px);
            cuda::f32_to_bf16(v.px, N * in_dim, v.px16, vision_stream_);
        },
        obs);
}

DeviceImageEmbeddings CudaGlm4vModel::encode_image_async(const Glm4vProcessedImage& image,
                                                         LayerObserver* obs) {
    const ImageGrid grid{image.grid_t, image.grid_h, image.grid_w};
    if (!image.compact()) return encode_images_async(image.pixel_values, {&grid, 1}, obs);
    const Glm4vVisionConfig& vc = config_.vision;
    const RgbImage& rgb = image.resized_rgb;
    CHECK(image.grid_t == 1 && image.patch == vc.patch_size &&
          image.merge == vc.spatial_merge_size && image.temporal == vc.temporal_patch_size &&
          image.grid_h * image.patch == rgb.height && image.grid_w * image.patch == rgb.width &&
          image.patch_dim == vc.patch_input_dim())
        << "compact image of " << rgb.width << "x" << rgb.height << " does not fit the tower";
    return encode(
        {&grid, 1},
        [&](VisionWork& v) {
            const size_t bytes = rgb.pixels.size();
            if (v.rgb_capacity < bytes) {
                CUDA_CHECK(cudaStreamSynchronize(vision_stream_));  // still read by earlier
                if (v.rgb) CUDA_CHECK(cudaFree(v.rgb));
                v.rgb = nullptr;
                CUDA_CHECK(cudaMalloc(&v.rgb, bytes));
                v.rgb_capacity = bytes;
            }
            upload_bytes(rgb.pixels.data(), bytes, v.rgb);
            upload_bytes(image.table.data(), sizeof(image.table), v.table);
            cuda::vision_patchify(static_cast<const uint8_t*>(v.rgb), rgb.height, rgb.width,
                                  v.table, image.patch, image.merge, image.temporal, v.px16,
                                  vision_stream_);
        },
        obs);
}

DeviceImageEmbeddings CudaGlm4vModel::encode(std::span<const ImageGrid> grids,
                                             const std::function<void(VisionWork&)>& stage_input,
                                             LayerObserver* obs) {
    CHECK(w_->patch_w != nullptr) << "tensor-parallel rank " << options_.tp_rank
                                  << " holds no vision tower (rank 0 encodes images)";
    const Glm4vVisionConfig& vc = config_.vision;
    const int64_t H = vc.hidden_size, in_dim = vc.patch_input_dim(), out_h = vc.out_hidden_size;
    const int64_t heads = vc.num_heads, hd = vc.head_dim(),
                  group = vc.spatial_merge_size * vc.spatial_merge_size;
    const int64_t vI = vc.intermediate_size;
    const auto eps = static_cast<float>(vc.rms_norm_eps);
    int64_t N = 0;
    for (const ImageGrid& g : grids) N += g.num_patches();
    CHECK(N % group == 0) << "patch count must be a multiple of the merge window";
    cudaStream_t st = vision_stream_;
    const int64_t rpb = cuda::attention_rows_per_block();
    if (!vision_ || vision_->capacity < N) {
        CUDA_CHECK(cudaStreamSynchronize(st));
        vision_ = std::make_unique<VisionWork>();
        VisionWork& v = *vision_;
        const int64_t cap = std::max<int64_t>(N, 1024);
        v.capacity = cap;
        auto alloc = [&](size_t bytes) {
            void* p = nullptr;
            CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(bytes, 1)));
            v.owned.push_back(p);
            return p;
        };
        v.px = static_cast<float*>(alloc(static_cast<size_t>(cap * in_dim) * 4));
        v.px16 = static_cast<bf16*>(alloc(static_cast<size_t>(cap * in_dim) * 2));
        v.x = static_cast<float*>(alloc(static_cast<size_t>(cap * H) * 4));
        v.xb = static_cast<bf16*>(alloc(static_cast<size_t>(cap * H) * 2));
        v.h = static_cast<bf16*>(alloc(static_cast<size_t>(cap * H) * 2));
        v.qkv = static_cast<bf16*>(alloc(static_cast<size_t>(cap * 3 * H) * 2));
        v.attn = static_cast<bf16*>(alloc(static_cast<size_t>(cap * H) * 2));
        v.gu = static_cast<bf16*>(alloc(static_cast<size_t>(cap * 2 * out_h) * 2));
        v.act = static_cast<bf16*>(alloc(static_cast<size_t>(cap * out_h) * 2));
        const int64_t rows = cap / group + 1;
        v.z = static_cast<bf16*>(alloc(static_cast<size_t>(rows * out_h) * 2));
        v.t = static_cast<bf16*>(alloc(static_cast<size_t>(rows * out_h) * 2));
        v.gu2 = static_cast<bf16*>(alloc(static_cast<size_t>(rows * 2 * vI) * 2));
        v.act2 = static_cast<bf16*>(alloc(static_cast<size_t>(rows * vI) * 2));
        v.ints = static_cast<int32_t*>(
            alloc(static_cast<size_t>(cap * 4 + cap / rpb * 2 + 1024 + cap * 2) * 4));
        v.table = static_cast<float*>(alloc(3 * 256 * sizeof(float)));
        if (options_.fp8_vision) vision_gemm_->reserve_fp8(cap, std::max(H, out_h));
    }
    VisionWork& v = *vision_;
    // Host metadata: patch coordinates, grid sizes, per-image attention ranges and work items.
    const auto ng = static_cast<int64_t>(grids.size());
    std::vector<int32_t> ints(static_cast<size_t>(N * 4));
    std::vector<int32_t> qs{0}, lens, starts;
    std::vector<cuda::AttentionWork> work;
    {
        int64_t r = 0;
        for (int64_t i = 0; i < ng; ++i) {
            const ImageGrid& g = grids[static_cast<size_t>(i)];
            for (const auto& [ph, pw] : vision_patch_coordinates(g, vc.spatial_merge_size)) {
                ints[2 * r] = static_cast<int32_t>(ph), ints[2 * r + 1] = static_cast<int32_t>(pw);
                ints[2 * N + 2 * r] = static_cast<int32_t>(g.h);
                ints[2 * N + 2 * r + 1] = static_cast<int32_t>(g.w);
                ++r;
            }
            for (int64_t r0 = 0; r0 < g.num_patches(); r0 += rpb)
                work.push_back({static_cast<int32_t>(i), static_cast<int32_t>(r0)});
            starts.push_back(qs.back());
            lens.push_back(static_cast<int32_t>(g.num_patches()));
            qs.push_back(qs.back() + static_cast<int32_t>(g.num_patches()));
        }
    }
    std::vector<int32_t> meta;
    meta.insert(meta.end(), ints.begin(), ints.end());
    const size_t qs_off = meta.size();
    meta.insert(meta.end(), qs.begin(), qs.end());
    const size_t len_off = meta.size();
    meta.insert(meta.end(), lens.begin(), lens.end());
    const size_t start_off = meta.size();
    meta.insert(meta.end(), starts.begin(), starts.end());
    if (meta.size() % 2) meta.push_back(0);
    const size_t work_off = meta.size();
    for (const auto& wk : work) meta.push_back(wk.seq), meta.push_back(wk.row0);
    vision_timer_.begin(st);
    upload_bytes(meta.data(), meta.size() * 4, v.ints);
    stage_input(v);
    const int32_t* coords = v.ints;
    const int32_t* grid_hw = v.ints + 2 * N;

    auto linear = [&](const bf16* x, int64_t m, const bf16* w, int64_t out, int64_t k,
                      const bf16* bias, void* y, cuda::OutType type = cuda::OutType::kBf16,
                      bool accumulate = false) {
        cuda::LinearArgs a;
        a.x = x, a.m = m, a.w = w, a.n = out, a.k = k, a.bias = bias, a.y = y, a.out_type = type;
        a.accumulate = accumulate;
        vision_gemm_->linear(a, st);
    };
    linear(v.px16, N, w_->patch_w, H, in_dim, w_->patch_b, v.h);
    cuda::bf16_to_f32(v.h, N * H, v.x, st);
    cuda::rms_norm_f32(v.x, w_->post_conv_ln, N, H, eps, v.x, st);
    if (obs) detail::tap(obs, "vision.post_conv_norm", v.x, N, H, st);
    const int64_t side = vc.image_size / vc.patch_size;
    cuda::vision_pos_embed(v.x, w_->pos_embed, side, H, coords, grid_hw, N, st);
    if (obs) detail::tap(obs, "vision.embeddings", v.x, N, H, st);
    // The blocks keep the residual in bf16, as the reference model does: half the bytes for the
    // norms to read and for the o / down GEMMs to add into (beta = 1).
    cuda::f32_to_bf16(v.x, N * H, v.xb, st);
    cuda::AttentionParams p;
    p.q = v.qkv, p.k = v.qkv + H, p.v = v.qkv + 2 * H;
    p.q_stride = 3 * H, p.kv_stride = 3 * H, p.out = v.attn, p.out_stride = H;
    p.q_start = v.ints + qs_off, p.kv_len = v.ints + len_off, p.kv_start = v.ints + start_off;
    p.num_seqs = ng, p.heads = heads, p.kv_heads = heads, p.head_dim = hd;
    p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    p.causal = false;
    const auto* work_dev = reinterpret_cast<const cuda::AttentionWork*>(v.ints + work_off);
    const auto num_work = static_cast<int64_t>(work.size());
    // Hopper's wgmma kernel where the build and the GPU have it (~2.6x the mma.sync kernel's
    // rate on a screenshot's 13,416 patches); the mma.sync kernel elsewhere.
    const bool hopper_attention = cuda::hopper_attention_supported(p);
    auto attention = [&] {
        if (hopper_attention)
            cuda::prefill_attention_sm90(p, work_dev, num_work, N, st);
        else
            cuda::prefill_attention(p, work_dev, num_work, st);
    };
    // FP8 blocks: each GEMM's input is quantized by the kernel that writes it (the residual
    // step's norm, SwiGLU; attention's output by a pass of its own) and its products are scaled
    // by the kernel that reads them (the rotary, the residual step, SwiGLU), as in the text
    // decoder's FP8 steps. proj's products go to v.h, down's to v.attn (both free by then).
    const bool fp8 = options_.fp8_vision;
    const cuda::Fp8Rows xq = fp8 ? vision_gemm_->fp8_input() : cuda::Fp8Rows{};
    auto products = [&](const LinearWeight& w, int64_t out, int64_t k, bf16* y) {
        cuda::LinearArgs a;
        a.m = N, a.n = out, a.k = k, a.y = y;
        w.set(a);
        vision_gemm_->fp8_products(a, st);
        return vision_gemm_->products_of(a);
    };
    if (fp8 && vc.depth > 0)
        cuda::add_rms_norm_bf16_fp8(v.xb, nullptr, {}, w_->blocks[0].norm1, N, H, eps, xq, nullptr,
                                    st);
    for (int64_t b = 0; b < vc.depth; ++b) {
        const VisionBlock& B = w_->blocks[static_cast<size_t>(b)];
        if (fp8) {
            const bool last = b + 1 == vc.depth;
            cuda::vision_rope(v.qkv, N, heads, hd, coords, 10000.0f,
                              products(B.qkv, 3 * H, H, v.qkv), st);
            attention();
            cuda::quantize_rows_fp8(v.attn, N, H, xq.q, xq.scale, st);
            cuda::add_rms_norm_bf16_fp8(v.xb, v.h, products(B.proj, H, H, v.h), B.norm2, N, H, eps,
                                        xq, nullptr, st);
            cuda::silu_mul_grouped4_fp8(v.gu, products(B.gate_up, 2 * out_h, H, v.gu), N, out_h, xq,
                                        st);
            // The next block's first norm, or after the last block the post norm (bf16, v.h).
            cuda::add_rms_norm_bf16_fp8(
                v.xb, v.attn, products(B.down, H, out_h, v.attn),
                last ? w_->post_ln : w_->blocks[static_cast<size_t>(b + 1)].norm1, N, H, eps,
                last ? cuda::Fp8Rows{} : xq, last ? v.h : nullptr, st);
        } else {
            cuda::rms_norm_bf16(v.xb, B.norm1, N, H, eps, v.h, st);
            linear(v.h, N, B.qkv.w, 3 * H, H, nullptr, v.qkv);
            cuda::vision_rope(v.qkv, N, heads, hd, coords, 10000.0f, st);
            attention();
            linear(v.attn, N, B.proj.w, H, H, nullptr, v.xb, cuda::OutType::kBf16, true);
            cuda::rms_norm_bf16(v.xb, B.norm2, N, H, eps, v.h, st);
            linear(v.h, N, B.gate_up.w, 2 * out_h, H, nullptr, v.gu);
            cuda::silu_mul(v.gu, N, out_h, v.act, st);
            linear(v.act, N, B.down.w, H, out_h, nullptr, v.xb, cuda::OutType::kBf16, true);
        }
        if (obs)
            detail::tap_bf16(obs, ("vision.block." + std::to_string(b)).c_str(), v.xb, N, H, st);
    }
    if (!fp8 || vc.depth == 0) cuda::rms_norm_bf16(v.xb, w_->post_ln, N, H, eps, v.h, st);
    if (obs) detail::tap_bf16(obs, "vision.post_norm", v.h, N, H, st);
    const int64_t rows = N / group;
    linear(v.h, rows, w_->down_w, out_h, H * group, w_->down_b, v.z);
    linear(v.z, rows, w_->merger_proj, out_h, out_h, nullptr, v.t);
    cuda::layer_norm_gelu(v.t, w_->merger_ln_w, w_->merger_ln_b, rows, out_h, 1e-5f, st);
    linear(v.t, rows, w_->merger_gate_up, 2 * vI, out_h, nullptr, v.gu2);
    cuda::silu_mul(v.gu2, rows, vI, v.act2, st);
    // Stream-ordered memory: no device-wide synchronization when an image is dropped.
    void* out = nullptr;
    CUDA_CHECK(cudaMallocAsync(&out, static_cast<size_t>(rows * out_h) * 2, st));
    linear(v.act2, rows, w_->merger_down, out_h, vI, nullptr, out);
    vision_timer_.end(st);
    cudaEvent_t ready = nullptr;
    CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventRecord(ready, st));
    if (obs) detail::tap_bf16(obs, "vision.merger", static_cast<bf16*>(out), rows, out_h, st);
    DeviceImageEmbeddings e;
    // Freed on the vision stream after the text stream's work queued so far (every forward that
    // read the rows was queued before the release): later encodes wait for that work, the text
    // stream waits for nothing. Once the model is gone, a plain (synchronizing) cudaFree.
    e.data = std::shared_ptr<void>(out, [streams = streams_](void* q) {
        if (!streams->alive.load()) {
            cudaFree(q);
            return;
        }
        cudaEvent_t used = nullptr;
        if (cudaEventCreateWithFlags(&used, cudaEventDisableTiming) == cudaSuccess) {
            cudaEventRecord(used, streams->text);
            cudaStreamWaitEvent(streams->vision, used, 0);
            cudaEventDestroy(used);
        }
        cudaFreeAsync(q, streams->vision);
    });
    e.ready = std::shared_ptr<CUevent_st>(ready, [](cudaEvent_t r) { cudaEventDestroy(r); });
    e.num_tokens = rows;
    return e;
}

}  // namespace autoglm
