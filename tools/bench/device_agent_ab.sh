#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: the agent-throughput rows (1 session; 32
# sessions without think time; 8 and 16 sessions with 3 s; random 1024/128 at concurrency 64)
# against two builds, one after the other in the same call, plus `bench latency`'s agent step,
# so before and after are measured together. The server gets Open-AutoGLM's flags.
# Usage: tools/bench/device_agent_ab.sh BEFORE_BINARY AFTER_BINARY TOKENIZER_DIR [SERVER FLAGS...]
# (tokenizer dir: tokenizer.model + chat_template.jinja). CONFIG_ONLY=1 serves a folder without
# weights through --load-format dummy (seconds instead of ~2 minutes to write 20 GB). Results
# (JSON, text, server logs) go to $OUT; a background job, since the whole run takes ~6 minutes.
set -u
before=${1:?before binary}
after=${2:?after binary}
tok=${3:?tokenizer dir}
shift 3
OUT=${OUT:-/tmp/autoglm-agent-ab}
mkdir -p "$OUT"
if ! ldconfig -p | grep -q libcublasLt.so.13; then
  lib=$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$lib" ] && export LD_LIBRARY_PATH="$(dirname "$lib"):${LD_LIBRARY_PATH:-}"
fi
t0=$(date +%s)
load=()
if [ "${CONFIG_ONLY:-0}" = 1 ]; then
  python3 tools/bench/make_full_checkpoint.py --out /tmp/ckpt-config --tokenizer-dir "$tok" --config-only | tail -1
  model=/tmp/ckpt-config; load=(--load-format dummy)
else
  python3 tools/bench/make_full_checkpoint.py --out /tmp/ckpt --tokenizer-dir "$tok" 2>&1 | grep -v Warning | tail -1
  model=/tmp/ckpt
fi
echo "model ready after $(( $(date +%s) - t0 )) s"
"$after" bench latency --model "$model" "${load[@]}" --only agent --json "$OUT/latency.json" > "$OUT/latency.txt" 2>&1
grep -E "agent step" "$OUT/latency.txt"
for tag in before after; do
  bin=$before; [ $tag = after ] && bin=$after
  "$bin" serve "$model" "${load[@]}" --served-model-name autoglm-phone-9b --max-model-len 25480 \
    --mm_processor_kwargs '{"max_pixels":5000000}' --chat-template-content-format string \
    --limit-mm-per-prompt '{"image":10}' --port 8000 "$@" > "$OUT/serve_$tag.log" 2>&1 &
  pid=$!
  for _ in $(seq 900); do curl -sf localhost:8000/health >/dev/null && break; sleep 0.2; done
  run() {
    name=$1; shift
    timeout 200 "$bin" bench serve --base-url http://127.0.0.1:8000 --no-progress \
      --json "$OUT/${tag}_$name.json" "$@" > "$OUT/${tag}_$name.txt" 2>&1
    echo "== $tag $name rc=$? at $(( $(date +%s) - t0 )) s"
    grep -E "steps/s|output tok/s|^ttft|^tpot|^client|^server|failed req" "$OUT/${tag}_$name.txt" | head -10
  }
  run s1 --workload agent --sessions 1 --steps 6 --warmup 2
  run s32t0 --workload agent --sessions 32 --duration 20 --steps 100 --warmup 32
  run s8t3 --workload agent --sessions 8 --duration 20 --steps 100 --think-time 3 --warmup 8
  run s16t3 --workload agent --sessions 16 --duration 20 --steps 100 --think-time 3 --warmup 16
  run c64 --workload random --random-input-len 1024 --random-output-len 128 --max-concurrency 64 \
    --num-prompts 192 --warmup 64
  kill -TERM $pid; wait $pid; echo "serve $tag exit $?"
done
echo "total $(( $(date +%s) - t0 )) s"
echo DONE
