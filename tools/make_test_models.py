#!/usr/bin/env python3
"""Write the tiny random-weight checkpoints and broken fixtures used by the model tests.

Run with the pinned environment: tools/make_test_models.sh (creates tools/.venv if needed), or
tools/.venv/bin/python tools/make_test_models.py. Output is deterministic for a given torch
version (seeded generators), goes to tests/data/models/, tests/data/broken/ and
tests/fuzz/corpus/, and tests/data/models/manifest.json records each good model's expected
config and a few sample values computed here from the tensors written.

Weights follow spec §5.4 (values that keep fp16 activations sane; no zeroed projections).
Dimensions are small (C = 64, one head of 64) so that all committed files stay a few MB.
"""

import io
import json
import math
import os
import struct
import sys
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "tests" / "data" / "models"
BROKEN = ROOT / "tests" / "data" / "broken"
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
VOCAB = ROOT / "resources" / "tokenizer" / "rwkv_vocab_v20230424.txt"


# --- model construction (spec §1.3, §5.4) -----------------------------------------------------

def make_state(*, C, H, L, A, V, ffn, dw, da, dv, dg, prefix, seed):
    """Return an insertion-ordered dict of float32 tensors for an RWKV-7 (+ attention) model."""
    g = torch.Generator().manual_seed(seed)
    N = C // H

    def uniform(shape, lo, hi):
        return torch.rand(shape, generator=g) * (hi - lo) + lo

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=g) * std + mean

    vec = (1, 1, C)
    sd = {}
    p = prefix
    sd[p + "emb.weight"] = normal((V, C), 1.0)
    sd[p + "blocks.0.ln0.weight"] = normal((C,), 0.1, 1.0)
    sd[p + "blocks.0.ln0.bias"] = normal((C,), 0.1)
    for i in range(L):
        b = f"{p}blocks.{i}."
        for ln in ("ln1", "ln2"):
            sd[b + ln + ".weight"] = normal((C,), 0.1, 1.0)
            sd[b + ln + ".bias"] = normal((C,), 0.1)
        for x in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"):
            sd[b + "att." + x] = uniform(vec, 0.0, 1.0)
        sd[b + "att.w0"] = uniform(vec, -6.0, -1.0)
        sd[b + "att.w1"] = normal((C, dw), 1 / math.sqrt(C))
        sd[b + "att.w2"] = normal((dw, C), 1 / math.sqrt(dw))
        sd[b + "att.a0"] = normal(vec, 0.01)
        sd[b + "att.a1"] = normal((C, da), 1 / math.sqrt(C))
        sd[b + "att.a2"] = normal((da, C), 1 / math.sqrt(da))
        if i > 0:  # no value-residual LoRA in block 0
            sd[b + "att.v0"] = normal(vec, 0.01, 1.0)
            sd[b + "att.v1"] = normal((C, dv), 1 / math.sqrt(C))
            sd[b + "att.v2"] = normal((dv, C), 1 / math.sqrt(dv))
        sd[b + "att.g1"] = normal((C, dg), 1 / math.sqrt(C))
        sd[b + "att.g2"] = normal((dg, C), 1 / math.sqrt(dg))
        sd[b + "att.k_k"] = normal(vec, 0.01, 0.85)
        sd[b + "att.k_a"] = normal(vec, 0.01, 1.0)
        sd[b + "att.r_k"] = normal((H, N), 0.1)
        for m in ("receptance", "key", "value", "output"):
            sd[b + f"att.{m}.weight"] = normal((C, C), 1 / math.sqrt(C))
        sd[b + "att.ln_x.weight"] = normal((C,), 0.1, 1.0)
        sd[b + "att.ln_x.bias"] = normal((C,), 0.1)
        sd[b + "ffn.x_k"] = uniform(vec, 0.0, 1.0)
        sd[b + "ffn.key.weight"] = normal((ffn, C), 1 / math.sqrt(C))
        sd[b + "ffn.value.weight"] = normal((C, ffn), 1 / math.sqrt(ffn))
    sd[p + "ln_out.weight"] = normal((C,), 0.1, 1.0)
    sd[p + "ln_out.bias"] = normal((C,), 0.1)
    sd[p + "head.weight"] = normal((V, C), 1 / math.sqrt(C))
    for j in range(A):
        b = f"moba.{j}."
        for ln in ("ln1", "ln2"):
            sd[b + ln + ".weight"] = normal((C,), 0.1, 1.0)
            sd[b + ln + ".bias"] = normal((C,), 0.1)
        for m in ("receptance", "key", "value", "output"):
            sd[b + f"att.{m}.weight"] = normal((C, C), 1 / math.sqrt(C))
        sd[b + "ffn.x_k"] = uniform(vec, 0.0, 1.0)
        sd[b + "ffn.key.weight"] = normal((ffn, C), 1 / math.sqrt(C))
        sd[b + "ffn.value.weight"] = normal((C, ffn), 1 / math.sqrt(ffn))
    return sd


