#!/usr/bin/env bash
# What ptxas gives each CUDA kernel of kernels/: registers per thread, stack frame and spills,
# static shared memory, and the largest block the registers allow (65536 per block, allocated per
# warp in units of 256). Needs only nvcc, no GPU: a kernel whose launches use more threads than
# that fails on the device with "too many resources requested for launch", and spills or a stack
# frame mean local-memory traffic. Kernels with __launch_bounds__ are sized by ptxas to fit their
# bound (the emulator checks every launch against it: cuda_emu.h, check_launch_bounds).
# Usage: tools/kernel-resources.sh [ARCH]   (default sm_90; sm_80 for an A100)
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-sm_90}
nvcc=${NVCC:-nvcc}
command -v "$nvcc" >/dev/null || { echo "nvcc not found (set NVCC)" >&2; exit 1; }
# engine/generated holds the configured version header some kernels' includes reach; any
# configured build has it.
generated=$(ls -d build*/engine/generated 2>/dev/null | head -n 1)
[ -n "$generated" ] || { echo "configure a build first (cmake --preset ...)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in kernels/*.cu; do
  "$nvcc" -Ikernels/include -Iengine/include -I"$generated" -O3 -DNDEBUG \
    --generate-code=arch=compute_${arch#sm_},code=$arch --expt-relaxed-constexpr \
    --resource-usage -x cu -c "$f" -o "$tmp/k.o" 2>&1 | { grep -E "Compiling entry|Used|stack frame" || true; }
done | python3 -c '
import re, subprocess, sys
rows, name, frame = [], None, (0, 0, 0)
for line in sys.stdin:
    m = re.search(r"entry function .([^ ]+). for", line)
    if m:
        name = subprocess.run(["c++filt", m.group(1)], capture_output=True, text=True).stdout
        name = re.sub(r"lectern::cuda::|\(anonymous namespace\)::|sparse_detail::", "", name)
        name = re.sub(r"\(.*", "", name.strip())
        continue
    m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
    if m:
        frame = tuple(int(g) for g in m.groups())
        continue
    m = re.search(r"Used (\d+) registers(?:.*?(\d+) bytes smem)?", line)
    if m:
        regs, smem = int(m.group(1)), int(m.group(2) or 0)
        per_warp = (regs * 32 + 255) // 256 * 256
        rows.append((name, regs, frame[0], frame[1] + frame[2], smem,
                     min(1024, 65536 // per_warp * 32)))
print("%-44s %4s %5s %5s %6s %11s" % ("kernel", "regs", "stack", "spill", "smem", "max threads"))
for r in rows:
    print(f"{r[0][:44]:44} {r[1]:4} {r[2]:5} {r[3]:5} {r[4]:6} {r[5]:11}")
'
