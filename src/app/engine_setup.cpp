// add_engine_flags, add_sampling_flags and make_engine.
#include "app/engine_setup.h"

#include <algorithm>
#include <cstdlib>

#include "app/common.h"
#include "core/device_buffer.h"
#include "core/logging.h"
#include "engine/executor.h"
#include "loader/dummy.h"
#include "model/glm4v/tensor_parallel.h"
#include "model/kv_cache.h"

#ifdef AUTOGLM_HAS_CUDA
#include "engine/cuda_executor.h"
#include "model/glm4v/cuda_model.h"
#endif

namespace autoglm {
namespace {

Result<float> get_float(const Flags& flags, const std::string& name) {
    auto v = flags.get_double(name);
    if (!v) return v.error();
    return static_cast<float>(v.value());
}

}  // namespace

void add_engine_flags(Flags& flags) {
    flags.add("kv-cache-memory", "",
              "bytes for the KV cache pool, e.g. 8GiB (default: from --gpu-memory-utilization; on "
              "the CPU backend at most 4 GiB)");
    flags.add("gpu-memory-utilization", "0.9",
              "GPU: share of the whole device memory that weights, activations and the KV pool "
              "may use together (as in vLLM); CPU backend: share of the free host memory the KV "
              "pool may take. Ignored with --kv-cache-memory");
    flags.add("max-model-len", "",
              "prompt + output tokens of one sequence at most (default: the model's limit, "
              "lowered to what the KV pool holds)");
    flags.add("max-num-seqs", "64", "sequences running at once at most");
    flags.add("max-num-batched-tokens", "2048",
              "tokens in one engine step at most (long prompts are prefilled in chunks of this)");
    flags.add("max-prefill-tokens-while-decoding", "",
              "prompt tokens in one engine step at most while other sequences decode, so their "
              "next tokens do not wait for long prefill steps (0 = --max-num-batched-tokens; "
              "default: 512 on a GPU with --quantization fp8, 384 on a GPU in bf16, 0 on the CPU)");
    flags.add("max-tokens-while-decoding", "",
              "tokens in one engine step at most, decodes included, while sequences decode: the "
              "decodes always run and prompt chunks get the rest (within "
              "--max-prefill-tokens-while-decoding); 0 = no such bound. Default on a GPU with "
              "--quantization fp8: 512, or --max-num-seqs + 128 if that is more (a 512-token FP8 "
              "step costs little more than a ~420-token one and carries 21 % more tokens: more "
              "output tok/s and shorter queues, docs/PERFORMANCE.md); 0 otherwise");
    flags.add("block-size", "16", "tokens per KV cache block");
    flags.add("kv-cache-dtype", "auto",
              "auto | bfloat16 | fp8 (also fp8_e4m3): with fp8 the KV cache holds each token's K "
              "and V per head as e4m3 with a power-of-two scale (CUDA: half the bytes of bf16, "
              "so about twice the tokens in the same memory and half the bytes decode attention "
              "reads; the CPU backend rounds its f32 cache the same way). auto: bf16 on the GPU, "
              "f32 on the CPU");
    flags.add("device", "auto",
              "where the model runs: cuda, cpu, or auto (cuda when a GPU is found)");
    flags.add("enforce-eager", "false", "CUDA: no CUDA graphs for decode steps", true);
    flags.add("tensor-parallel-size", "1",
              "split the text decoder over N ranks as vLLM does (heads, MLP rows and vocabulary; "
              "N divides the attention heads and the MLP size, and divides or is a multiple of "
              "the KV heads, and the vocabulary on a GPU). On GPUs: ranks 0 .. N-1 of this "
              "process, one thread each, NCCL all-reduces (libnccl.so.2 loaded at run time) "
              "and images encoded on GPU 0; --device cpu runs the ranks as threads, the "
              "reference for the partitioning");
    flags.add("profile-steps", "false",
              "log each engine step: its plan (chunks, prefill and decode tokens, images) and "
              "where its time went (schedule, prepare, vision, forward, output); the same "
              "phases are always in /metrics as autoglm_engine_step_phase_seconds",
              true);
}

void add_sampling_flags(Flags& flags) {
    flags.add("temperature", "0", "sampling temperature (0 = greedy)");
    flags.add("top-p", "1", "nucleus sampling: keep the most likely tokens up to this mass");
    flags.add("top-k", "0", "keep the k most likely tokens (0 = all)");
    flags.add("min-p", "0", "drop tokens below min-p times the top probability");
    flags.add("sampling-seed", "", "seed of the sampler (default: random)");
}

Result<SamplingParams> sampling_params_from_flags(const Flags& flags) {
    SamplingParams p;
    auto temperature = get_float(flags, "temperature");
    auto top_p = get_float(flags, "top-p");
    auto min_p = get_float(flags, "min-p");
    auto top_k = flags.get_int("top-k", -1, 1 << 20);
    for (const auto* r : {&temperature, &top_p, &min_p})
        if (!*r) return r->error();
    if (!top_k) return top_k.error();
    p.temperature = temperature.value();
    p.top_p = top_p.value();
    p.min_p = min_p.value();
    p.top_k = static_cast<int32_t>(top_k.value());
    if (flags.has("sampling-seed")) {
        auto seed = flags.get_int("sampling-seed", INT64_MIN, INT64_MAX);
        if (!seed) return seed.error();
        p.seed = seed.value();
    }
    if (Status s = p.validate(); !s) return Error{s.error_message()};
    return p;
}

Result<EngineBundle> make_engine(const Flags& flags, const Glm4vModel& model,
                                 const Tokenizer* tokenizer, std::vector<int32_t> eos_token_ids) {
    auto block_size = flags.get_int("block-size", 1, 1024);
    auto max_seqs = flags.get_int("max-num-seqs", 1, 1 << 16);
    auto max_tokens = flags.get_int("max-num-batched-tokens", 1, 1 << 24);
    for (const auto* r : {&block_size, &max_seqs, &max_tokens})
        if (!*r) return r->error();
    auto utilization = get_float(flags, "gpu-memory-utilization");
    if (!utilization) return utilization.error();
    if (!(utilization.value() > 0.0f && utilization.value() <= 1.0f))
        return Error{"--gpu-memory-utilization must be in (0, 1]"};
    const std::string device = flags.get("device");
    if (device != "auto" && device != "cpu" && device != "cuda")
        return Error{"--device must be auto, cpu or cuda, got '" + device + "'"};
    const bool use_cuda = device == "cuda" || (device == "auto" && cuda_device_count() > 0);
    if (use_cuda && cuda_device_count() == 0)
        return Error{"--device cuda: " + cuda_device_summary()};
    auto fp8 = fp8_weights_from_flags(flags);
    if (!fp8) return fp8.error();
    if (fp8.value() && !use_cuda)
        return Error{"--quantization fp8 runs on the CUDA backend only (this run uses the CPU)"};
    if (flags.enabled("fp8-vision") && !use_cuda)
        return Error{"--fp8-vision runs on the CUDA backend only (this run uses the CPU)"};
    if (flags.enabled("fp8-lm-head") && !fp8.value())
        return Error{"--fp8-lm-head applies with --quantization fp8"};
    if (flags.enabled("fp8-fast-accum") && !fp8.value() && !flags.enabled("fp8-vision"))
        return Error{
            "--fp8-fast-accum applies to FP8 GEMMs: pass --quantization fp8 or --fp8-vision"};
    auto kv_fp8 = kv_cache_fp8_from_flags(flags);
    if (!kv_fp8) return kv_fp8.error();
    auto tp = flags.get_int("tensor-parallel-size", 1, 64);
    if (!tp) return tp.error();
    const int ranks = static_cast<int>(tp.value());
    if (Status s = check_tensor_parallel(model.config().text, ranks); !s)
        return Error{s.error_message()};
    if (use_cuda && !fp8.value() && model.config().quantization == "fp8")
        LOG_WARNING << "this is an FP8 checkpoint: its weights were dequantized to bf16 at load; "
                       "pass --quantization fp8 to hold them in FP8 on the GPU (half the bytes)";
    EngineBundle b;
    b.tensor_parallel_size = ranks;
    KvSizingRequest sizing;
    sizing.block_size = static_cast<int32_t>(block_size.value());
    sizing.bytes_per_block = PagedKvCache::bytes_per_block(model.config().text, sizing.block_size);
    if (ranks > 1) {  // every rank's blocks (KV heads shared by ranks are held by each)
        const int64_t kv = model.config().text.num_key_value_heads;
        sizing.bytes_per_block =
            sizing.bytes_per_block * ranks * std::max<int64_t>(1, kv / ranks) / kv;
    }
    sizing.available_bytes = host_memory_available();
    sizing.memory_utilization = utilization.value();
#ifdef AUTOGLM_HAS_CUDA
    std::shared_ptr<CudaGlm4vModel> gpu;
    if (use_cuda) {
        CudaModelOptions o;
        o.max_num_tokens = max_tokens.value();
        o.max_num_seqs = max_seqs.value();
        o.max_model_len = model.config().text.max_position_embeddings;
        if (flags.has("max-model-len")) {
            auto len = flags.get_int("max-model-len", 2, 1 << 24);
            if (!len) return len.error();
            o.max_model_len = len.value();
        }
        o.block_size = sizing.block_size;
        o.cuda_graphs = !flags.enabled("enforce-eager");
        o.fp8_weights = fp8.value();
        o.fp8_vision = fp8_vision_from_flags(flags, fp8.value(), model.config());
        o.fp8_fast_accumulation = flags.enabled("fp8-fast-accum");
        o.fp8_lm_head = fp8_lm_head_from_flags(flags, model.config());
        o.fp8_kv = kv_fp8.value();
        auto created = CudaGlm4vModel::create_tensor_parallel(model, o, ranks);
        if (!created) return created.error();
        gpu = std::move(created).value();
        // The GPU budget is already a share of the whole device, net of weights and workspaces.
        sizing.bytes_per_block = static_cast<int64_t>(gpu->kv_bytes_per_block());
        sizing.available_bytes = gpu->kv_budget(utilization.value());
        sizing.memory_utilization = 1.0;
        sizing.default_cap = 0;
        b.device = gpu->describe();
    }
#endif
    sizing.model_max_len = model.config().text.max_position_embeddings;
    if (flags.has("kv-cache-memory")) {
        auto bytes = parse_memory_size(flags.get("kv-cache-memory"));
        if (!bytes) return Error{"--kv-cache-memory: " + bytes.error_message()};
        sizing.kv_cache_memory = bytes.value();
    }
    if (flags.has("max-model-len")) {
        auto len = flags.get_int("max-model-len", 2, 1 << 24);
        if (!len) return len.error();
        sizing.max_model_len = len.value();
    }
    // More than max_num_seqs full-length sequences would never be used (on a large GPU with a
    // small model the budget alone would ask for millions of blocks of host bookkeeping).
    sizing.max_useful_tokens =
        max_seqs.value() * sizing.max_model_len.value_or(sizing.model_max_len);
    auto plan = plan_kv_cache(sizing);
    if (!plan) return plan.error();
    b.kv_plan = plan.value();
    b.kv_plan.dtype = kv_fp8.value() ? (use_cuda ? "fp8 e4m3" : "fp8 e4m3 emulated in f32")
                                     : (use_cuda ? "bf16" : "f32");
#ifdef AUTOGLM_HAS_CUDA
    if (gpu) {
        if (b.kv_plan.budget_source.rfind("100% of ", 0) == 0)
            b.kv_plan.budget_source =
                "--gpu-memory-utilization " + flags.get("gpu-memory-utilization") + " of " +
                format_bytes(gpu->memory_info().first) + " less weights and activations";
        if (Status s = gpu->allocate_kv_pool(b.kv_plan.num_blocks); !s)
            return Error{s.error_message()};
        b.executor = std::make_unique<CudaModelExecutor>(model, *gpu);
        b.device = gpu->describe();
        b.backend = gpu;
    }
#endif
    if (!b.executor) {
        b.device = "cpu";
        b.executor = std::make_unique<CpuModelExecutor>(
            model, b.kv_plan.num_blocks, b.kv_plan.block_size, ranks,
            kv_fp8.value() ? KvStorage::kFp8 : KvStorage::kExact);
        if (ranks > 1) b.device += " (" + std::to_string(ranks) + " tensor-parallel ranks)";
    }
    EngineConfig config;
    config.scheduler.max_num_seqs = max_seqs.value();
    config.scheduler.max_num_batched_tokens = max_tokens.value();
    // bf16 sized on an H200 (agent load at 32 sessions: a share of 256 → TPOT 18 ms at 4.3 steps/s,
    // 512 → 30 ms at 5.1, off → 50 ms at 5.2). FP8 steps cost less: 512-token steps, decodes
    // included, measured on an H100 against the 384 share (random 1024/128 at concurrency 64:
    // 4,544 against 4,323 output tok/s; every agent row's TTFT shorter). The CPU backend (the
    // demo model, tests) keeps the plain budget.
    const bool fp8_step = b.backend && fp8.value();
    config.scheduler.max_prefill_tokens_while_decoding = !b.backend ? 0 : fp8_step ? 512 : 384;
    // (With more than 384 sequences decoding, the bound grows with them: prompts keep 128 tokens.)
    config.scheduler.max_tokens_while_decoding =
        fp8_step ? std::max<int64_t>(512, max_seqs.value() + 128) : 0;
    if (flags.has("max-prefill-tokens-while-decoding")) {
        auto max_prefill = flags.get_int("max-prefill-tokens-while-decoding", 0, 1 << 24);
        if (!max_prefill) return max_prefill.error();
        config.scheduler.max_prefill_tokens_while_decoding = max_prefill.value();
    }
    if (flags.has("max-tokens-while-decoding")) {
        auto max_step = flags.get_int("max-tokens-while-decoding", 0, 1 << 24);
        if (!max_step) return max_step.error();
        config.scheduler.max_tokens_while_decoding = max_step.value();
    }
    config.num_blocks = static_cast<int32_t>(b.kv_plan.num_blocks);
    config.block_size = b.kv_plan.block_size;
    config.max_model_len = b.kv_plan.max_model_len;
    config.profile_steps = flags.enabled("profile-steps");
    b.engine = std::make_unique<Engine>(config, model.config(), *b.executor, tokenizer,
                                        std::move(eos_token_ids));
    return b;
}

std::function<std::pair<double, double>()> gpu_memory_probe(const EngineBundle& bundle) {
#ifdef AUTOGLM_HAS_CUDA
    if (bundle.backend) {
        auto gpu = std::static_pointer_cast<CudaGlm4vModel>(bundle.backend);
        return [gpu] {
            const auto [total, free_now] = gpu->memory_info();
            return std::pair<double, double>(static_cast<double>(total - free_now),
                                             static_cast<double>(total));
        };
    }
#else
    (void)bundle;
#endif
    return {};
}

}  // namespace autoglm
