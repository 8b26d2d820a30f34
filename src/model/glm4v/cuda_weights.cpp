// CudaGlm4vModel::upload_weights: walks the weights list (for_each_tensor), packs the tensors
// that share a packed name (in list order) as their PackLayout says, uploads them through pinned
// staging buffers, then binds the model's device pointers by packed name.
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "core/cuda_check.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "model/glm4v/cuda_model.h"
#include "model/glm4v/cuda_model_internal.h"
#include "model/glm4v/weights.h"

namespace autoglm {
namespace {

using detail::align_up;

// One packed device tensor: the tensors of the list that share its name, in list order.
struct Packed {
    std::string name;
    PackLayout layout = PackLayout::kRows;
    std::vector<const TensorView*> parts;
    std::string alias_of;  // the same host tensor under another packed name (tied embeddings)
    bool fp8 = false;      // stored as FP8 rows with a scale each
    bool vision_gate_up = false;  // a vision block's gate and up weights (two parts)
    int64_t numel() const {
        int64_t n = 0;
        for (const TensorView* p : parts) n += p->numel();
        return n;
    }
    int64_t cols() const { return parts[0]->shape.size() == 2 ? parts[0]->shape[1] : 0; }
};

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() > suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A packed name under `prefix` ending in one of `suffixes`.
bool is_linear(const std::string& packed, const char* prefix,
               std::initializer_list<const char*> suffixes) {
    if (packed.rfind(prefix, 0) != 0) return false;
    for (const char* suffix : suffixes)
        if (ends_with(packed, suffix)) return true;
    return false;
}

// The text decoder's linear layers, which --quantization fp8 stores as FP8.
bool is_text_fp8_candidate(const std::string& packed) {
    return is_linear(packed, "model.language_model.layers.",
                     {"self_attn.qkv.weight", "self_attn.o_proj.weight", "mlp.gate_up_proj.weight",
                      "mlp.down_proj.weight"});
}

// The vision blocks' linear layers, which CudaModelOptions::fp8_vision stores as FP8.
bool is_vision_fp8_candidate(const std::string& packed) {
    return is_linear(
        packed, "model.visual.blocks.",
        {"attn.qkv.weight", "attn.proj.weight", "mlp.gate_up.weight", "mlp.down_proj.weight"});
}

}  // namespace

Status CudaGlm4vModel::upload_weights(const Glm4vWeights& hw) {
    // A tensor-parallel rank's text tensors are its slices (shard_text_weights), not the
    // checkpoint's shapes.
    const bool sharded = options_.tp_size > 1;
    // Tensor-parallel ranks after the first never encode an image: no vision tower there.
    const bool text_only = options_.tp_rank > 0;
    auto is_text = [](const std::string& name) {
        return name.rfind("model.language_model.", 0) == 0 || name == "lm_head.weight";
    };
    std::vector<Packed> items;
    std::map<const void*, std::string> single_by_data;  // host data -> its packed name
    std::map<std::string, size_t> item_of;              // packed name -> index in items
    std::string problem;
    for_each_tensor(config_, hw, [&](const WeightSpec& spec, const TensorView& t) {
        if (!problem.empty()) return;
        if (text_only && spec.request.name.rfind("model.visual.", 0) == 0) return;
        if (t.empty()) {
            if (spec.required) problem = "weight " + spec.request.name + " is missing on upload";
            return;
        }
        if (t.shape != spec.request.shape && !(sharded && is_text(spec.request.name))) {
            problem = "weight " + spec.request.name + " has shape " + shape_to_string(t.shape) +
                      ", expected " + shape_to_string(spec.request.shape);
            return;
        }
        if (const auto it = item_of.find(spec.packed); it != item_of.end()) {
            Packed& p = items[it->second];
            if (p.layout != spec.layout) {
                problem = "weight " + spec.request.name + ": another layout than the rest of " +
                          spec.packed;
                return;
            }
            p.parts.push_back(&t);
            return;
        }
        item_of.emplace(spec.packed, items.size());
        Packed p{spec.packed, spec.layout, {&t}, {}};
        const bool fp8_head = options_.fp8_lm_head && spec.packed == "lm_head.weight" &&
                              t.shape.size() == 2 && fp8_lm_head_fits(t.shape[0]);
        const bool fp8_text =
            options_.fp8_weights && (is_text_fp8_candidate(spec.packed) || fp8_head);
        p.fp8 = t.shape.size() == 2 &&
                (fp8_text || (options_.fp8_vision && is_vision_fp8_candidate(spec.packed)));
        p.vision_gate_up = p.fp8 && ends_with(spec.packed, "mlp.gate_up.weight");
        if (spec.packed == spec.request.name) {  // alone: may be a view of one already listed
            const auto [it, fresh] = single_by_data.try_emplace(t.data, spec.packed);
            if (!fresh) p.alias_of = it->second;
        }
        items.push_back(std::move(p));
    });
    if (!problem.empty()) return Error{problem};

    // The text MLP's gate and up rows interleave in groups of kGemvSiluGroup, so one decode
    // GEMV block holds matching gate and up columns and applies SwiGLU itself; so do an FP8
    // vision block's (its gate and up come as two tensors), for silu_mul_grouped4_fp8.
    const int64_t G = cuda::kGemvSiluGroup;
    gate_up_grouped_ = dims_.inter % G == 0;
    // FP8 tensors take a byte an element and a float a row; their bf16 rows pass through one
    // device buffer (as large as the largest of them) on the way to the quantizer.
    size_t total = 0, fp8_staging = 0, to_upload = 0;  // device bytes, staging, bf16 bytes sent
    for (const Packed& it : items) {
        if (!it.alias_of.empty()) continue;
        const auto n = static_cast<size_t>(it.numel());
        to_upload += n * 2;
        if (it.fp8) {
            total += align_up(n) + align_up(n / static_cast<size_t>(it.cols()) * 4);
            fp8_staging = std::max(fp8_staging, align_up(n * 2));
        } else {
            total += align_up(n * 2);
        }
    }
    weight_bytes_ = total;
    auto [dev_total, dev_free] = memory_info();
    if (total + fp8_staging + (size_t{1} << 30) > dev_free)
        return Error{"the weights need " + std::to_string((total + fp8_staging) >> 20) +
                     " MiB, the GPU has " + std::to_string(dev_free >> 20) + " MiB free of " +
                     std::to_string(dev_total >> 20) + " MiB"};
    char* base = static_cast<char*>(device_alloc(total));
    void* staging = nullptr;
    if (fp8_staging > 0) CUDA_CHECK(cudaMalloc(&staging, fp8_staging));

    // Two pinned staging buffers: the host fills one while the other is in flight.
    constexpr size_t kStage = size_t{64} << 20;
    void* stage[2] = {nullptr, nullptr};
    cudaEvent_t done[2];
    for (int i = 0; i < 2; ++i) {
        CUDA_CHECK(cudaMallocHost(&stage[i], kStage));
        CUDA_CHECK(cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming));
        CUDA_CHECK(cudaEventRecord(done[i], stream_));
    }
    int cur = 0;
    uint64_t uploaded = 0;
    size_t offset = 0;
    std::vector<float> f32;
    std::map<std::string, bf16*> packed;
    std::map<std::string, LinearWeight> packed_fp8;
    for (const Packed& it : items) {
        if (!it.alias_of.empty()) {
            packed[it.name] = packed.at(it.alias_of);
            continue;
        }
        char* dst = it.fp8 ? static_cast<char*>(staging) : base + offset;
        if (!it.fp8) packed[it.name] = reinterpret_cast<bf16*>(dst);
        const bool group_gate_up =
            (it.layout == PackLayout::kGateUpGroups && gate_up_grouped_) || it.vision_gate_up;
        // Gate and up as two tensors (the vision blocks'), or as the halves of one (the text's).
        const bool gate_up_parts = it.vision_gate_up;
        CHECK(!gate_up_parts || it.parts.size() == 2) << it.name << ": gate and up expected";
        const bool merge_columns = it.layout == PackLayout::kMergeColumns;
        size_t written = 0;
        for (size_t part = 0; part < it.parts.size(); ++part) {
            const TensorView* p = it.parts[part];
            const int64_t n = p->numel();
            const size_t elem = dtype_size(p->dtype);
            // Rows of the source go through staging in pieces of at most kStage / 2 bytes out.
            const int64_t rows = p->shape.empty() ? 1 : p->shape[0];
            const int64_t cols = n / rows;
            int64_t r = 0;
            while (r < rows) {
                int64_t take = std::max<int64_t>(
                    1, std::min<int64_t>(rows - r, static_cast<int64_t>(kStage / 2 / (cols * 2))));
                const int64_t half = gate_up_parts ? rows : rows / 2;
                if (group_gate_up) {  // whole groups, never across the gate/up boundary
                    take = std::min(take, r < half ? half - r : rows - r) / G * G;
                    CHECK(take > 0) << it.name << ": gate/up rows too wide to stage";
                }
                CHECK(static_cast<size_t>(take * cols * 2) <= kStage)
                    << it.name << ": row too wide to stage";
                CUDA_CHECK(cudaEventSynchronize(done[cur]));
                auto* out = static_cast<uint16_t*>(stage[cur]);
                const auto* src =
                    static_cast<const char*>(p->data) + static_cast<size_t>(r * cols) * elem;
                const size_t count = static_cast<size_t>(take * cols);
                if (merge_columns) {
                    // [out, hidden, m, m] -> column (p * hidden + c) holds source (c * m*m + p).
                    const int64_t hidden = p->shape[1], group = cols / hidden;
                    f32.resize(static_cast<size_t>(cols));
                    for (int64_t i = 0; i < take; ++i) {
                        to_f32(p->dtype, src + static_cast<size_t>(i * cols) * elem, f32.data(),
                               f32.size());
                        for (int64_t ch = 0; ch < hidden; ++ch)
                            for (int64_t g = 0; g < group; ++g)
                                out[i * cols + g * hidden + ch] =
                                    f32_to_bf16(f32[static_cast<size_t>(ch * group + g)]);
                    }
                } else if (p->dtype == DType::kBF16) {
                    std::memcpy(out, src, count * 2);
                } else {
                    f32.resize(count);
                    to_f32(p->dtype, src, f32.data(), count);
                    for (size_t i = 0; i < count; ++i) out[i] = f32_to_bf16(f32[i]);
                }
                if (group_gate_up) {
                    // Gate row j -> 2G * (j / G) + j % G, up row j -> the same + G.
                    const bool up = gate_up_parts ? part == 1 : r >= half;
                    const int64_t j0 = up && !gate_up_parts ? r - half : r;
                    const size_t group_bytes = static_cast<size_t>(G * cols) * 2;
                    char* first = dst + (2 * j0 + (up ? G : 0)) * cols * 2;
                    CUDA_CHECK(cudaMemcpy2DAsync(first, 2 * group_bytes, out, group_bytes,
                                                 group_bytes, static_cast<size_t>(take / G),
                                                 cudaMemcpyHostToDevice, stream_));
                } else {
                    CUDA_CHECK(cudaMemcpyAsync(dst + written, out, count * 2,
                                               cudaMemcpyHostToDevice, stream_));
                }
                CUDA_CHECK(cudaEventRecord(done[cur], stream_));
                cur ^= 1;
                written += count * 2;
                uploaded += count * 2;
                r += take;
                if (options_.upload_progress) options_.upload_progress(uploaded, to_upload);
            }
        }
        if (it.fp8) {  // the staged bf16 rows -> FP8 rows and their scales, in stream order
            const int64_t cols = it.cols(), rows = it.numel() / cols;
            LinearWeight q;
            q.fp8 = reinterpret_cast<uint8_t*>(base + offset);
            q.scale = reinterpret_cast<float*>(base + offset +
                                               align_up(static_cast<size_t>(rows * cols)));
            cuda::quantize_rows_fp8(static_cast<const bf16*>(staging), rows, cols, q.fp8, q.scale,
                                    stream_);
            packed_fp8[it.name] = q;
            offset += align_up(static_cast<size_t>(rows * cols)) +
                      align_up(static_cast<size_t>(rows) * 4);
        } else {
            offset += align_up(written);
        }
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (staging) CUDA_CHECK(cudaFree(staging));
    for (int i = 0; i < 2; ++i) {
        cudaEventDestroy(done[i]);
        cudaFreeHost(stage[i]);
    }

    // The forward's pointers, by packed name (the list's names; q/k/v and the gate/up pairs
    // under the names the list gives their packed tensors).
    std::string unbound;
    const auto at = [&](const std::string& name) -> bf16* {
        const auto found = packed.find(name);
        if (found != packed.end()) return found->second;
        if (unbound.empty()) unbound = name;
        return nullptr;
    };
    const auto linear_at = [&](const std::string& name) -> LinearWeight {
        if (const auto found = packed_fp8.find(name); found != packed_fp8.end())
            return found->second;
        return LinearWeight{at(name)};
    };
    Weights& w = *w_;
    const std::string lm = "model.language_model.";
    w.embed = at(lm + "embed_tokens.weight");
    w.layers.resize(hw.layers.size());
    for (size_t l = 0; l < w.layers.size(); ++l) {
        const std::string p = lm + "layers." + std::to_string(l) + ".";
        Layer& d = w.layers[l];
        d.input_ln = at(p + "input_layernorm.weight");
        d.qkv = linear_at(p + "self_attn.qkv.weight");
        d.qkv_b = at(p + "self_attn.qkv.bias");
        d.o = linear_at(p + "self_attn.o_proj.weight");
        d.post_self_attn = at(p + "post_self_attn_layernorm.weight");
        d.post_attention = at(p + "post_attention_layernorm.weight");
        d.gate_up = linear_at(p + "mlp.gate_up_proj.weight");
        d.down = linear_at(p + "mlp.down_proj.weight");
        d.post_mlp = at(p + "post_mlp_layernorm.weight");
    }
    w.norm = at(lm + "norm.weight");
    w.lm_head = packed.count("lm_head.weight") || packed_fp8.count("lm_head.weight")
                    ? linear_at("lm_head.weight")
                    : LinearWeight{w.embed};
    const std::string v = "model.visual.";
    if (text_only) {
        if (!unbound.empty()) return Error{"the GPU model has no packed weight named " + unbound};
        return {};
    }
    w.patch_w = at(v + "patch_embed.proj.weight");
    w.patch_b = at(v + "patch_embed.proj.bias");
    w.post_conv_ln = at(v + "post_conv_layernorm.weight");
    w.pos_embed = at(v + "embeddings.position_embedding.weight");
    w.blocks.resize(hw.vision.blocks.size());
    for (size_t b = 0; b < w.blocks.size(); ++b) {
        const std::string p = v + "blocks." + std::to_string(b) + ".";
        VisionBlock& d = w.blocks[b];
        d.norm1 = at(p + "norm1.weight");
        d.norm2 = at(p + "norm2.weight");
        d.qkv = linear_at(p + "attn.qkv.weight");
        d.proj = linear_at(p + "attn.proj.weight");
        d.gate_up = linear_at(p + "mlp.gate_up.weight");
        d.down = linear_at(p + "mlp.down_proj.weight");
    }
    w.post_ln = at(v + "post_layernorm.weight");
    w.down_w = at(v + "downsample.weight");
    w.down_b = at(v + "downsample.bias");
    w.merger_proj = at(v + "merger.proj.weight");
    w.merger_ln_w = at(v + "merger.post_projection_norm.weight");
    w.merger_ln_b = at(v + "merger.post_projection_norm.bias");
    w.merger_gate_up = at(v + "merger.gate_up.weight");
    w.merger_down = at(v + "merger.down_proj.weight");
    if (!unbound.empty()) return Error{"the GPU model has no packed weight named " + unbound};
    return {};
}

}  // namespace autoglm
