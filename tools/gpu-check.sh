#!/usr/bin/env bash
# The one GPU script: build the CUDA configuration for sm_90 (+ sm_80), run every GPU-vs-CPU test
# and the GPU benchmarks, print a short table. Meant for a lent H100/H200 (one call, < 8 minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
build=build-gpu
start=$(date +%s)

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLECTERN_CUDA=ON \
      -DLECTERN_UI=OFF -DCMAKE_CUDA_ARCHITECTURES="80;90" >/dev/null || exit 1
cmake --build "$build" -j "$(nproc)" >"$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }

ctest --test-dir "$build" -L gpu --output-on-failure -j 1 >"$build/gpu-tests.log" 2>&1
status=$?

echo
printf '%-40s %s\n' "test" "result"
grep -E '^ *[0-9]+/[0-9]+ Test +#' "$build/gpu-tests.log" |
  sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) [.* ]+([A-Za-z* ]+[A-Za-z]).*/\1 \2/' |
  while read -r name result; do printf '%-40s %s\n' "$name" "$result"; done
grep -q "Skipped" "$build/gpu-tests.log" && grep -h "SKIP" "$build/gpu-tests.log" | head -5
echo "elapsed_s: $(( $(date +%s) - start ))"
exit $status
