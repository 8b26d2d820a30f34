#!/bin/sh
# autoglm chat runs through the engine: --device picks the backend it names on stderr, seeded
# sampling repeats and differs from greedy. Usage: chat_test.sh AUTOGLM_BINARY cpu|cuda
# (cuda: exits 77, a skip, when no GPU is present).
bin=${1:?binary}
device=${2:?device}
if [ "$device" = cuda ] && ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
  echo "no CUDA device: the chat on the GPU backend is not tested here"
  exit 77
fi
err=$(mktemp)
trap 'rm -f "$err"' EXIT
# One 6-token reply to "hello", or the test fails.
chat() {
  reply=$(printf 'hello\n' | "$bin" chat --model demo --device "$device" --max-tokens 6 "$@" 2>"$err") ||
    { echo "FAIL: chat $* exited non-zero"; cat "$err"; exit 1; }
  [ "$(echo "$reply" | wc -w)" -eq 6 ] || { echo "FAIL: chat $* gave '$reply'"; cat "$err"; exit 1; }
  echo "$reply"
}
greedy=$(chat) || { echo "$greedy"; exit 1; }
grep '^device: ' "$err"
if [ "$device" = cuda ]; then
  grep -q '^device: NVIDIA' "$err" || { echo "FAIL: chat did not run on the GPU"; exit 1; }
else
  grep -q '^device: cpu$' "$err" || { echo "FAIL: chat did not run on the CPU"; exit 1; }
fi
a=$(chat --temperature 1 --sampling-seed 3) || { echo "$a"; exit 1; }
b=$(chat --temperature 1 --sampling-seed 3) || { echo "$b"; exit 1; }
echo "greedy:$greedy"
echo "seeded:$a"
[ "$a" = "$b" ] || { echo "FAIL: the same seed gave two replies"; exit 1; }
[ "$a" != "$greedy" ] || { echo "FAIL: sampling gave the greedy reply"; exit 1; }
echo PASS
