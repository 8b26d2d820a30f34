#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: the FP8 checks and A/B figures in one call.
#   1. the FP8 op and golden tests (the vision tower's folded passes, the FP8 GEMV),
#      compute-sanitizer memcheck on the new op tests;
#   2. the agent step (`bench latency --only agent`): bf16, FP8 with the vision tower in bf16
#      (--fp8-vision=false), FP8 (the vision blocks FP8 too, the default), and the last with
#      --fp8-fast-accum, in turns, ROUNDS times (medians printed; MODES="bf16 fp8" picks some),
#      plus the vision tower alone for bf16 and --fp8-vision (VISION=0: not);
#   3. `--only accuracy --quantization fp8` (FP8 against bf16: text layers, logits and the
#      vision tower, tap by tap);
#   4. batch-1 decode, bf16 and FP8, in turns, ROUNDS times;
#   5. the random load's mixed step (`--only mixed`, FP8) in short bursts (5 repeats) and
#      sustained (1,000), with nvidia-smi's SM clock and power sampled: whether a loaded server's
#      longer steps (~9.5 ms against 8.6 offline) are the GPU's clocks under sustained load.
# Usage: tools/bench/device_fp8_ab.sh BUILD_DIR [tests|agent|accuracy|decode|mixed|all]
# The binaries may come from another machine: carry the libraries they lack in .device-carry/lib.
set -uo pipefail
build=${1:?build dir}
what=${2:-all}
out=${OUT:-/tmp/autoglm-out}
rounds=${ROUNDS:-3}
mkdir -p "$out"
source "$(dirname "${BASH_SOURCE[0]}")/cuda_libs.sh"
[ -d .device-carry/lib ] && export LD_LIBRARY_PATH="$PWD/.device-carry/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv,noheader
bench=("$build/bin/autoglm" bench latency --model autoglm-phone-9b --load-format dummy)
status=0

# median KEY FILE...: the median of a JSON number over the files.
median() {
  python3 - "$@" <<'EOF'
import json, statistics, sys
key, files = sys.argv[1], sys.argv[2:]
vals = [json.load(open(f))[key] for f in files]
print(f"{statistics.median(vals):.2f} (" + ", ".join(f"{v:.2f}" for v in vals) + ")")
EOF
}

if [ "$what" = tests ] || [ "$what" = all ]; then
  "$build"/tests/kernels_cuda_test --gtest_filter='CudaOps.Fp8*:CudaOps.Vision*' 2>&1 \
    | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|error" | tee -a "$out/tests.log" || status=1
  "$build"/tests/model_cuda_test --gtest_filter='*Vision*:*Fp8*' 2>&1 \
    | grep -E "^\[  (PASSED|FAILED) |FAILED|Failure|on CUDA|error" | tee -a "$out/tests.log" || status=1
  if command -v compute-sanitizer >/dev/null; then
    compute-sanitizer --tool memcheck --error-exitcode 9 "$build"/tests/kernels_cuda_test \
      --gtest_filter='CudaOps.Fp8VisionPasses*:CudaOps.Fp8GemvRows*' > "$out/memcheck_fp8.log" 2>&1
    echo "memcheck (FP8 vision passes, FP8 GEMV) exit $?"; tail -3 "$out/memcheck_fp8.log"
  fi
fi

if [ "$what" = agent ] || [ "$what" = all ]; then
  declare -A modes=(
    [bf16]=""
    [fp8t]="--quantization fp8 --fp8-vision=false"
    [fp8]="--quantization fp8"
    [fp8f]="--quantization fp8 --fp8-fast-accum"
  )
  agent_modes=${MODES:-bf16 fp8t fp8 fp8f}
  for r in $(seq "$rounds"); do
    for m in $agent_modes; do
      # shellcheck disable=SC2086
      "${bench[@]}" ${modes[$m]} --only agent --json "$out/agent_${m}_$r.json" \
        > "$out/agent_${m}_$r.log" 2>&1 || { status=1; tail -3 "$out/agent_${m}_$r.log"; }
    done
  done
  for m in $agent_modes; do
    echo "agent step TTFT ms, $m: $(median agent_ttft_ms "$out"/agent_"$m"_*.json)"
  done
  for r in $(seq "$rounds"); do
    [ "${VISION:-1}" = 1 ] || break
    "${bench[@]}" --only vision --json "$out/vision_bf16_$r.json" > "$out/vision_bf16_$r.log" 2>&1
    "${bench[@]}" --fp8-vision --only vision --json "$out/vision_fp8_$r.json" \
      > "$out/vision_fp8_$r.log" 2>&1 || status=1
  done
  if [ "${VISION:-1}" = 1 ]; then
    echo "vision tower ms, bf16: $(median vision_ms "$out"/vision_bf16_*.json)"
    echo "vision tower ms, --fp8-vision: $(median vision_ms "$out"/vision_fp8_*.json)"
  fi
fi

if [ "$what" = accuracy ] || [ "$what" = all ]; then
  "${bench[@]}" --quantization fp8 --only accuracy --json "$out/accuracy.json" \
    2>&1 | tee "$out/accuracy.log" | grep -E "FP8 vs bf16" || status=1
fi

if [ "$what" = decode ] || [ "$what" = all ]; then
  for r in $(seq "$rounds"); do
    for m in bf16 fp8; do
      q=none; [ "$m" = fp8 ] && q=fp8
      "${bench[@]}" --quantization "$q" --only decode --json "$out/decode_${m}_$r.json" \
        > "$out/decode_${m}_$r.log" 2>&1 || status=1
    done
  done
  for m in bf16 fp8; do
    echo "decode tok/s, $m: $(median decode_tok_per_s "$out"/decode_"$m"_*.json)" \
      "of $(median decode_roofline_tok_per_s "$out"/decode_"$m"_*.json)"
  done
fi
if [ "$what" = mixed ] || [ "$what" = all ]; then
  for repeats in 5 1000 5 1000; do
    nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv,noheader,nounits -lms 100 \
      > "$out/smi_mixed_$repeats.txt" 2>/dev/null &
    smi=$!
    "${bench[@]}" --quantization fp8 --only mixed --repeats "$repeats" \
      --json "$out/mixed_$repeats.json" > "$out/mixed_$repeats.log" 2>&1 || status=1
    kill $smi 2>/dev/null
    python3 - "$out/mixed_$repeats.json" "$out/smi_mixed_$repeats.txt" "$repeats" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
busy = [tuple(float(x) for x in l.split(",")) for l in open(sys.argv[2]) if l.strip()]
busy = [b for b in busy if b[1] > 200]
clock = sum(b[0] for b in busy) / len(busy) if busy else 0
power = sum(b[1] for b in busy) / len(busy) if busy else 0
print(f"mixed step, {sys.argv[3]} repeats: {j['mixed_ms']:.2f} ms ({j['mixed_gpu_ms']:.2f} on the GPU);"
      f" busy samples {len(busy)}, SM clock {clock:.0f} MHz, power {power:.0f} W")
EOF
  done
fi
exit $status
