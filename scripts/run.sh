#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then runs the model: a real checkpoint folder when one is
# given, else the built-in demo model with random weights.
#   scripts/run.sh [MODEL_DIR] [extra autoglm generate flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
model=${1:-demo}
shift || true
# "[gMASK]<sop><|user|>\nWhat is<|assistant|>\n" as GLM-4.1V token ids (text in/out comes later).
exec build/release/bin/autoglm generate --model "$model" \
  --prompt-ids 151331,151333,151336,198,3838,374,151337,198 --max-tokens 16 "$@"
