#!/usr/bin/env bash
# The test suite: format check, release build + tests (CUDA tests skip without a GPU), then the
# ASan+UBSan build of the CPU tests. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh asan

echo "== clang-format check"
git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | xargs clang-format --dry-run -Werror

echo "== tests (release)"
ctest --preset release -j "$(nproc)"

echo "== tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan -j "$(nproc)"
