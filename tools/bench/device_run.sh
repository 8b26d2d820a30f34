#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: the CUDA tests, compute-sanitizer memcheck on
# the op tests, then `autoglm bench latency` on the full AutoGLM-Phone-9B shape (dummy weights).
# then the same shapes through transformers (tools/bench/transformers_latency.py).
# Usage: tools/bench/device_run.sh BUILD_DIR [tests|bench|transformers|all] [extra bench flags...]
set -uo pipefail
build=${1:?build dir}
what=${2:-all}
shift 2 || true
out=${OUT:-/tmp/autoglm-out}
mkdir -p "$out"
# cuBLASLt: the system's, else the one PyTorch's wheels carry.
if ! ldconfig -p | grep -q libcublasLt.so.13; then
  lib=$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$lib" ] && export LD_LIBRARY_PATH="$(dirname "$lib"):${LD_LIBRARY_PATH:-}"
fi
# Libraries this build links that the GPU machine's image may lack, carried beside it.
[ -d .device-carry/lib ] && export LD_LIBRARY_PATH="$PWD/.device-carry/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv,noheader
status=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  for t in "$build"/tests/kernels_cuda_test "$build"/tests/model_cuda_test; do
    "$t" 2>&1 | tail -40 | tee -a "$out/tests.log" || status=1
  done
  if command -v compute-sanitizer >/dev/null; then
    compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
      "$build"/tests/kernels_cuda_test > "$out/memcheck.log" 2>&1
    echo "memcheck exit $?"; tail -5 "$out/memcheck.log"
  fi
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
