#!/usr/bin/env bash
# The one GPU script: every GPU-vs-CPU test (ctest label `gpu`) and the GPU benchmarks, then one
# short table. Two ways to run it:
#   tools/gpu-check.sh                 build build-gpu (sm_90 + sm_80) here and run; for a
#                                      workstation with the build dependencies and a GPU
#   tools/gpu-check.sh --bundle FILE   run what tools/gpu-bundle.sh packed (gpu-tests.tar.xz: the
#                                      tests; gpu-bench.tar.xz: lectern-gpu-bench) on a bare GPU
#                                      machine (no Qt or other build dependencies there)
# Either way it fits in 8 minutes on an H100/H200. GPU_BENCH=0: tests only; GPU_TESTS=0 (with
# --bundle): benchmarks only, so the two halves can be separate calls of a device tool that caps
# each call (the device tool here: 600 s). GPU_TEST_CAP,
# GPU_BENCH_CAP, GPU_BENCH_CAP_X, GPU_BASELINE_CAP: time caps (s); GPU_BASELINE=0: no dense
# attention baseline (PyTorch); GPU_BENCH_SHAPES: which shapes;
# GPU_BENCH_CONTEXTS: RWKV-X prefill contexts (also the dense-baseline lengths);
# GPU_BENCH_SYNTHETIC: RWKV-X decode-latency contexts without a prefill; GPU_BENCH_GEMV=0: no
# per-walk GEMV rows (--gemv) in the RWKV-7 shapes' benches. GPU_BENCH_BUDGET_MB: those
# contexts again under that GPU memory budget (a 24 GB card's), and once more under each of
# GPU_BENCH_BUDGET_AB="NAME=VALUE ..." (capped by GPU_BENCH_CAP_BUDGET each). GPU_TEST_JOBS: tests run
# at once (--bundle; default 1). GPU_SANITIZE="memcheck:tst_a racecheck:NAME=VALUE:tst_b": those tests also
# run under compute-sanitizer (--bundle), capped by GPU_SANITIZE_CAP. GPU_TEST_ENV="NAME=VALUE:tst_a
# ...": those tests also run with that setting (an opt-in kernel, say; A=1+B=1 sets two). GPU_BENCH_AB="NAME=VALUE ...":
# the GPU_AB_SHAPE bench again under each setting (prefill GPU_AB_PREFILL tokens, default 4096); GPU_NCU=1: Nsight Compute per-launch times of
# the decode kernels into $OUT/ncu-decode.csv; GPU_NCU_PREFILL=1: its stall analysis of the prefill
# kernels into $OUT/ncu-prefill.txt (all --bundle). A setting may be A=1+B=1 (two).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

bundle=""
if [ "${1:-}" = "--bundle" ]; then
  bundle=${2:?"--bundle needs the tar.xz made by tools/gpu-bundle.sh"}
fi

