#!/usr/bin/env python3
"""Checks that the training model of tools/train_demo.py computes what Lectern's engine computes.

A randomly perturbed model is exported in the checkpoint format, run through
`lectern-cli logits --all --attention native` on a sequence long enough for the chunk selection to
matter, and compared with the PyTorch forward in float64. Usage:
    tools/.venv/bin/python tools/demo_model/check_engine.py build/bin/lectern-cli
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from demo_model.model import RwkvX  # noqa: E402


def main():
    cli = sys.argv[1] if len(sys.argv) > 1 else "build/bin/lectern-cli"
    torch.manual_seed(7)
    vocab, chunk, top_k, T = 300, 16, 3, 150
    model = RwkvX(vocab, 128, 4, 2).double()
    with torch.no_grad():                    # zero-initialised outputs would hide the attention
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.3 if p.dim() == 2 else 0.1))
    ids = torch.randint(0, vocab, (1, T))
    with torch.no_grad():
        ref = model(ids, chunk, top_k)[0].numpy()
        bypass = model(ids, chunk, top_k, bypass_attention=True)[0].numpy()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.pth"
        torch.save(model.export_state_dict(torch.float32), path)
        out = Path(tmp) / "logits.bin"
        subprocess.run([cli, "logits", "--model", str(path), "--all", "--attention", "native",
                        "--chunk-size", str(chunk), "--top-k", str(top_k), "--out", str(out),
                        "--tokens", ",".join(map(str, ids[0].tolist()))], check=True)
        got = np.fromfile(out, dtype=np.float32).reshape(T, vocab)
    err = np.abs(got - ref).max()
    scale = np.abs(ref).max()
    effect = np.abs(bypass - ref).max()
    print(f"max |engine - torch| = {err:.3e} (logits up to {scale:.1f}; attention changes them by "
          f"up to {effect:.2f})")
    if not err < 1e-3 * max(scale, 1.0) or effect < 1e-2:
        raise SystemExit("MISMATCH")
    print("OK")


if __name__ == "__main__":
    main()
