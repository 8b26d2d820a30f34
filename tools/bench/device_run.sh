#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: the CUDA tests, the check that no kernel reads
# through the read-only path before its wait (check_pdl_loads.sh), compute-sanitizer memcheck on
# the op tests, then `autoglm bench latency` on the full AutoGLM-Phone-9B shape (dummy weights).
# then the same shapes through transformers (tools/bench/transformers_latency.py).
# Usage: tools/bench/device_run.sh BUILD_DIR [tests|serve|bench|transformers|all] [extra bench flags...]
set -uo pipefail
build=${1:?build dir}
what=${2:-all}
shift 2 || true
out=${OUT:-/tmp/autoglm-out}
mkdir -p "$out"
# cuBLASLt: the system's, else the one PyTorch's wheels carry.
source "$(dirname "${BASH_SOURCE[0]}")/cuda_libs.sh"
# Libraries this build links that the GPU machine's image may lack, carried beside it.
[ -d .device-carry/lib ] && export LD_LIBRARY_PATH="$PWD/.device-carry/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv,noheader
status=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  for t in "$build"/tests/kernels_cuda_test "$build"/tests/kernels_cuda_sampling_test \
    "$build"/tests/model_cuda_test "$build/tests/engine_test --gtest_filter=EngineGolden.Cuda*"; do
    $t 2>&1 | grep -vE "^\[ RUN|^\[       OK|INFO loaded" | tail -30 | tee -a "$out/tests.log" || status=1
  done
  "$(dirname "${BASH_SOURCE[0]}")/check_pdl_loads.sh" "$build/bin/autoglm" | tail -5 || status=1
  if command -v compute-sanitizer >/dev/null; then
    compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
      "$build"/tests/kernels_cuda_test > "$out/memcheck.log" 2>&1
    echo "memcheck exit $?"; tail -5 "$out/memcheck.log"
    compute-sanitizer --tool memcheck --error-exitcode 9 "$build"/tests/kernels_cuda_sampling_test \
      --gtest_filter='CudaSampling.Small*:CudaSampling.Graph*' > "$out/memcheck_sampling.log" 2>&1
    echo "memcheck (sampling) exit $?"; tail -5 "$out/memcheck_sampling.log"
  fi
fi
if [ "$what" = serve ] || [ "$what" = all ]; then
  # The server on the GPU (demo model): a text and an image chat completion, then /metrics.
  "$build"/bin/autoglm serve --model demo --port 18080 > "$out/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf localhost:18080/health > /dev/null && break; sleep 0.2; done
  img=$(base64 -w0 tests/data/images/phone.jpg)
  printf '{"model":"autoglm-phone-9b","max_tokens":16,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,%s"}},{"type":"text","text":"tap"}]}]}' "$img" > "$out/image_req.json"
  curl -s -w ' HTTP %{http_code}\n' localhost:18080/v1/chat/completions -H 'content-type: application/json' \
    -d '{"model":"autoglm-phone-9b","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}' | tail -c 300
  curl -s -w ' HTTP %{http_code}\n' localhost:18080/v1/chat/completions -H 'content-type: application/json' \
    -d @"$out/image_req.json" | tail -c 300
  curl -s localhost:18080/metrics | grep -E "^vllm:gpu|gpu_memory|generation_tokens_total" | head -4
  kill -TERM $pid; wait $pid; echo "serve exit $?"; grep -E "device:|KV cache" "$out/serve.log" | head -3
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  "$build"/bin/autoglm bench latency --model autoglm-phone-9b --load-format dummy \
    --json "$out/bench.json" "$@" 2>&1 | tee "$out/bench.log" | tail -14 || status=1
fi
if [ "$what" = transformers ] || [ "$what" = all ]; then
  python3 tools/bench/transformers_latency.py --decode-tokens 64 --repeats 3 \
    --json "$out/transformers.json" 2>&1 \
    | grep -v Warning | tail -8 || status=1
fi
exit $status
