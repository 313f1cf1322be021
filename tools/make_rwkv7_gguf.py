#!/usr/bin/env python3
"""Write random-weight RWKV-7 checkpoints of real model shapes, for speed comparisons only.

For each shape it writes the same weights twice: <out>/rwkv7-<shape>-f16.gguf (llama.cpp's
RWKV-7 layout: tensor names and metadata as llama.cpp's loader expects them) and
<out>/rwkv7-<shape>-f16.pth (the official RWKV-7 state-dict layout that Lectern loads). The
weights are random (tools/make_test_models.py's distributions), so only the speed means anything.

    PYTHONPATH=<dir with gguf==0.19.0> tools/.venv/bin/python tools/make_rwkv7_gguf.py \\
        --out /work/bench-models [--shapes 0.1b,0.4b] [--formats gguf,pth]

Never write these under the repository: they are hundreds of MB.
"""

import argparse
import ast
import sys
from pathlib import Path

import numpy as np
import torch

import gguf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_test_models import make_state  # noqa: E402  (same random model as the test models)

ROOT = Path(__file__).resolve().parent.parent
VOCAB = ROOT / "resources" / "tokenizer" / "rwkv_vocab_v20230424.txt"

# RWKV-7 "Goose" shapes: 0.1B = 12 x 768, 0.4B = 24 x 1024; head size 64, vocab 65536.
SHAPES = {
    "0.1b": dict(C=768, L=12, ffn=3072, dw=64, da=64, dv=32, dg=128),
    "0.4b": dict(C=1024, L=24, ffn=4096, dw=64, da=64, dv=32, dg=128),
}
VOCAB_SIZE = 65536
HEAD_SIZE = 64


def world_tokens():
    """Token texts and types in the form llama.cpp's "rwkv" tokenizer reads (id 0 is <s>)."""
    tokens = [b"<s>"]
    types = [gguf.TokenType.CONTROL]
    for line in VOCAB.read_text(encoding="utf-8").splitlines():
        if not line:
            continue
        first, rest = line.index(" "), line.rindex(" ")
        token = ast.literal_eval(line[first + 1:rest])
        raw = token.encode("utf-8") if isinstance(token, str) else token
        tokens.append(repr(raw)[2:-1].encode("utf-8"))  # escaped bytes, e.g. \xff
        types.append(gguf.TokenType.NORMAL)
    while len(tokens) < VOCAB_SIZE:
        tokens.append(f"[PAD{len(tokens)}]".encode("utf-8"))
        types.append(gguf.TokenType.UNUSED)
    return tokens, types


