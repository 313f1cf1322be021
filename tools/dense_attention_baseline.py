#!/usr/bin/env python3
"""Dense causal attention baseline for the RWKV-X prefill (issue 8).

The issue compares RWKV-X's prefill at 64K/128K/256K tokens with "a dense causal attention
baseline of the same model". The same model with dense attention differs from ours only in the
attention core of its attention blocks (chunk means + top-k selection + sparse attention become
one causal softmax over every earlier token); the projections, the RWKV blocks and the FFNs are
the same work. So:

    dense_prefill(T) = our_prefill(T) - our_attention_core(T) + blocks * sdpa(T)

where our two figures come from `lectern-cli bench --backend cuda --shape rwkvx-3.6b --contexts
T,...` ("prefill s at T" and "attention core s at T", the latter already summed over the
blocks), and sdpa(T) is PyTorch's scaled_dot_product_attention, causal, bf16, [1, H, T, 64], on
the same GPU, timed here with CUDA events for each backend PyTorch has (flash, cuDNN,
memory-efficient); the fastest is the baseline.

Usage (on the GPU machine, whose python3 has PyTorch):
    python3 tools/dense_attention_baseline.py --lengths 65536,131072,262144 [--bench TABLE]
TABLE is the bench output; without it only the SDPA times are printed. --device cpu (with small
--lengths) runs the same code on the CPU, to check the script itself.
"""
import argparse
import re
import sys

import torch
import torch.nn.functional as F


def sdpa_backends(device):
    """(name, context manager factory) for the SDPA backends to try on `device`."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # older PyTorch: let it choose
        return [("auto", None)]
    if device == "cpu":
        return [("math", lambda: sdpa_kernel(SDPBackend.MATH))]
    names = [("flash", "FLASH_ATTENTION"), ("cudnn", "CUDNN_ATTENTION"),
             ("efficient", "EFFICIENT_ATTENTION")]
    out = []
    for name, attr in names:
        if hasattr(SDPBackend, attr):
            backend = getattr(SDPBackend, attr)
            out.append((name, lambda b=backend: sdpa_kernel(b)))
    return out


def time_sdpa(T, heads, head_dim, dtype, device, reps, backend_ctx):
    """Seconds of one causal SDPA forward over [1, heads, T, head_dim], or None if unsupported."""
    g = torch.Generator(device="cpu").manual_seed(T)
    shape = (1, heads, T, head_dim)
    q, k, v = (torch.randn(shape, generator=g, dtype=torch.float32).to(device=device, dtype=dtype)
               for _ in range(3))

    def run():
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    try:
        with torch.no_grad():
            if backend_ctx is not None:
                with backend_ctx():
                    run()
            else:
                run()
            if device == "cuda":
                torch.cuda.synchronize()
                start = torch.cuda.Event(enable_timing=True)
                stop = torch.cuda.Event(enable_timing=True)
                start.record()
            else:
                import time
                t0 = time.perf_counter()
            for _ in range(reps):
                if backend_ctx is not None:
                    with backend_ctx():
                        run()
                else:
                    run()
            if device == "cuda":
                stop.record()
                torch.cuda.synchronize()
                return start.elapsed_time(stop) / 1e3 / reps
            return (time.perf_counter() - t0) / reps
    except RuntimeError as e:  # this backend cannot run this shape/dtype/device
        print(f"  ({e.__class__.__name__}: {str(e).splitlines()[0][:100]})", file=sys.stderr)
        return None
    finally:
        del q, k, v
        if device == "cuda":
            torch.cuda.empty_cache()


def read_bench(path):
    """{T: (prefill s, attention core s)} from a `lectern-cli bench --shape` table."""
    prefill, core = {}, {}
    pat = re.compile(r"^(prefill s at|attention core s at)\s+(\d+)\s+([0-9.]+)\s+s\b")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = pat.match(line.strip())
            if m:
                (prefill if m.group(1).startswith("prefill") else core)[int(m.group(2))] = float(m.group(3))
    return {T: (prefill[T], core[T]) for T in prefill if T in core}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lengths", default="65536,131072,262144")
    ap.add_argument("--heads", type=int, default=40, help="attention heads (C / 64; 40 at 3.6B)")
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=8, help="attention blocks (8 at 3.6B)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--bench", help="lectern-cli bench --shape output to compare with")
    args = ap.parse_args()
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    lengths = [int(x) for x in args.lengths.split(",") if x]
    ours = read_bench(args.bench) if args.bench else {}

    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"dense baseline: torch {torch.__version__} on {name}, causal SDPA {str(dtype)[6:]}, "
          f"[1, {args.heads}, T, {args.head_dim}] x {args.blocks} blocks")
    print(f"{'T':>8} {'backend':>9} {'sdpa ms/block':>14} {'x blocks s':>11}"
          + (f" {'ours s':>8} {'our core s':>10} {'dense model s':>13} {'dense/ours':>10}" if ours else ""))
    for T in lengths:
        best = None
        for backend, ctx in sdpa_backends(args.device):
            s = time_sdpa(T, args.heads, args.head_dim, dtype, args.device, args.reps, ctx)
            if s is None:
                continue
            print(f"{T:>8} {backend:>9} {s * 1e3:>14.2f} {s * args.blocks:>11.3f}")
            if best is None or s < best[1]:
                best = (backend, s)
        if best is None:
            print(f"{T:>8} no SDPA backend ran")
            continue
        line = f"{T:>8} {'best=' + best[0]:>9} {best[1] * 1e3:>14.2f} {best[1] * args.blocks:>11.3f}"
        if T in ours:
            prefill, core = ours[T]
            dense = prefill - core + best[1] * args.blocks
            line += f" {prefill:>8.2f} {core:>10.2f} {dense:>13.2f} {dense / prefill:>9.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
