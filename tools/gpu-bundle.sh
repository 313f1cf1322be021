#!/usr/bin/env bash
# Packs the GPU tests and lectern-cli (GPU benchmarks) for a bare GPU machine (the lent H100/H200
# has CUDA but no Qt or the other build dependencies): builds them here and writes two tar.xz
# archives, each holding its binaries and every shared library they need that such a machine may
# lack (not glibc, libstdc++, the CUDA driver or cuBLAS, which it has):
#   DIR/gpu-tests.tar.xz   the `gpu`-labelled test binaries (Qt Core and ICU besides), ~14 MB
#   DIR/gpu-bench.tar.xz   lectern-gpu-bench (`lectern-cli bench --shape` alone, with Qt Core and
#                          ICU: ~13 MB; lectern-cli with ingestion's, the GUI's and OCR's
#                          libraries took ~30 MB)
# Run either there with `tools/gpu-check.sh --bundle FILE`: it runs the tests it finds, then the
# benchmarks if lectern-gpu-bench is there. Two archives because the device tool carries at most
# 64 MiB with the working tree (~37 MB); each goes with its own call (docs/gpu-checks.md).
# Usage: [GPU_BUNDLE_ARCHS="80;90"] tools/gpu-bundle.sh [DIR] (default .gpucarry)
# Device code for sm_90 only by default (the lent machines are H100/H200); gpu-check.sh without
# --bundle still builds for sm_80 and sm_90.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.gpucarry}
build=build-gpu-bundle
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLECTERN_CUDA=ON -DLECTERN_TESTS=ON \
      -DCMAKE_CUDA_ARCHITECTURES="${GPU_BUNDLE_ARCHS:-90}" >/dev/null
targets=$(for f in tests/kernels/tst_*.cpp; do basename "$f" .cpp; done)
# shellcheck disable=SC2086
cmake --build "$build" --target $targets lectern-gpu-bench
mkdir -p "$dir"

# pack OUT BINARY...: the binaries, stripped, and the libraries they load, into OUT.
pack() {
  local out=$1
  shift
  local stage
  stage=$(mktemp -d)
  mkdir -p "$stage/bin" "$stage/lib"
  cp "$@" "$stage/bin/"
  for b in "$stage"/bin/*; do
    ldd "$b" | awk '$3 ~ /^\// {print $1, $3}'
  done | sort -u | while read -r soname path; do
    case "$soname" in
      libc.so*|libm.so*|libpthread*|libdl.so*|librt.so*|ld-linux*|libgcc_s*|libstdc++*|libcuda.so*|libcublas*) ;;
      *) cp -L "$path" "$stage/lib/$soname" ;;
    esac
  done
  strip --strip-unneeded "$stage"/bin/* 2>/dev/null || true
  XZ_OPT=-9e tar -C "$stage" -cJf "$out" bin lib
  rm -rf "$stage"
  ls -la "$out"
}

tests=()
for t in $targets; do tests+=("$build/tests/$t"); done
pack "$dir/gpu-tests.tar.xz" "${tests[@]}"
pack "$dir/gpu-bench.tar.xz" "$build/bin/lectern-gpu-bench"