def gguf_tensors(sd, L):
    """(name, array) pairs in llama.cpp's RWKV-7 naming. numpy shapes are ggml's dims reversed."""
    def a(t, f16=True):
        arr = t.float().numpy()
        return arr.astype(np.float16) if f16 else arr.astype(np.float32)

    def vec(t):
        return a(t.reshape(-1), f16=False)

    yield "token_embd.weight", a(sd["emb.weight"])
    yield "token_embd_norm.weight", vec(sd["blocks.0.ln0.weight"])
    yield "token_embd_norm.bias", vec(sd["blocks.0.ln0.bias"])
    for i in range(L):
        b, o = f"blocks.{i}.", f"blk.{i}."
        yield o + "attn_norm.weight", vec(sd[b + "ln1.weight"])
        yield o + "attn_norm.bias", vec(sd[b + "ln1.bias"])
        yield o + "attn_norm_2.weight", vec(sd[b + "ln2.weight"])
        yield o + "attn_norm_2.bias", vec(sd[b + "ln2.bias"])
        lerp = torch.stack([sd[b + "att." + x].reshape(-1) for x in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g")])
        yield o + "time_mix_lerp_fused.weight", a(lerp.reshape(6, 1, 1, -1), f16=False)
        # Low-rank pairs: x @ w1 @ w2 in the official layout; ggml wants each transposed.
        v = "v" if i > 0 else "a"  # block 0 has no value LoRA; llama.cpp still wants the tensors
        for ours, src in (("w", "w"), ("a", "a"), ("v", v)):
            yield o + f"time_mix_{ours}0.weight", vec(sd[b + f"att.{src}0"])
            yield o + f"time_mix_{ours}1.weight", a(sd[b + f"att.{src}1"].t())
            yield o + f"time_mix_{ours}2.weight", a(sd[b + f"att.{src}2"].t())
        yield o + "time_mix_g1.weight", a(sd[b + "att.g1"].t())
        yield o + "time_mix_g2.weight", a(sd[b + "att.g2"].t())
        yield o + "time_mix_k_k.weight", vec(sd[b + "att.k_k"])
        yield o + "time_mix_k_a.weight", vec(sd[b + "att.k_a"])
        yield o + "time_mix_r_k.weight", vec(sd[b + "att.r_k"])
        yield o + "time_mix_key.weight", a(sd[b + "att.key.weight"])
        yield o + "time_mix_value.weight", a(sd[b + "att.value.weight"])
        yield o + "time_mix_receptance.weight", a(sd[b + "att.receptance.weight"])
        yield o + "time_mix_output.weight", a(sd[b + "att.output.weight"])
        yield o + "time_mix_ln.weight", vec(sd[b + "att.ln_x.weight"])
        yield o + "time_mix_ln.bias", vec(sd[b + "att.ln_x.bias"])
        yield o + "channel_mix_lerp_k.weight", a(sd[b + "ffn.x_k"].reshape(1, 1, -1), f16=False)
        yield o + "channel_mix_key.weight", a(sd[b + "ffn.key.weight"])
        yield o + "channel_mix_value.weight", a(sd[b + "ffn.value.weight"])
    yield "output_norm.weight", vec(sd["ln_out.weight"])
    yield "output_norm.bias", vec(sd["ln_out.bias"])
    yield "output.weight", a(sd["head.weight"])


def write_gguf(path, sd, shape):
    w = gguf.GGUFWriter(str(path), "rwkv7")
    w.add_name(path.name)
    w.add_context_length(1048576)
    w.add_embedding_length(shape["C"])
    w.add_block_count(shape["L"])
    w.add_layer_norm_eps(1e-5)
    w.add_wkv_head_size(HEAD_SIZE)
    w.add_decay_lora_rank(shape["dw"])
    w.add_iclr_lora_rank(shape["da"])
    w.add_value_residual_mix_lora_rank(shape["dv"])
    w.add_gate_lora_rank(shape["dg"])
    w.add_feed_forward_length(shape["ffn"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_head_count(0)
    tokens, types = world_tokens()
    w.add_tokenizer_model("rwkv")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    for name, arr in gguf_tensors(sd, shape["L"]):
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--shapes", default="0.1b,0.4b")
    ap.add_argument("--formats", default="gguf,pth")
    args = ap.parse_args()
    if ROOT in args.out.resolve().parents or args.out.resolve() == ROOT:
        sys.exit("refusing to write big checkpoints inside the repository")
    args.out.mkdir(parents=True, exist_ok=True)
    formats = args.formats.split(",")
    for name in args.shapes.split(","):
        shape = SHAPES[name]
        sd = make_state(C=shape["C"], H=shape["C"] // HEAD_SIZE, L=shape["L"], A=0, V=VOCAB_SIZE,
                        ffn=shape["ffn"], dw=shape["dw"], da=shape["da"], dv=shape["dv"],
                        dg=shape["dg"], prefix="", seed=7)
        stem = f"rwkv7-{name}-f16"
        if "gguf" in formats:
            write_gguf(args.out / (stem + ".gguf"), sd, shape)
            print("wrote", args.out / (stem + ".gguf"))
        if "pth" in formats:
            torch.save({k: v.half().contiguous() for k, v in sd.items()}, args.out / (stem + ".pth"))
            print("wrote", args.out / (stem + ".pth"))


if __name__ == "__main__":
    main()
