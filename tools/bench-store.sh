#!/usr/bin/env bash
# Document-store measurements (docs/performance.md, "Document store"): for one model and a
# synthetic document of N random token ids, back to back in the same minutes:
#   1. re-processing: `lectern-cli logits` over document + question in one process (the bare
#      engine, everything in memory) — wall time and peak RSS;
#   2. `lectern-cli ingest` of the document into a fresh store — tokens/s against (1);
#   3. `lectern-cli ask --max-tokens 1` — wall time from process start to the first answer token
#      (the process exits after it), and peak RSS;
#   4. the same ask after the store's files were dropped from the page cache (a reopened
#      document after a reboot): wall time and major page faults (each one a wait on the disk;
#      the attention announces the chunk files a call reads before reading them, so they arrive
#      by readahead instead);
#   5. disk bytes per token from `lectern-cli store info`.
# usage: [RAM_MB=n] [LECTERN_CLI=path] tools/bench-store.sh MODEL TOKENS [KV_DTYPE=f16] [CHUNK=2048]
#        [THREADS=0] [WORKDIR]   (RAM_MB: --ram-budget-mb of ingest and ask)
set -euo pipefail
model=$1; n=$2; kv=${3:-f16}; chunk=${4:-2048}; threads=${5:-0}
work=${6:-$(mktemp -d)}
cli=${LECTERN_CLI:-$(dirname "$0")/../build/bin/lectern-cli}
mkdir -p "$work"
vocab=$("$cli" inspect --json "$model" | python3 -c 'import json,sys; print(json.load(sys.stdin)["vocab"])')
python3 - "$n" "$vocab" "$work" <<'PY'
import random, sys
n, vocab, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(7)
doc = [rng.randrange(vocab) for _ in range(n)]
q = [rng.randrange(vocab) for _ in range(16)]
open(f"{work}/doc.ids", "w").write(",".join(map(str, doc)))
open(f"{work}/doc_q.ids", "w").write(",".join(map(str, doc + q)))
open(f"{work}/q.ids", "w").write(",".join(map(str, q)))
PY
timed() {  # timed NAME CMD... -> prints "NAME wall_s cpu_s peak_rss_mb major_faults"
    local name=$1; shift
    /usr/bin/time -f "%e %M %U %S %F" -o "$work/time.txt" "$@" > "$work/$name.out" 2> "$work/$name.err" || {
        echo "$name failed:"; tail -3 "$work/$name.err"; exit 1; }
    read -r wall rss user sys majflt < "$work/time.txt"
    # CPU seconds (user + sys) next to wall time: on a shared machine wall time also counts
    # waiting for a core, CPU time does not.
    echo "$name wall_s=$wall cpu_s=$(python3 -c "print(round($user + $sys, 2))") peak_rss_mb=$((rss / 1024)) major_faults=$majflt"
}
common=(--chunk-size "$chunk" --kv-dtype "$kv" --threads "$threads")
echo "== $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) model=$(basename "$model") tokens=$n kv=$kv chunk=$chunk"
timed reprocess "$cli" logits --model "$model" --tokens-file "$work/doc_q.ids" "${common[@]}" --out "$work/full.f32"
rm -rf "$work/store"
timed ingest "$cli" ingest --model "$model" --store "$work/store" --tokens-file "$work/doc.ids" "${common[@]}" ${RAM_MB:+--ram-budget-mb $RAM_MB}
ask=("$cli" ask --store "$work/store" --tokens "$(cat "$work/q.ids")" --max-tokens 1 --threads "$threads" ${RAM_MB:+--ram-budget-mb $RAM_MB})
timed ask "${ask[@]}" --logits-out "$work/ask.f32"
# Cold: every file of the store dropped from the page cache (Linux; what a reboot does).
python3 - "$work/store" <<'PY'
import os, sys
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        fd = os.open(os.path.join(d, f), os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
timed ask_cold "${ask[@]}" --logits-out "$work/ask_cold.f32"
cmp -s "$work/ask.f32" "$work/ask_cold.f32" || echo "ask_cold: logits differ from the warm ask's"
"$cli" store info "$work/store" | grep -E "bytes_per_token|disk_bytes" || true
cmp -s "$work/full.f32" "$work/ask.f32" && echo "ask logits == re-processing logits (bit-identical)" \
    || python3 -c "
import struct,sys
a=open('$work/full.f32','rb').read(); b=open('$work/ask.f32','rb').read()
x=struct.unpack(f'{len(a)//4}f',a); y=struct.unpack(f'{len(b)//4}f',b)
print('ask vs re-processing: max |dlogit| =', max(abs(p-q) for p,q in zip(x,y)) if len(x)==len(y) else 'length differs')"
echo "   end $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
