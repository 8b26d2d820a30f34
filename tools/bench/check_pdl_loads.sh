#!/usr/bin/env bash
# Runs on the GPU machine (needs cuobjdump): in every sm_90a kernel of BINARY that waits for the
# previous kernel (griddepcontrol.wait, SASS ACQBULK), no load through the read-only path
# (LDG...CONSTANT, i.e. ld.global.nc / __ldg) may come before that wait. ptxas treats such data as
# constant for the kernel's life and may move the loads above the wait, so they would read the
# previous kernel's output before it is written (weights are read before the wait through
# other loads). A segment between two EXITs stands for a path. Prints the offenders and exits 1
# (2 when it finds no kernel that waits: no cuobjdump, or a binary without sm_90a code).
# Usage: tools/bench/check_pdl_loads.sh BINARY
set -uo pipefail
bin=${1:?binary}
dump=$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)
"$dump" -sass -arch sm_90a "$bin" 2>/dev/null | awk '
function flush() { if (waits && early > 0) bad[fn] += early; early = 0; waits = 0 }
/Function : / { flush(); fn = $3 }
/ EXIT ;/ { flush() }
/ACQBULK/ { waits = 1; pdl[fn] = 1 }
/CONSTANT/ { if (!waits) early++ }
END {
  flush()
  for (f in pdl) n++
  if (n == 0) { print "no kernel waits for the previous one: no cuobjdump, or no sm_90a code?"; exit 2 }
  for (f in bad) { print bad[f] " read-only loads before the wait: " f; failed = 1 }
  printf "%d kernels wait for the previous one; %s\n", n, failed ? "some read early" : "none reads early"
  exit failed
}'
