#!/usr/bin/env python3
"""Pass-key accuracy of the bundled demo model over document length x depth, through lectern-cli.

For each (length, depth) a spec §6.1 document is written with a seeded key (1..49999), read once
with `lectern-cli ingest` (every option from the model card), and asked in a new process with
`lectern-cli ask --temperature 0 "What is the pass key?"`; correct = the first number of the answer
is the key. The ablation feeds the same tokens with the attention blocks bypassed
(`lectern-cli logits --bypass-attention`, one call per answer token so only those rows are
written) and counts a key as found when every answer token is the arg-max: exactly what greedy
decoding would produce. Writes a CSV and a heat map PNG (matplotlib):

    tools/.venv/bin/python tools/passkey_eval.py --out docs/demo-model \\
        --lengths 8000,16000,32000,64000,128000 --depths 10
"""

import argparse
import csv
import json
import random
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
INTRO = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize "
         "them. I will quiz you about the important information there.")
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
CHARS_PER_TOKEN = 3.4   # the demo tokenizer on FILLER, measured


def document(tokens, depth, key):
    chars = int(tokens * CHARS_PER_TOKEN)
    repeated = (FILLER + " ") * (chars // (len(FILLER) + 1) + 2)
    pre = int(chars * depth)
    return "\n".join([INTRO, repeated[:pre],
                      f"The pass key is {key}. Remember it. {key} is the pass key.",
                      repeated[:chars - pre]])


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def card_flags(model):
    """ingest options from the model card beside the checkpoint (what lectern-cli defaults to)."""
    card = json.loads(model.with_suffix(".json").read_text())
    return ["--model", model, "--tokenizer", model.parent / card["tokenizer"],
            "--chunk-size", card["chunk_size"], "--top-k", card["top_k"]]


def with_attention(cli, work, text, key, flags):
    doc, store = work / "doc.txt", work / "store"
    doc.write_text(text, encoding="utf-8")
    subprocess.run(["rm", "-rf", str(store)], check=True)
    ingest = run([cli, "ingest", "--store", store, doc] + flags)
    tokens = int(re.search(r"^tokens: (\d+)", ingest.stdout, re.M).group(1))
    ask = run([cli, "ask", "--store", store, "--temperature", "0", "--max-tokens", "24",
               "What is the pass key?"])
    subprocess.run(["rm", "-rf", str(store)], check=True)
    answer = ask.stdout.strip().split("\n")[0]
    m = re.search(r"\d+", answer)
    return tokens, bool(m and m.group(0) == str(key)), answer


def bypassed(cli, sp, work, text, key, flags):
    ids = sp.encode(text) + sp.encode("\n\nUser: What is the pass key?\n\nAssistant:")
    answer = sp.encode(f" The pass key is {key}.")
    start = len(ids)
    ids = ids + answer[:-1]
    (work / "ids.txt").write_text(" ".join(map(str, ids)))
    split = ",".join(str(p) for p in range(start, len(ids)))
    out = work / "logits.bin"
    cmd = [cli, "logits", "--tokens-file", work / "ids.txt", "--bypass-attention", "--out", out]
    cmd += flags[0:2] + flags[4:]          # logits takes no --tokenizer
    if split:
        cmd += ["--split", split]
    run(cmd)
    rows = np.fromfile(out, dtype=np.float32).reshape(len(answer), -1)
    return bool((rows.argmax(-1) == np.array(answer)).all())


def heat_map(rows, lengths, depths, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, key, title in ((axes[0], "found", "sparse attention on"),
                           (axes[1], "found_bypassed", "attention blocks bypassed")):
        grid = np.full((len(depths), len(lengths)), np.nan)
        for r in rows:
            grid[depths.index(r["depth"]), lengths.index(r["length"])] = float(r[key])
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto", origin="upper")
        ax.set_xticks(range(len(lengths)), [f"{n // 1000}K" for n in lengths])
        ax.set_yticks(range(len(depths)), [f"{d:.0%}" for d in depths])
        ax.set_xlabel("document length (tokens)")
        ax.set_ylabel("depth of the pass key")
        total = np.nanmean(grid)
        ax.set_title(f"{title}: {total:.0%} found")
    fig.colorbar(im, ax=axes, label="found (1) / missed (0)")
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description="pass-key accuracy grid through lectern-cli")
    p.add_argument("--cli", type=Path, default=ROOT / "build/bin/lectern-cli")
    p.add_argument("--model", type=Path, default=ROOT / "resources/demo-model/lectern-demo.pth",
                   help="a checkpoint with a model card beside it")
    p.add_argument("--lengths", default="8000,16000,32000,64000,128000")
    p.add_argument("--depths", type=int, default=10)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-ablation", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "docs/demo-model")
    p.add_argument("--name", default="passkey-grid")
    args = p.parse_args()
    import sentencepiece as spm
    flags = card_flags(args.model)
    sp = spm.SentencePieceProcessor(model_file=str(flags[3]))
    lengths = [int(x) for x in args.lengths.split(",")]
    depths = [round((i + 0.5) / args.depths, 3) for i in range(args.depths)]
    rng = random.Random(args.seed)
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for length in lengths:
            for depth in depths:
                key = rng.randint(1, 49999)
                text = document(length, depth, key)
                tokens, found, answer = with_attention(args.cli, work, text, key, flags)
                found0 = None if args.no_ablation else bypassed(args.cli, sp, work, text, key, flags)
                rows.append({"length": length, "depth": depth, "tokens": tokens, "key": key,
                             "found": int(found), "answer": answer,
                             "found_bypassed": "" if found0 is None else int(found0)})
                print(f"{length:8d} {depth:.3f} tokens {tokens:8d} key {key:5d} "
                      f"{'ok ' if found else 'MISS'} bypassed {found0}  {answer!r}", flush=True)
    with open(args.out / f"{args.name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    acc = np.mean([r["found"] for r in rows])
    print(f"with attention: {acc:.1%} of {len(rows)}")
    if not args.no_ablation:
        print(f"attention bypassed: {np.mean([r['found_bypassed'] for r in rows]):.1%}")
        heat_map(rows, lengths, depths, args.out / f"{args.name}.png")


if __name__ == "__main__":
    main()
