#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the model: a real checkpoint folder when one is
# given, else the built-in demo model with random weights.
#   scripts/run.sh [MODEL_DIR] [extra autoglm generate flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
model=${1:-demo}
shift || true
exec build/release/bin/autoglm generate --model "$model" \
  --prompt $'[gMASK]<sop><|user|>\nWhat is on the screen?<|assistant|>\n' --max-tokens 32 "$@"
