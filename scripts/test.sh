#!/usr/bin/env bash
# The test suite: format check, release build + tests (CUDA tests skip without a GPU), then the
# ASan+UBSan build of the CPU tests, then the ThreadSanitizer build of the engine tests, the fuzz
# corpora replayed through the libFuzzer targets, the client tests. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh asan tsan fuzz

echo "== clang-format check"
git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | xargs clang-format --dry-run -Werror

echo "== tests (release)"
ctest --preset release -j "$(nproc)"

echo "== tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --preset asan -j "$(nproc)"

echo "== engine tests (ThreadSanitizer)"
# The sampler's statistical test is single-threaded arithmetic (a minute under TSan): skipped here.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build/tsan/tests/engine_test \
  --gtest_filter=-Seeds.FrequenciesFollowSoftmaxOverTemperature

echo "== fuzz corpora (libFuzzer, clang)"
tools/fuzz.sh replay

echo "== client tests (openai and @langchain/openai against autoglm serve on loopback)"
(cd tests/clients && npm ci --no-audit --no-fund --loglevel=error && npm test)