# The table goes to $OUT when the device tool gives one, so a run cut short still returns it.
results=$(mktemp)
[ -n "${OUT:-}" ] && results="$OUT/gpu-table.txt"
if [ -n "$bundle" ]; then
  dir=$(mktemp -d)
  tar -xJf "$bundle" -C "$dir" || exit 1
  # cuBLAS comes from the machine's CUDA toolkit (or PyTorch's wheels), the rest from the bundle.
  cublas=$(ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib 2>/dev/null | tr '\n' ':')
  py=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
  export LD_LIBRARY_PATH="$dir/lib:${cublas}${py}:${LD_LIBRARY_PATH:-}"
  export QT_QPA_PLATFORM=offscreen
  export PATH="$PATH:/usr/local/cuda/bin:/usr/local/cuda/compute-sanitizer"
  # run_test BINARY [TOOL|-] [SETTING]: one test binary, capped (GPU_TEST_CAP seconds: a hung
  # kernel must not eat the whole device budget); its row goes to $dir/NAME.row, its log to
  # $dir/NAME.log. With TOOL it runs under compute-sanitizer (memcheck, racecheck, ...), capped by
  # GPU_SANITIZE_CAP (a capped run still reports the errors found before the cap); with SETTING
  # (NAME=VALUE[+NAME=VALUE...]) in that environment.
  run_test() {
    local t=$1 tool=${2:-} setting=${3:-} name cap rc t0 tenths secs verdict log row
    [ "$tool" = - ] && tool=""
    name=$(basename "$t")
    cap=${GPU_TEST_CAP:-180}
    local cmd=("$t")
    if [ -n "$setting" ]; then  # NAME=VALUE[+NAME=VALUE...] for this run only
      # shellcheck disable=SC2046
      cmd=(env $(echo "$setting" | tr '+' ' ') "$t")
      name="$setting:$name"
    fi
    if [ -n "$tool" ]; then
      cap=${GPU_SANITIZE_CAP:-150}
      cmd=(compute-sanitizer --tool "$tool" --error-exitcode 9 "${cmd[@]}")
      name="$tool:$name"
    fi
    if [ -n "$tool" ] && ! command -v compute-sanitizer >/dev/null; then
      printf '%-40s %-8s\n' "$name" "no-tool" >>"$results"
      return
    fi
    log="$dir/$name.log"
    row="$dir/$name.row"
    t0=$(date +%s%N)
    timeout "$cap" "${cmd[@]}" >"$log" 2>&1
    rc=$?
    tenths=$(( ($(date +%s%N) - t0) / 100000000 ))
    secs="$((tenths / 10)).$((tenths % 10))"
    if [ -n "$tool" ]; then
      # Only the sanitizer's verdict matters here; the test's own result is in its plain row.
      if [ $rc -eq 9 ] || grep -q "SUMMARY: [1-9]\|^========= Invalid\|^========= Error" "$log"; then
        verdict=FAILED
      elif [ $rc -eq 124 ]; then
        verdict=capped
      else
        verdict=clean
      fi
    elif [ $rc -ne 0 ]; then
      verdict=FAILED
    elif grep -q "^SKIP.*initTestCase" "$log"; then
      verdict=skipped
    else
      verdict=passed
    fi
    printf '%-40s %-8s %6ss\n' "$name" "$verdict" "$secs" >"$row"
    if [ "$verdict" != passed ] && [ "$verdict" != clean ]; then
      grep -E "^(FAIL|SKIP)|Loc:|Actual|Expected|^========= [A-Z]" "$log" | head -12 | sed 's/^/    /' >>"$row"
    fi
    # At once, so a call cut short still returns the rows and logs of the tests that finished.
    {
      flock 9 2>/dev/null
      cat "$row" >>"$results"
      [ -n "${OUT:-}" ] && { echo "=== $name (rc $rc)"; cat "$log"; } >>"$OUT/gpu-tests.log"
    } 9>"$dir/.lock"
  }
  export -f run_test
  export dir results
  if [ "${GPU_TESTS:-1}" != 0 ]; then
    # GPU_TEST_JOBS tests at a time on the one GPU (default 1), plus the GPU_SANITIZE runs
    # ("TOOL:tst_name ..."), which start first since they run longest.
    {
      for job in ${GPU_SANITIZE:-}; do  # TOOL:tst_x, or TOOL:SETTING:tst_x
        tool=${job%%:*} rest=${job#*:} setting=""
        [ "${rest#*:}" != "$rest" ] && { setting=${rest%%:*}; rest=${rest#*:}; }
        # No trailing blank: xargs -L would join the next line to this one.
        [ -e "$dir/bin/$rest" ] && echo "$dir/bin/$rest $tool${setting:+ $setting}"
      done
      for job in ${GPU_TEST_ENV:-}; do
        [ -e "$dir/bin/${job#*:}" ] && echo "$dir/bin/${job#*:} - ${job%%:*}"
      done
      for t in "$dir"/bin/tst_*; do [ -e "$t" ] && echo "$t"; done
    } | xargs -P "${GPU_TEST_JOBS:-1}" -L 1 bash -c 'run_test "$@"' _
  fi
  # The whole model on the GPU: random-weight models of the released shapes (bench --shape),
  # decode/prefill against the rooflines measured in the same process. Each run is capped so the
  # script stays inside its 8 minutes; a capped run still prints the rows it finished. RWKV-X
  # with an f16 KV cache (GPU_BENCH_KV), a document store's: the prefill seals completed chunks.
  # The bench binary: lectern-gpu-bench (what gpu-bundle.sh packs: `lectern-cli bench --shape`
  # with fewer libraries), or an older bundle's lectern-cli bench.
  bench=()
  if [ -x "$dir/bin/lectern-gpu-bench" ]; then
    bench=("$dir/bin/lectern-gpu-bench")
  elif [ -x "$dir/bin/lectern-cli" ] && "$dir/bin/lectern-cli" bench --help 2>/dev/null | grep -q -- "--shape"; then
    bench=("$dir/bin/lectern-cli" bench)
  fi
  if [ "${GPU_BENCH:-1}" != 0 ] && [ "${#bench[@]}" -gt 0 ]; then
    for shape in ${GPU_BENCH_SHAPES:-rwkv7-0.4b rwkv7-1.5b rwkv7-2.9b rwkvx-3.6b}; do
      # RWKV-7 shapes: the decode GEMVs alone in every walk too (--gemv; GPU_BENCH_GEMV=0: not).
      cap=${GPU_BENCH_CAP:-45}; extra=""
      [ "${GPU_BENCH_GEMV:-1}" != 0 ] && extra="--gemv"
      [ "$shape" = rwkvx-3.6b ] && { cap=${GPU_BENCH_CAP_X:-150}; extra="--contexts ${GPU_BENCH_CONTEXTS:-1024,65536,131072} --synthetic-contexts ${GPU_BENCH_SYNTHETIC:-131072,1048576} --kv-dtype ${GPU_BENCH_KV:-f16}"; }
      echo >>"$results"
      # shellcheck disable=SC2086
      timeout "$cap" "${bench[@]}" --backend cuda --shape "$shape" --prefill 4096 \
        --decode 64 --profile $extra >"$dir/bench-$shape.txt" 2>&1 || echo "  ($shape: exit $?, 124 = capped at ${cap}s)" >>"$dir/bench-$shape.txt"
      cat "$dir/bench-$shape.txt" >>"$results"
    done
    # The issue's 24 GB card (GPU_BENCH_BUDGET_MB=22000, say): RWKV-X decode after a synthetic 1M
    # context with the model, scratch and KV rows capped at that budget (the paged cache), with
    # the host's steps of its profile (where a paged token's time outside GPU ops goes).
    # GPU_BENCH_BUDGET_AB="NAME=VALUE ...": that run again under each setting.
    if [ -n "${GPU_BENCH_BUDGET_MB:-}" ]; then
      for setting in "" ${GPU_BENCH_BUDGET_AB:-}; do
        printf '\n%s\n' "RWKV-X 3.6B, --gpu-memory-mb ${GPU_BENCH_BUDGET_MB}${setting:+, $setting}:" >>"$results"
        # shellcheck disable=SC2046
        env $(echo "$setting" | tr '+' ' ') timeout "${GPU_BENCH_CAP_BUDGET:-90}" "${bench[@]}" \
          --backend cuda --shape rwkvx-3.6b \
          --gpu-memory-mb "$GPU_BENCH_BUDGET_MB" --prefill 16 --decode 32 --contexts "" --profile \
          --synthetic-contexts "${GPU_BENCH_SYNTHETIC:-131072,1048576}" --kv-dtype "${GPU_BENCH_KV:-f16}" 2>&1 |
          grep -E "^decode|^fork|^first|^shape|^profile|^  host|rror" >>"$results"
      done
    fi
    # A/B of environment switches (GPU_BENCH_AB="NAME=VALUE ..."): the GPU_AB_SHAPE bench again
    # with each setting, and once without, on the same machine within the same minute.
    if [ -n "${GPU_BENCH_AB:-}" ]; then
      for setting in "" ${GPU_BENCH_AB}; do
        printf '\n%s\n' "A/B ${setting:-(default)}:" >>"$results"
        # shellcheck disable=SC2086
        env $(echo "$setting" | tr '+' ' ') timeout "${GPU_BENCH_CAP:-45}" "${bench[@]}" --backend cuda \
          --shape "${GPU_AB_SHAPE:-rwkv7-2.9b}" --prefill "${GPU_AB_PREFILL:-4096}" --decode 64 2>&1 |
          grep -E "^decode|^prefill" >>"$results"
      done
    fi
    # Per-launch GPU time and DRAM bytes of the decode kernels (Nsight Compute, GPU_NCU=1) on a
    # few tokens of GPU_AB_SHAPE, as CSV in $OUT/ncu-decode.csv.
    if [ "${GPU_NCU:-0}" = 1 ] && [ -n "${OUT:-}" ] && command -v ncu >/dev/null; then
      timeout "${GPU_NCU_CAP:-90}" ncu --clock-control none --csv \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum,launch__grid_size \
        -k "regex:gemv|layer_norm|time_mix|attend|select|means" -c "${GPU_NCU_LAUNCHES:-900}" \
        "${bench[@]}" --backend cuda --shape "${GPU_AB_SHAPE:-rwkv7-2.9b}" \
        --prefill 16 --decode 8 >"$OUT/ncu-decode.csv" 2>&1
      echo "ncu: exit $?, $(grep -c gpu__time_duration "$OUT/ncu-decode.csv") rows in ncu-decode.csv" >>"$results"
      python3 tools/ncu_summary.py "$OUT/ncu-decode.csv" >>"$results" 2>&1
    fi
    # Why the prefill kernels take what they take (GPU_NCU_PREFILL=1): Nsight Compute's speed of
    # light, occupancy and warp stall sections for the first launches of the chunked WKV-7 kernel
    # (2.9B shape, 1,024-token segments) and of the tensor-core attention kernels (RWKV-X shape;
    # its second 2,048 tokens select the first chunk), as text in $OUT/ncu-prefill.txt.
    if [ "${GPU_NCU_PREFILL:-0}" = 1 ] && [ -n "${OUT:-}" ] && command -v ncu >/dev/null; then
      for target in "wkv7_chunked|wkv7_prep:rwkv7-2.9b:1024" "selected_kernel|own_kernel:rwkvx-3.6b:4096"; do
        IFS=: read -r kernels shape tokens <<<"$target"
        timeout "${GPU_NCU_CAP:-90}" ncu --clock-control none --section SpeedOfLight \
          --section Occupancy --section WarpStateStats --section SchedulerStats \
          -k "regex:$kernels" -c "${GPU_NCU_PREFILL_LAUNCHES:-2}" \
          "${bench[@]}" --backend cuda --shape "$shape" --prefill "$tokens" \
          --decode 1 >>"$OUT/ncu-prefill.txt" 2>&1
        echo "ncu prefill ($kernels): exit $?" >>"$results"
      done
    fi
    # The dense causal attention baseline (PyTorch SDPA on this GPU) against the RWKV-X rows above.
    if [ "${GPU_BASELINE:-1}" != 0 ] && [ -f "$dir/bench-rwkvx-3.6b.txt" ] &&
      python3 -c 'import torch' 2>/dev/null; then
      echo >>"$results"
      timeout "${GPU_BASELINE_CAP:-60}" python3 tools/dense_attention_baseline.py \
        --lengths "${GPU_BENCH_CONTEXTS:-1024,65536,131072}" --bench "$dir/bench-rwkvx-3.6b.txt" \
        >>"$results" 2>&1 || echo "  (dense baseline: exit $?)" >>"$results"
    fi
  fi
else
  build=build-gpu
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLECTERN_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES="80;90" >/dev/null || exit 1
  cmake --build "$build" -j "$(nproc)" >"$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }
  ctest --test-dir "$build" -L gpu --output-on-failure -j 1 >"$build/gpu-tests.log" 2>&1
  grep -E '^ *[0-9]+/[0-9]+ Test +#' "$build/gpu-tests.log" |
    sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) [.* ]+([A-Za-z* ]+[A-Za-z]) +([0-9.]+) sec.*/\1 \2 \3/' |
    while read -r name verdict secs; do printf '%-32s %-8s %6ss\n' "$name" "$verdict" "$secs"; done >>"$results"
fi

echo
printf '%-32s %-8s %7s\n' "test" "result" "time"
cat "$results"
echo "elapsed_s: $(( $(date +%s) - start ))"
! grep -q "FAILED\|Failed" "$results"
