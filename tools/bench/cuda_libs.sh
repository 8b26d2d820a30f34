# Sourced by the device scripts: puts the CUDA toolkit's cuBLASLt on LD_LIBRARY_PATH when the GPU
# machine's loader does not find it by itself.
if ! ldconfig -p | grep -q libcublasLt.so.13; then
  lib=$(find / -name 'libcublasLt.so.13*' -not -path '/proc/*' 2>/dev/null | head -1)
  [ -n "$lib" ] && export LD_LIBRARY_PATH="$(dirname "$lib"):${LD_LIBRARY_PATH:-}"
fi
