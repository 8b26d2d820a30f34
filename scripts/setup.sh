#!/usr/bin/env bash
# Installs every build and test dependency from Debian's packages (idempotent: skips what is
# already installed), then configures and builds the release preset (and more with arguments).
#   scripts/setup.sh            # release build (CUDA backend too when nvcc is found)
#   scripts/setup.sh asan       # also the ASan+UBSan CPU build used by the tests
#   scripts/setup.sh fuzz       # also the libFuzzer targets (clang)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config git ca-certificates
          libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libpcre2-dev clang-format
          libjpeg62-turbo-dev libpng-dev libdeflate-dev libboost-dev libxxhash-dev libcurl4-openssl-dev
          openssl curl)
# The fuzz targets: clang with libFuzzer (the test command replays their corpora).
packages+=(clang libclang-rt-14-dev)
# The server tests: real OpenAI / LangChain clients (Node.js + npm) and promtool (prometheus).
packages+=(prometheus)
# bench serve's tests: the HTML report rendered by headless Chromium, the locustfile run by locust.
packages+=(chromium python3-locust)
# deploy/k8s is rendered with kubectl kustomize in the tests (any kubectl will do: a machine may
# already have one from another package, which Debian's would conflict with).
command -v kubectl >/dev/null || packages+=(kubernetes-client)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

# The CUDA toolkit is optional; Debian's PATH does not include its default location.
if ! command -v nvcc >/dev/null && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

jobs=$(nproc)
for preset in release "$@"; do
  echo "setup: building preset '$preset'"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
done
