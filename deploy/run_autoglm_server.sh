#!/usr/bin/env bash
# Starts autoglm serve with options from the environment (the same knobs a vLLM launch script
# exposes). Every variable is optional; unset ones take the defaults below.
#
#   MODEL_PATH=/models/AutoGLM-Phone-9B PORT=8000 deploy/run_autoglm_server.sh
#
# MODEL_PATH               checkpoint folder (default: the built-in demo model)
# SERVED_MODEL_NAME        name clients send (autoglm-phone-9b)
# HOST / PORT              listen address (0.0.0.0 / 8000)
# MAX_MODEL_LEN            prompt + output tokens per sequence (model limit, fitted to the KV pool)
# GPU_MEMORY_UTILIZATION   share of free memory for the KV pool (0.9)
# KV_CACHE_MEMORY          explicit KV pool size, e.g. 16GiB (overrides the share)
# KV_CACHE_DTYPE           auto (bf16) | fp8: the KV pool in FP8, about twice the tokens
# QUANTIZATION             none | fp8: the text decoder's linear layers in FP8 (half the bytes)
# TENSOR_PARALLEL_SIZE     GPUs the text decoder is split over (1; NCCL, libnccl.so.2)
# MAX_NUM_SEQS             concurrent sequences (64)
# MAX_NUM_BATCHED_TOKENS   tokens per engine step (2048)
# LIMIT_MM_PER_PROMPT      images per prompt (4)
# API_KEY                  require this bearer key on /v1 routes
# REASONING_PARSER         glm45 to always split <think> into reasoning_content
# SHUTDOWN_TIMEOUT         seconds to drain on SIGTERM (30)
# LOAD_FORMAT              auto | safetensors | dummy
# MM_PROCESSOR_KWARGS      image processor overrides, e.g. {"max_pixels":5000000} (Open-AutoGLM's)
# CONTENT_FORMAT           --chat-template-content-format: auto | string | openai
# ALLOWED_ORIGINS          CORS origins as a JSON list (["*"])
# EXTRA_ARGS               anything else, appended verbatim
#
# A vLLM command line also works unchanged on the binary itself, e.g. Open-AutoGLM's:
#   autoglm serve --served-model-name autoglm-phone-9b --allowed-local-media-path / \
#     --mm-encoder-tp-mode data --mm_processor_cache_type shm \
#     --mm_processor_kwargs "{\"max_pixels\":5000000}" --max-model-len 25480 \
#     --chat-template-content-format string --limit-mm-per-prompt "{\"image\":10}" \
#     --model /models/AutoGLM-Phone-9B --port 8000
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${AUTOGLM_BIN:-}"
if [[ -z "$bin" ]]; then
  if command -v autoglm >/dev/null; then bin="$(command -v autoglm)"; else bin="$here/../build/release/bin/autoglm"; fi
fi
args=(serve
  --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}"
  --served-model-name "${SERVED_MODEL_NAME:-autoglm-phone-9b}"
  --gpu-memory-utilization "${GPU_MEMORY_UTILIZATION:-0.9}"
  --max-num-seqs "${MAX_NUM_SEQS:-64}"
  --max-num-batched-tokens "${MAX_NUM_BATCHED_TOKENS:-2048}"
  --limit-mm-per-prompt "${LIMIT_MM_PER_PROMPT:-4}"
  --shutdown-timeout "${SHUTDOWN_TIMEOUT:-30}")
[[ -n "${MODEL_PATH:-}" ]] && args+=(--model "$MODEL_PATH")
[[ -n "${LOAD_FORMAT:-}" ]] && args+=(--load-format "$LOAD_FORMAT")
[[ -n "${MAX_MODEL_LEN:-}" ]] && args+=(--max-model-len "$MAX_MODEL_LEN")
[[ -n "${KV_CACHE_MEMORY:-}" ]] && args+=(--kv-cache-memory "$KV_CACHE_MEMORY")
[[ -n "${KV_CACHE_DTYPE:-}" ]] && args+=(--kv-cache-dtype "$KV_CACHE_DTYPE")
[[ -n "${QUANTIZATION:-}" ]] && args+=(--quantization "$QUANTIZATION")
[[ -n "${TENSOR_PARALLEL_SIZE:-}" ]] && args+=(--tensor-parallel-size "$TENSOR_PARALLEL_SIZE")
[[ -n "${API_KEY:-}" ]] && args+=(--api-key "$API_KEY")
[[ -n "${REASONING_PARSER:-}" ]] && args+=(--reasoning-parser "$REASONING_PARSER")
[[ -n "${MM_PROCESSOR_KWARGS:-}" ]] && args+=(--mm-processor-kwargs "$MM_PROCESSOR_KWARGS")
[[ -n "${CONTENT_FORMAT:-}" ]] && args+=(--chat-template-content-format "$CONTENT_FORMAT")
[[ -n "${ALLOWED_ORIGINS:-}" ]] && args+=(--allowed-origins "$ALLOWED_ORIGINS")
# shellcheck disable=SC2206
[[ -n "${EXTRA_ARGS:-}" ]] && args+=($EXTRA_ARGS)
exec "$bin" "${args[@]}"