def block_order(n_rwkv, n_attn):
    if n_attn == 0:
        return "R" * n_rwkv
    if n_attn == 1:
        return "R" * n_rwkv + "A"
    return ("R" * (n_rwkv // n_attn) + "A") * n_attn


DTYPE_NAMES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


def manifest_entry(sd, cfg, fmt):
    """Expected config and sample values, computed from the tensors actually written."""
    prefix = cfg["prefix"]
    per_dtype = {}
    for t in sd.values():
        per_dtype[DTYPE_NAMES[t.dtype]] = per_dtype.get(DTYPE_NAMES[t.dtype], 0) + t.numel()
    names = list(sd)
    samples = [names[0], names[len(names) // 2], names[-1]]
    if fmt == "safetensors":  # safetensors sorts tensors; report file order like the reader
        names = sorted(names)  # (equal dtypes, so offsets follow the sorted names)
    config = {
        "format": fmt,
        "arch": "rwkv-x" if prefix == "rwkv." or cfg["A"] > 0 else "rwkv7",
        "n_rwkv": cfg["L"],
        "n_attn": cfg["A"],
        "n_embd": cfg["C"],
        "n_head": cfg["H"],
        "head_size": cfg["C"] // cfg["H"],
        "vocab": cfg["V"],
        "ffn_dim": cfg["ffn"],
        "lora_decay": cfg["dw"],
        "lora_iclr": cfg["da"],
        "lora_value": cfg["dv"] if cfg["L"] > 1 else 0,
        "lora_gate": cfg["dg"],
        "block_order": block_order(cfg["L"], cfg["A"]),
        "params": sum(t.numel() for t in sd.values()),
        "dtype": max(per_dtype, key=per_dtype.get),
        "mixed_dtype": len(per_dtype) > 1,
    }
    return {
        "config": config,  # the keys of lectern::ModelConfig / `lectern-cli inspect --json`
        "key_prefix": prefix,
        "tensors": [{"name": n, "shape": list(sd[n].shape), "dtype": DTYPE_NAMES[sd[n].dtype]}
                    for n in names],
        "samples": [{
            "name": n,
            "sum": float(sd[n].double().sum()),
            "first": [float(v) for v in sd[n].float().flatten()[:4]],
        } for n in samples],
    }


# --- zip surgery for broken fixtures ------------------------------------------------------------

def rezip(src_bytes, compress=zipfile.ZIP_STORED, patch=None):
    """Rewrite a torch zip entry by entry, optionally compressing or patching entry bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(src_bytes)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if patch:
                data = patch(info.filename, data)
            zout.writestr(zipfile.ZipInfo(info.filename), data, compress_type=compress)
    return out.getvalue()


def saved(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def central_entry_offset(data, name):
    """Offset of the central directory record of entry `name`."""
    sig = b"PK\x01\x02"
    pos = data.rfind(b"PK\x05\x06")
    cd = struct.unpack_from("<I", data, pos + 16)[0]
    while data[cd:cd + 4] == sig:
        n, e, c = struct.unpack_from("<HHH", data, cd + 28)
        if data[cd + 46:cd + 46 + n].decode() == name:
            return cd
        cd += 46 + n + e + c
    raise KeyError(name)


# --- the fixtures -------------------------------------------------------------------------------

TINY = dict(C=64, H=1, V=128, ffn=256, dw=32, da=32, dv=16, dg=32)
LAYOUT = dict(C=64, H=1, V=32, ffn=64, dw=8, da=8, dv=8, dg=8)  # only checks the block order
MICRO = dict(C=64, H=1, V=32, ffn=64, dw=32, da=8, dv=8, dg=8, L=2, A=0, prefix="")
# wrong-shape.pth keeps C = 128, H = 2 so its message reads like a real model's (the CLI test
# checks "shape [128,31], expected [128,32]").
MICRO_WIDE = dict(MICRO, C=128, H=2, V=16, ffn=32)


def write_good_models(manifest):
    specs = [
        # name stem, arch config, seed, [(dtype, format), ...]
        ("rwkv7-tiny", dict(TINY, L=2, A=0, prefix=""), 1,
         [(torch.float32, "pth"), (torch.bfloat16, "pth")]),
        ("rwkvx-tiny", dict(TINY, L=4, A=2, prefix="rwkv."), 2,
         [(torch.float32, "pth"), (torch.bfloat16, "pth"), (torch.float16, "safetensors")]),
        ("rwkvx-one-attn", dict(LAYOUT, L=4, A=1, prefix="rwkv."), 3, [(torch.float32, "pth")]),
        # vocab 1024 so real tokenizers fit (tests/data/spm/tiny.model has 800 pieces): the
        # document-store CLI tests ingest text with it
        ("rwkvx-vocab1k", dict(TINY, V=1024, L=4, A=2, prefix="rwkv."), 4,
         [(torch.float16, "safetensors")]),
    ]
    for stem, cfg, seed, variants in specs:
        base = make_state(**{k: cfg[k] for k in
                             ("C", "H", "L", "A", "V", "ffn", "dw", "da", "dv", "dg", "prefix")},
                          seed=seed)
        for dtype, fmt in variants:
            sd = {k: v.to(dtype).contiguous() for k, v in base.items()}
            ext = "safetensors" if fmt == "safetensors" else "pth"
            path = MODELS / f"{stem}-{DTYPE_NAMES[dtype]}.{ext}"
            if fmt == "safetensors":
                save_file(sd, str(path), metadata={"format": "pt"})
            else:
                torch.save(sd, path)
            manifest["models"][path.name] = manifest_entry(sd, cfg, fmt)


def write_strided(manifest):
    """Views that torch.save stores with their original storage: the reader must copy them."""
    g = torch.Generator().manual_seed(7)
    base = torch.randn(8, 16, generator=g)
    half = torch.randn(6, 10, generator=g).to(torch.bfloat16)
    sd = {
        "base": base,
        "transposed": base.t(),            # strides (1, 16)
        "rows": base[2:5],                 # contiguous, storage offset 32
        "column": base[:, 3],              # stride 16, offset 3
        "block": base[1:4, 2:9],           # 2-D window
        "expanded": base[0:1, :4].expand(3, 4),  # stride 0
        "bf16_transposed": half.t(),
        "bf16_every_other": half[:, ::2],
    }
    torch.save(sd, MODELS / "strided.pth")
    manifest["strided"] = {
        "file": "strided.pth",
        "tensors": [{"name": k, "shape": list(v.shape), "dtype": DTYPE_NAMES[v.dtype],
                     "values": [float(x) for x in v.float().contiguous().flatten()]}
                    for k, v in sd.items()],
    }


def write_broken():
    micro = make_state(**MICRO, seed=11)
    micro = {k: v.to(torch.bfloat16) for k, v in micro.items()}

    wrong = {k: v.to(torch.bfloat16) for k, v in make_state(**MICRO_WIDE, seed=12).items()}
    wrong["blocks.1.att.w1"] = wrong["blocks.1.att.w1"][:, :31].clone()
    torch.save(wrong, BROKEN / "wrong-shape.pth")

    missing = {k: v for k, v in micro.items() if k != "blocks.1.att.k_k"}
    torch.save(missing, BROKEN / "missing-tensor.pth")

    extra = dict(micro)
    extra["blocks.1.att.bonus"] = torch.zeros(4, dtype=torch.bfloat16)
    torch.save(extra, BROKEN / "extra-tensor.pth")

    good = saved(micro)
    (BROKEN / "truncated.pth").write_bytes(good[: len(good) * 6 // 10])

    (BROKEN / "not-a-model.txt").write_text("These are not the weights you are looking for.\n")

    small = saved({"emb.weight": torch.ones(4, 4), "head.weight": torch.zeros(2, 4)})

    def bad_opcode(name, data):
        if name.endswith("data.pkl"):
            # byte 2 follows PROTO 2; 0xFF is no pickle opcode
            assert data[0] == 0x80
            return data[:2] + b"\xff" + data[3:]
        return data
    (BROKEN / "unknown-opcode.pth").write_bytes(rezip(small, patch=bad_opcode))

    def evil_global(name, data):
        if name.endswith("data.pkl"):
            assert b"ctorch._utils\n_rebuild_tensor_v2\n" in data
            return data.replace(b"ctorch._utils\n_rebuild_tensor_v2\n", b"cos\nsystem\n")
        return data
    (BROKEN / "evil-global.pth").write_bytes(rezip(small, patch=evil_global))

    (BROKEN / "legacy.pth").write_bytes(
        saved({"emb.weight": torch.ones(4, 4)}, _use_new_zipfile_serialization=False))
    (BROKEN / "deflated.pth").write_bytes(rezip(small, compress=zipfile.ZIP_DEFLATED))

    # A central directory that claims a 2 GiB entry inside a file of a few KB.
    bomb = bytearray(small)
    name = next(n for n in zipfile.ZipFile(io.BytesIO(small)).namelist() if n.endswith("data/0"))
    cd = central_entry_offset(bomb, name)
    struct.pack_into("<II", bomb, cd + 20, 0x7FFFFFF0, 0x7FFFFFF0)
    (BROKEN / "zip-bomb.pth").write_bytes(bytes(bomb))

    save_file({"ids": torch.arange(4, dtype=torch.int32)}, str(BROKEN / "int-dtype.safetensors"))
    header = b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8],}}'
    (BROKEN / "bad-header.safetensors").write_bytes(
        struct.pack("<Q", len(header)) + header + bytes(8))
    torch.save({"emb.weight": torch.zeros(4, 4, dtype=torch.float64)}, BROKEN / "float64.pth")


def write_corpus():
    pth = CORPUS / "fuzz_pth"
    st = CORPUS / "fuzz_safetensors"
    voc = CORPUS / "fuzz_world_vocab"
    for d in (pth, st, voc):
        d.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(5)
    base = torch.randn(3, 4, generator=g)
    (pth / "small.pth").write_bytes(saved({"a": base, "b": base.to(torch.bfloat16)[1],
                                           "c": base.t(), "d": base.half()}))
    od = torch.nn.Linear(2, 3).state_dict()  # an OrderedDict with _metadata
    (pth / "ordered-dict.pth").write_bytes(saved(od))
    for name in ("unknown-opcode.pth", "deflated.pth", "zip-bomb.pth", "float64.pth",
                 "evil-global.pth"):
        (pth / name).write_bytes((BROKEN / name).read_bytes())

    save_file({"a": base, "b": base.half(), "c": base.to(torch.bfloat16)}, str(st / "small.safetensors"),
              metadata={"format": "pt", "note": "caf\u00e9 \\ \""})
    save_file({"empty": torch.zeros(0, 3)}, str(st / "empty-tensor.safetensors"))
    for name in ("int-dtype.safetensors", "bad-header.safetensors"):
        (st / name).write_bytes((BROKEN / name).read_bytes())

    lines = VOCAB.read_text(encoding="utf-8").splitlines(keepends=True)
    (voc / "head-300.txt").write_text("".join(lines[:300]), encoding="utf-8")
    tricky = [l for l in lines if "\\u" in l or "\\'" in l or "\\\\" in l or '"' in l][:40]
    tricky += [l for l in lines if l.split(" ", 1)[1].startswith("b'")][:40]
    (voc / "escapes.txt").write_text("".join(tricky), encoding="utf-8")
    (voc / "long-tokens.txt").write_text(
        "".join(sorted(lines, key=lambda l: -int(l.rsplit(" ", 1)[1]))[:20]), encoding="utf-8")


def main():
    for d in (MODELS, BROKEN):
        d.mkdir(parents=True, exist_ok=True)
    manifest = {"generator": f"tools/make_test_models.py, torch {torch.__version__}", "models": {}}
    write_good_models(manifest)
    write_strided(manifest)
    write_broken()
    write_corpus()
    (MODELS / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for d in (MODELS, BROKEN, CORPUS) for p in d.rglob("*") if p.is_file())
    print(f"wrote {MODELS}, {BROKEN}, {CORPUS}: {total / 1e6:.2f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
