#!/usr/bin/env python3
"""How far rounding GEMM inputs to bf16 alone moves the logits of an RWKV-X test model.

The CUDA prefill multiplies bf16 weights through cuBLAS GemmEx, whose inputs must both be bf16, so
it rounds every activation to bf16 first; the CPU engine keeps them float32. This runs the float64
reference (tools/native_reference.py) twice on the same tokens, once as it is and once with every
matrix product's left operand rounded to bf16, and prints the row metric of
tests/kernels/tst_cuda_forward.cpp (max |difference| / max(1, max |logit|) per row) — the part of
the GPU-vs-CPU difference that is precision, not a bug.

    tools/.venv/bin/python tools/bf16_prefill_rounding.py --chunk 8 --top-k 2
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import native_reference as nr  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def round_bf16(x):
    """float64 -> nearest bf16 (ties to even) -> float64."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


class RoundedInput(np.ndarray):
    """A weight matrix whose products `x @ W` (and `x @ W.T`) see x rounded to bf16."""

    def __rmatmul__(self, other):
        return np.matmul(round_bf16(other), np.asarray(self))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "tests/data/golden/rwkvx-c128-bf16.pth")
    p.add_argument("--chunk", type=int, default=8)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--tokens", type=int, default=300)
    p.add_argument("--seed", type=int, default=1004,
                   help="std::mt19937 seed of the token ids, as tst_cuda_forward draws them "
                        "(1000 + the case's index: 1003 for chunk 16 / top-k 3, 1004 for 8 / 2)")
    p.add_argument("--tolerance", type=float, default=3e-2)
    args = p.parse_args()

    plain = nr.Model(nr.load_tensors(args.model))
    rounded = nr.Model(nr.load_tensors(args.model))
    for name, value in list(rounded.p.items()):
        if value.ndim == 2 and name != "emb.weight":  # the embedding is a lookup, not a product
            rounded.p[name] = value.view(RoundedInput)
    vocab = plain.p["head.weight"].shape[0]
    mt = np.random.MT19937()
    mt._legacy_seeding(args.seed)  # init_genrand(seed): the same stream as std::mt19937(seed)
    tokens = [int(r) % vocab for r in mt.random_raw(args.tokens)]

    cfg = nr.AttnConfig(mode="native", chunk=args.chunk, top_k=args.top_k)
    want, _ = nr.run_calls(plain, tokens, [], cfg)
    got, _ = nr.run_calls(rounded, tokens, [], nr.AttnConfig(mode="native", chunk=args.chunk,
                                                              top_k=args.top_k))
    err = np.abs(got - want).max(1) / np.maximum(1.0, np.abs(want).max(1))
    print(f"{args.model.name} chunk {args.chunk} top-k {args.top_k}, {args.tokens} tokens: "
          f"{int((err > args.tolerance).sum())} rows over {args.tolerance}, worst {err.max():.3g}, "
          f"median {np.median(err):.3g}; smallest chunk-gate margin "
          f"{cfg.margins.get('native chunk gate', float('nan')):.2g}")


if __name__ == "__main__":
    main()
