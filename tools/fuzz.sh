#!/usr/bin/env bash
# The libFuzzer targets (clang; cmake --preset fuzz && cmake --build --preset fuzz).
#   tools/fuzz.sh replay          # every corpus file once through its fuzzer (the test command)
#   tools/fuzz.sh run MINUTES     # each fuzzer for MINUTES, new inputs in a scratch copy of its
#                                 # corpus (under build/fuzz/work); prints the executions
# A crash leaves its input as build/fuzz/crash-* (replay) or build/fuzz/work/crash-* (run) and
# fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-replay}
bin=build/fuzz/tests
status=0
for t in safetensors image request; do
  corpus=tests/fuzz/corpus/$t
  [ -x "$bin/${t}_fuzz" ] || { echo "fuzz: $bin/${t}_fuzz missing (cmake --build --preset fuzz)"; exit 1; }
  case $mode in
    replay)
      if "$bin/${t}_fuzz" -runs=0 -artifact_prefix=build/fuzz/ "$corpus" \
          > "build/fuzz/${t}_replay.log" 2>&1; then
        echo "fuzz: ${t}: $(ls "$corpus" | wc -l) corpus inputs replayed, no crash"
      else
        echo "fuzz: ${t}: FAILED"; tail -30 "build/fuzz/${t}_replay.log"; status=1
      fi
      ;;
    run)
      minutes=${2:?minutes}
      work=build/fuzz/work/$t
      mkdir -p "$work"
      cp -n "$corpus"/* "$work"/ 2>/dev/null || true
      log=build/fuzz/${t}_run.log
      if "$bin/${t}_fuzz" -max_total_time=$((minutes * 60)) -print_final_stats=1 \
          -artifact_prefix=build/fuzz/work/ "$work" > "$log" 2>&1; then
        result="no crash"
      else
        result="CRASH (see $log)"; status=1
      fi
      execs=$(grep -E "stat::number_of_executed_units" "$log" | awk '{print $2}' || true)
      echo "fuzz: ${t}: ${execs:-?} executions in ${minutes} min, $(ls "$work" | wc -l) inputs in the corpus, ${result}"
      ;;
    *) echo "usage: tools/fuzz.sh replay | run MINUTES" >&2; exit 2 ;;
  esac
done
exit $status
