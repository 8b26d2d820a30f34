#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), then starts the OpenAI-compatible server on port 8000:
# a real checkpoint folder when one is given, else the built-in demo model with random weights.
#   scripts/run.sh [MODEL_DIR] [extra autoglm serve flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
model=${1:-demo}
shift || true
exec build/release/bin/autoglm serve --model "$model" "$@"
