#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: writes the full AutoGLM-Phone-9B shape as a
# checkpoint folder (tools/bench/make_full_checkpoint.py), serves it with Open-AutoGLM's flags and
# runs the `autoglm bench serve` rows of docs/PERFORMANCE.md ("Serving") against it, then a soak.
# Usage: tools/bench/device_serve_bench.sh AUTOGLM_BINARY TOKENIZER_DIR (tokenizer.model +
# chat_template.jinja); results (JSON, text, HTML, the server log) go to $OUT.
set -u
B=${1:?autoglm binary}
tok=${2:?tokenizer dir}
OUT=${OUT:-/tmp/autoglm-serve-bench}
mkdir -p "$OUT"
source "$(dirname "${BASH_SOURCE[0]}")/cuda_libs.sh"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
t0=$(date +%s)
python3 tools/bench/make_full_checkpoint.py --out /tmp/ckpt --tokenizer-dir "$tok" 2>&1 | grep -v Warning | tail -3
echo "checkpoint $(( $(date +%s) - t0 )) s"; ls /tmp/ckpt
$B serve /tmp/ckpt --served-model-name autoglm-phone-9b --max-model-len 25480 \
  --mm_processor_kwargs '{"max_pixels":5000000}' --chat-template-content-format string \
  --limit-mm-per-prompt '{"image":10}' --port 8000 > $OUT/serve.log 2>&1 &
pid=$!
for _ in $(seq 600); do curl -sf localhost:8000/health >/dev/null && break; sleep 0.2; done
echo "serving after $(( $(date +%s) - t0 )) s"; grep -E "device:|images:|weights:" $OUT/serve.log | head -4
run() { name=$1; shift; timeout 200 $B bench serve --base-url http://127.0.0.1:8000 --no-progress --json $OUT/$name.json "$@" > $OUT/$name.txt 2>&1; echo "== $name rc=$?"; grep -E "steps/s|output tok/s|^ttft|^tpot|^e2e|^server|FAIL|PASS" $OUT/$name.txt | head -12; }
run agent_s1_t0 --workload agent --sessions 1 --steps 6 --warmup 2
run agent_s16_t0 --workload agent --sessions 16 --duration 20 --steps 100 --warmup 16
run agent_s32_t0 --workload agent --sessions 32 --duration 20 --steps 100 --warmup 32 --kpi seeds --html $OUT/agent_s32_t0.html
run agent_s16_t3 --workload agent --sessions 16 --duration 25 --steps 100 --think-time 3 --warmup 16
run agent_s32_t3 --workload agent --sessions 32 --duration 25 --steps 100 --think-time 3 --warmup 32
run random_c1 --workload random --random-input-len 1024 --random-output-len 128 --max-concurrency 1 --num-prompts 8 --warmup 1
run random_c16 --workload random --random-input-len 1024 --random-output-len 128 --max-concurrency 16 --num-prompts 64 --warmup 16
run random_c64 --workload random --random-input-len 1024 --random-output-len 128 --max-concurrency 64 --num-prompts 192 --warmup 64
run soak_s64 --workload agent --sessions 64 --duration ${SOAK_SECONDS:-90} --steps 100 --abort-fraction 0.2 --warmup 64 --html $OUT/soak_s64.html
kill -TERM $pid; wait $pid; echo "serve exit $?"
echo "total $(( $(date +%s) - t0 )) s"
