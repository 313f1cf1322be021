#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a short time over a scratch copy of its
# committed corpus. Fails if any fuzzer finds a crash, leak, timeout or sanitizer report.
# Usage: run_fuzz.sh <source dir> <build dir> [seconds per target, default 20]
set -euo pipefail
src="$(cd "$1" && pwd)"
build="$2"
seconds="${3:-20}"
targets=(fuzz_pth fuzz_safetensors fuzz_world_vocab fuzz_ingest)
# Committed corpus (and optional .dict) of each target: tests/fuzz/ for the model parsers,
# tests/ingest/ for document extraction.
corpus_dir() {
    case "$1" in
        fuzz_ingest) echo "$src/tests/ingest/corpus/$1" ;;
        *) echo "$src/tests/fuzz/corpus/$1" ;;
    esac
}

cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DLECTERN_FUZZ=ON -DLECTERN_UI=OFF -DLECTERN_CUDA=OFF -DLECTERN_TESTS=ON >/dev/null
cmake --build "$build" --target "${targets[@]}"

status=0
for t in "${targets[@]}"; do
    work="$build/fuzz-work/$t"
    rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
    cp -r "$(corpus_dir "$t")/." "$work/corpus/"
    dict=()
    [[ -f "$src/tests/fuzz/$t.dict" ]] && dict=(-dict="$src/tests/fuzz/$t.dict")
    [[ -f "$src/tests/ingest/$t.dict" ]] && dict=(-dict="$src/tests/ingest/$t.dict")
    echo "== $t: ${seconds}s"
    if ! "$build/bin/$t" "$work/corpus" "${dict[@]}" -max_total_time="$seconds" \
            -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
            -artifact_prefix="$work/artifacts/" 2>"$work/log.txt"; then
        echo "!! $t failed; reproducer in $work/artifacts/" >&2
        tail -n 40 "$work/log.txt" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/log.txt" || true
    fi
done
exit $status
