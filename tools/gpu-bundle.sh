#!/usr/bin/env bash
# Packs the GPU tests and lectern-cli (GPU benchmarks) for a bare GPU machine (the lent H100/H200 has CUDA but no Qt or the other
# build dependencies): builds them here and writes one tar.xz holding the test binaries and every
# shared library they need that such a machine may lack (not glibc, libstdc++, the CUDA driver or
# cuBLAS, which it has). Run it there with `tools/gpu-check.sh --bundle FILE`.
# Usage: [GPU_BUNDLE_ARCHS="80;90"] tools/gpu-bundle.sh [OUTPUT.tar.xz]
#        (default .gpucarry/gpu-bundle.tar.xz)
# Device code for sm_90 only by default: the lent machines are H100/H200 (sm_90), and the bundle
# must fit the device tool's 64 MiB together with the working tree (sm_80 + sm_90 made it 30.4 MB
# next to a 36.2 MB tree). gpu-check.sh without --bundle still builds for both.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.gpucarry/gpu-bundle.tar.xz}
build=build-gpu-bundle
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLECTERN_CUDA=ON -DLECTERN_TESTS=ON \
      -DCMAKE_CUDA_ARCHITECTURES="${GPU_BUNDLE_ARCHS:-90}" >/dev/null
targets=$(for f in tests/kernels/tst_*.cpp; do basename "$f" .cpp; done)
# shellcheck disable=SC2086
cmake --build "$build" --target $targets lectern-cli

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
for t in $targets; do cp "$build/tests/$t" "$stage/bin/"; done
# lectern-cli for the GPU benchmarks (bench --shape), with its libraries like the tests'.
cp "$build/bin/lectern-cli" "$stage/bin/"
for b in "$stage"/bin/*; do
  ldd "$b" | awk '$3 ~ /^\// {print $1, $3}'
done | sort -u | while read -r soname path; do
  case "$soname" in
    libc.so*|libm.so*|libpthread*|libdl.so*|librt.so*|ld-linux*|libgcc_s*|libstdc++*|libcuda.so*|libcublas*) ;;
    *) cp -L "$path" "$stage/lib/$soname" ;;
  esac
done
mkdir -p "$(dirname "$out")"
# Stripped and packed hard: the device tool carries at most 64 MiB with the working tree.
strip --strip-unneeded "$stage"/bin/* 2>/dev/null || true
XZ_OPT=-9e tar -C "$stage" -cJf "$out" bin lib
ls -la "$out"
