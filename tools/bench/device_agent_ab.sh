#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: the agent-throughput rows (1 session; 32
# sessions without think time; 8 and 16 sessions with 3 s; random 1024/128 at concurrency 64)
# against several builds, one after the other in the same call, plus `bench latency`'s agent step
# (with the first build), so the builds are measured together. The server gets Open-AutoGLM's
# flags.
# Usage: tools/bench/device_agent_ab.sh TOKENIZER_DIR TAG=BINARY[:VAR=VALUE] ... [-- SERVER FLAGS]
#   e.g. ... tok before=/tmp/a/autoglm after=/tmp/b/autoglm
# (tokenizer dir: tokenizer.model + chat_template.jinja). VAR=VALUE goes into that server's
# environment. LOADS="s1 s32t0 s8t3 s16t3 c64" picks rows (LOADS_<tag> for one build; c64l =
# c64 with 1,000 prompts instead of 192, so the start and the tail weigh less; l8 = 8 concurrent
# contexts of 25,480 tokens, 25,000 random prompt tokens + 480 generated, each);
# FLAGS_<tag>="--flag value ..." adds server flags for one build (the same binary may then run
# under several tags, e.g. to compare a flag's values).
# BENCH=BINARY runs every row's client with that binary (e.g. the newest `bench serve` against an
# older build's server); by default each tag's own binary is its client.
# CONFIG_ONLY=1 serves a folder without weights through --load-format dummy (seconds instead of
# ~2 minutes to write 20 GB). Results (JSON, text, server logs) go to $OUT; run it as a background
# job, since three builds take ~6 minutes.
set -u
tok=${1:?tokenizer dir}
shift
specs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do specs+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#specs[@]} -gt 0 ] || { echo "no TAG=BINARY given" >&2; exit 2; }
OUT=${OUT:-/tmp/autoglm-agent-ab}
mkdir -p "$OUT"
source "$(dirname "${BASH_SOURCE[0]}")/cuda_libs.sh"
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
first=${specs[0]#*=}
"${first%%:*}" bench latency --model "$model" "${load[@]}" --only agent --json "$OUT/latency.json" > "$OUT/latency.txt" 2>&1
grep -E "agent step" "$OUT/latency.txt"
for spec in "${specs[@]}"; do
  tag=${spec%%=*}; rest=${spec#*=}; bin=${rest%%:*}; envs=()
  [[ "$rest" == *:* ]] && envs=("${rest#*:}")
  fv=FLAGS_$tag
  read -r -a tag_flags <<< "${!fv:-}"
  env "${envs[@]}" "$bin" serve "$model" "${load[@]}" --served-model-name autoglm-phone-9b \
    --max-model-len 25480 --mm_processor_kwargs '{"max_pixels":5000000}' \
    --chat-template-content-format string --limit-mm-per-prompt '{"image":10}' --port 8000 "$@" \
    "${tag_flags[@]}" \
    > "$OUT/serve_$tag.log" 2>&1 &
  pid=$!
  for _ in $(seq 900); do curl -sf localhost:8000/health >/dev/null && break; sleep 0.2; done
  echo "== $tag up at $(( $(date +%s) - t0 )) s ${envs[*]} ${tag_flags[*]}"
  grep -E "KV pool|KV cache" "$OUT/serve_$tag.log" | head -2
  # GPU memory as nvidia-smi sees it while the rows run, every 200 ms: each compute process's
  # (the server is the only one) and the whole device's, with the SM clock and the power draw
  # (a loaded server's steps may run at lower clocks than `bench latency`'s short bursts).
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits -lms 200 \
    > "$OUT/smi_$tag.txt" 2>/dev/null &
  smi=$!
  nvidia-smi --query-gpu=memory.used,clocks.sm,power.draw --format=csv,noheader,nounits -lms 200 \
    > "$OUT/smi_gpu_$tag.txt" 2>/dev/null &
  smi_gpu=$!
  run() {
    name=$1; shift
    timeout 200 "${BENCH:-$bin}" bench serve --base-url http://127.0.0.1:8000 --no-progress \
      --json "$OUT/${tag}_$name.json" "$@" > "$OUT/${tag}_$name.txt" 2>&1
    echo "== $tag $name rc=$? at $(( $(date +%s) - t0 )) s"
    grep -E "steps/s|output tok/s|^ttft|^tpot|^client|^server|failed req" "$OUT/${tag}_$name.txt" | head -12
  }
  lv=LOADS_$tag
  for row in ${!lv:-${LOADS:-s1 s32t0 s8t3 s16t3 c64}}; do
    case $row in
      s1) run s1 --workload agent --sessions 1 --steps 6 --warmup 2 ;;
      s32t0) run s32t0 --workload agent --sessions 32 --duration 20 --steps 100 --warmup 32 ;;
      s8t3) run s8t3 --workload agent --sessions 8 --duration 20 --steps 100 --think-time 3 --warmup 8 ;;
      s16t3) run s16t3 --workload agent --sessions 16 --duration 20 --steps 100 --think-time 3 --warmup 16 ;;
      c64) run c64 --workload random --random-input-len 1024 --random-output-len 128 \
        --max-concurrency 64 --num-prompts 192 --warmup 64 ;;
      c64l) run c64l --workload random --random-input-len 1024 --random-output-len 128 \
        --max-concurrency 64 --num-prompts 1000 --warmup 64 ;;
      l8) run l8 --workload random --random-input-len 25000 --random-output-len 480 \
        --max-concurrency 8 --num-prompts 8 ;;
      *) echo "unknown row $row" ;;
    esac
  done
  kill $smi $smi_gpu 2>/dev/null
  awk -F', *' '$2 > m { m = $2 } END { if (m) print "nvidia-smi, max: server process " m " MiB" }' \
    "$OUT/smi_$tag.txt"
  awk -F', *' '$1 > m { m = $1 } END { if (m) print "nvidia-smi, max: whole GPU " m " MiB" }' \
    "$OUT/smi_gpu_$tag.txt"
  # SM clock and power over the samples taken while the GPU was busy (power above 200 W).
  awk -F', *' '$3 > 200 { n++; c += $2; p += $3; if (!lo || $2 < lo) lo = $2 }
    END { if (n) printf "nvidia-smi, busy samples: %d, SM clock mean %.0f MHz (min %d), power mean %.0f W\n", n, c / n, lo, p / n }' \
    "$OUT/smi_gpu_$tag.txt"
  kill -TERM $pid; wait $pid; echo "serve $tag exit $?"
done
echo "total $(( $(date +%s) - t0 )) s"
echo DONE
