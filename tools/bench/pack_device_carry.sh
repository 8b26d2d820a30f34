#!/usr/bin/env bash
# Packs a build for a GPU machine that has the CUDA driver but not this project's build
# dependencies: the binaries the device scripts run (debug info stripped, one xz archive) and the
# shared libraries they load that such a machine lacked (LIBS, name prefixes), into .device-carry/
# (git-ignored), beside the scripts in tools/bench. On the GPU machine, from the repository root:
#   mkdir -p build/release && tar xJf .device-carry/bins.txz -C build/release
# then tools/bench/device_run.sh / device_fp8_ab.sh / device_agent_ab.sh with build/release (they
# put .device-carry/lib on LD_LIBRARY_PATH).
# Usage: tools/bench/pack_device_carry.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
libs=${LIBS:-"libbenchmark libpng16 libjpeg libdeflate libpcre2-8"}
cd "$(dirname "$0")/../.."
carry=.device-carry
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bins=(bin/autoglm tests/kernels_cuda_test tests/kernels_cuda_sampling_test tests/model_cuda_test
      tests/engine_test bench/gemv_bench)
for b in "${bins[@]}"; do
  [ -x "$build/$b" ] || { echo "missing $build/$b" >&2; exit 1; }
  mkdir -p "$stage/$(dirname "$b")"
  cp "$build/$b" "$stage/$b"
  strip --strip-debug "$stage/$b"
done
mkdir -p "$carry/lib"
tar -C "$stage" -cf - . | xz -T2 -6 > "$carry/bins.txz"
for b in "${bins[@]}"; do ldd "$build/$b"; done | awk '$3 ~ /^\// { print $3 }' | sort -u |
  while read -r path; do
    for prefix in $libs; do
      case $(basename "$path") in "$prefix".so*|"$prefix"-*.so*) cp -L "$path" "$carry/lib/" ;; esac
    done
  done
du -sh "$carry/bins.txz" "$carry/lib" | sed 's/^/packed: /'
ls "$carry/lib"
