#!/usr/bin/env bash
# How well the CPU emulator's kernel tests see a missing barrier: removes each __syncthreads() and
# __syncwarp() of kernels/ in turn, rebuilds the emulated kernels, runs the tests of that file under
# the forward and the reverse schedule (LECTERN_EMU_SCHEDULE, tests/emu/cuda_emu_fiber.h) and
# prints one line per barrier: which schedule's tests failed ("caught"). A barrier neither catches
# is one the tests cannot tell from missing: either redundant under every order, or a test gap.
# Usage: tools/emu-barrier-mutations.sh [BUILD_DIR]   (default build; a configured build with the
# emulator tests). Restores every kernel source as it was (git checkout) when it ends or is stopped.
# Takes about a minute per barrier on 2 cores. It edits kernels/ in place: do not build another
# build directory meanwhile (its generated emulator sources would take a mutated kernel).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -f "$build/build.ninja" ] || { echo "no configured build in $build" >&2; exit 1; }
if ! git diff --quiet -- kernels; then
  echo "kernels/ has uncommitted changes; commit or stash them first" >&2
  exit 1
fi
trap 'git checkout -q -- kernels; cmake --build "$build" >/dev/null 2>&1' EXIT

# The emulator tests that run each kernel source's code.
tests_of() {
  case "$1" in
    decode_fused.cu) echo tst_decode_kernels_emu tst_decode_fused_cuda_emu ;;
    gemv.cu) echo tst_decode_kernels_emu tst_gemv_cuda_emu ;;
    kv_seal.cu) echo tst_kv_seal_cuda_emu ;;
    sparse_attention_weights.cu) echo tst_sparse_attention_weights_emu ;;
    sparse_attention_*.cu) echo tst_sparse_attention_emu tst_sparse_attention_cuda_emu ;;
    wkv7.cu) echo tst_wkv7_cuda_emu tst_decode_kernels_emu ;;
    wkv7_chunked.cu) echo tst_wkv7_chunked_emu tst_wkv7_chunked_cuda_emu ;;
    elementwise_common.cuh) echo tst_layer_norm_cuda_emu tst_group_norm_cuda_emu ;;
    *) echo "" ;;
  esac
}

# Whether any of the tests fails under schedule $1 (prints caught or -).
run_tests() {
  local schedule=$1; shift
  for t in "$@"; do
    if ! LECTERN_EMU_SCHEDULE=$schedule LECTERN_EMU_DEVICE_POINTERS=1 LECTERN_EMU_ASYNC=1 \
         QT_QPA_PLATFORM=offscreen timeout 600 "$build/tests/$t" >/dev/null 2>&1; then
      echo caught
      return
    fi
  done
  echo -
}

printf '%-40s %-8s %-8s\n' barrier forward reverse
total=0 forward=0 reverse=0 either=0
while IFS=: read -r file line _; do
  name=${file#kernels/}
  read -r -a tests <<<"$(tests_of "$name")"
  if [ ${#tests[@]} -eq 0 ]; then
    printf '%-40s no tests mapped\n' "$name:$line"
    continue
  fi
  sed -i "${line}s/__syncthreads()\|__syncwarp()/(void)0/" "$file"
  if ! cmake --build "$build" --target "${tests[@]}" >/dev/null 2>&1; then
    printf '%-40s build failed\n' "$name:$line"
    git checkout -q -- "$file"
    continue
  fi
  f=$(run_tests forward "${tests[@]}")
  r=$(run_tests reverse "${tests[@]}")
  git checkout -q -- "$file"
  printf '%-40s %-8s %-8s\n' "$name:$line" "$f" "$r"
  total=$((total + 1))
  [ "$f" = caught ] && forward=$((forward + 1))
  [ "$r" = caught ] && reverse=$((reverse + 1))
  { [ "$f" = caught ] || [ "$r" = caught ]; } && either=$((either + 1))
done < <(grep -n '^\s*__syncthreads();\|^\s*__syncwarp();' kernels/*.cu kernels/*.cuh)
echo "barriers removed: $total; caught by forward: $forward, by reverse: $reverse, by either: $either"
