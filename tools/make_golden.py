#!/usr/bin/env python3
"""Write the golden reference outputs in tests/data/golden/ (see the README there).

Run with the pinned environment: tools/make_golden.sh (creates tools/.venv if needed).
1. builds four random-weight checkpoints (spec §5.4, fixed seeds);
2. runs the OFFICIAL packages on them, `cpu fp32`, RWKV_CUDA_ON=0: rwkv 0.8.32 (pure RWKV-7) and
   rwkv-x 0.1.3 (RWKV-X, `compat` semantics), and writes their logits and final states;
3. writes the `native` cases (spec §3.3) from tools/native_reference.py (float64 numpy);
4. cross-checks the numpy reference against the official packages and fails loudly on any
   disagreement, then fills the generated part of tests/data/golden/README.md with the figures.
Deterministic: same files on rerun (apart from the random serialization id torch puts in .pth).
"""

import os

# The official packages read these at import time (spec §5.1, §5.2).
os.environ["RWKV_V7_ON"] = "1"      # rwkv: select the x070 (RWKV-7) class
os.environ["RWKV_JIT_ON"] = "1"     # rwkv: TorchScript (forced anyway by RWKV_V7_ON)
os.environ["RWKV_CUDA_ON"] = "0"    # both: pure-PyTorch paths, no kernel build
os.environ.pop("RWKV_DE_VERSION", None)

import contextlib
import hashlib
import importlib.metadata
import io
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import native_reference as ref                      # noqa: E402
from golden_format import read_golden, write_golden  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "golden"
RWKV_VERSION, RWKV_X_VERSION = "0.8.32", "0.1.3"
REF_RWKV = f"rwkv {RWKV_VERSION} cpu fp32"
REF_RWKV_X = f"rwkv-x {RWKV_X_VERSION} cpu fp32"
REF_NUMPY = "numpy float64 native reference"
TOLERANCE = 1e-4          # max |Δlogit| the C++ tests must meet (README: "Tolerance")
CHECK_LIMIT = 5e-5        # cross-check limit between the official fp32 runs and numpy float64
MARGIN_LIMIT = 1e-4       # smallest allowed gap at a top-k decision, relative to the largest
                          # |score| (fp32 engines must make the same choices)
SIZE_LIMIT = 10_500_000   # bytes for the whole directory ("about 10 MB"; V = 128 for that)

torch.set_num_threads(1)  # modest, and bit-reproducible reruns
warnings.filterwarnings("ignore", category=FutureWarning)   # rwkv's torch.load(weights_only=)

from rwkv.model import RWKV                       # noqa: E402
from rwkv_x.model import RWKV_X, RWKV_X_Config    # noqa: E402


# --- checkpoints (spec §1.3, §5.4) ---------------------------------------------------------------

MODELS = {
    "rwkv7-c128-bf16": dict(C=128, L=3, A=0, V=128, dw=32, da=32, dv=16, dg=32,
                            dtype=torch.bfloat16, seed=20251),
    "rwkv7-c64-f32": dict(C=64, L=2, A=0, V=128, dw=16, da=24, dv=8, dg=40,
                          dtype=torch.float32, seed=20252),
    "rwkvx-c128-bf16": dict(C=128, L=4, A=2, V=128, dw=32, da=32, dv=16, dg=32,
                            dtype=torch.bfloat16, seed=20253),
    "rwkvx-c128-1attn-f32": dict(C=128, L=2, A=1, V=128, dw=24, da=16, dv=32, dg=48,
                                 dtype=torch.float32, seed=20254),
}


def build_checkpoint(C, L, A, V, dw, da, dv, dg, dtype, seed):
    """Flat dict in file order; pure RWKV-7 uses BlinkDL names, RWKV-X the rwkv./moba. prefixes."""
    g = torch.Generator().manual_seed(seed)
    H, ffn, vec = C // 64, 4 * C, (1, 1, C)
    p = "rwkv." if A else ""

    def uniform(shape, lo, hi):
        return torch.rand(shape, generator=g) * (hi - lo) + lo

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=g) * std + mean

    def lora(d):  # [C, d] then [d, C], each ~N(0, 1/sqrt(fan_in))
        return normal((C, d), 1 / math.sqrt(C)), normal((d, C), 1 / math.sqrt(d))

    sd = {p + "emb.weight": normal((V, C), 1.0),
          p + "blocks.0.ln0.weight": normal((C,), 0.1, 1.0),
          p + "blocks.0.ln0.bias": normal((C,), 0.1)}
    for i in range(L):
        b = f"{p}blocks.{i}."
        for ln in ("ln1", "ln2"):
            sd[b + ln + ".weight"], sd[b + ln + ".bias"] = normal((C,), 0.1, 1.0), normal((C,), 0.1)
        for x in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"):
            sd[b + "att." + x] = uniform(vec, 0.0, 1.0)
        sd[b + "att.w0"] = uniform(vec, -6.0, -1.0)
        sd[b + "att.w1"], sd[b + "att.w2"] = lora(dw)
        sd[b + "att.a0"] = normal(vec, 0.1)
        sd[b + "att.a1"], sd[b + "att.a2"] = lora(da)
        if i > 0:  # block 0 has no value-residual LoRA
            sd[b + "att.v0"] = normal(vec, 0.1, 1.0)
            sd[b + "att.v1"], sd[b + "att.v2"] = lora(dv)
        sd[b + "att.g1"], sd[b + "att.g2"] = lora(dg)
        sd[b + "att.k_k"] = normal(vec, 0.05, 0.85)
        sd[b + "att.k_a"] = normal(vec, 0.05, 1.0)
        sd[b + "att.r_k"] = normal((H, 64), 0.1)
        for m in ("receptance", "key", "value", "output"):
            sd[b + f"att.{m}.weight"] = normal((C, C), 1 / math.sqrt(C))
        sd[b + "att.ln_x.weight"], sd[b + "att.ln_x.bias"] = normal((C,), 0.1, 1.0), \
            normal((C,), 0.1)
        sd[b + "ffn.x_k"] = uniform(vec, 0.0, 1.0)
        sd[b + "ffn.key.weight"] = normal((ffn, C), 1 / math.sqrt(C))
        sd[b + "ffn.value.weight"] = normal((C, ffn), 1 / math.sqrt(ffn))
    sd[p + "ln_out.weight"], sd[p + "ln_out.bias"] = normal((C,), 0.1, 1.0), normal((C,), 0.1)
    sd[p + "head.weight"] = normal((V, C), 1 / math.sqrt(C))
    for j in range(A):  # exactly the 11 tensors rwkv-x loads strictly
        b = f"moba.{j}."
        for ln in ("ln1", "ln2"):
            sd[b + ln + ".weight"], sd[b + ln + ".bias"] = normal((C,), 0.1, 1.0), normal((C,), 0.1)
        for m in ("receptance", "key", "value", "output"):
            sd[b + f"att.{m}.weight"] = normal((C, C), 1 / math.sqrt(C))
        sd[b + "ffn.x_k"] = uniform(vec, 0.0, 1.0)
        sd[b + "ffn.key.weight"] = normal((ffn, C), 1 / math.sqrt(C))
        sd[b + "ffn.value.weight"] = normal((C, ffn), 1 / math.sqrt(ffn))
    return {k: v.to(dtype).contiguous() for k, v in sd.items()}


# --- token sequences -------------------------------------------------------------------------------

def token_ids(V, T, seed):
    """Seeded ids over the whole range [0, V); never 0 first; V-1 and 0 both occur."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, T)
    ids[0] = rng.integers(1, V)
    ids[3], ids[T // 2] = V - 1, 0
    return [int(t) for t in ids]


# Token seeds. The long/kvmgmt ones were picked so that every top-k decision (chunk gates, decode
# chunk scores, compression votes) has a relative margin >= MARGIN_LIMIT; the script asserts it.
SEED_LONG, SEED_KVMGMT, SEED_LONG_1ATTN = 74, 86, 70
SHORT_T, LONG_T = 48, 120
SHORT_SPLITS = [5, 6, 20, 21]                 # calls [0,5) [5,6) [6,20) [20,21) [21,48)
LONG_SPLITS = [20, 21, 40, 41, 42, 90, 91, 96, 97]
KVMGMT_SPLITS = ([30] + list(range(31, 91)) + list(range(96, 116)) + list(range(127, 141)))
KVMGMT_T = 141                                # calls: prefill, decodes, prefill, ... (README)
KVMGMT = dict(kv_max=64, kv_min=40, kv_window=16)


def decode_splits(T, first=1):
    return list(range(first, T))


# --- official packages ------------------------------------------------------------------------------

def check_packages():
    """Refuse to run on anything but the pinned algorithms."""
    found = {n: importlib.metadata.version(n) for n in ("rwkv", "rwkv-x", "torch", "numpy")}
    assert found["rwkv"] == RWKV_VERSION, found
    assert found["rwkv-x"] == RWKV_X_VERSION, found
    cfg = RWKV_X_Config()
    assert (cfg.moba_chunk_size, cfg.moba_topk, cfg.max_kv_cache_size) == (2048, 3, 20000), cfg
    assert (cfg.kv_cache_window_size, cfg.min_kv_cache_size) == (2000, 16000), cfg
    import rwkv.model
    import rwkv_x.model
    for mod in (rwkv.model, rwkv_x.model):
        found[mod.__name__ + " sha256"] = hashlib.sha256(Path(mod.__file__).read_bytes()).hexdigest()
    return found


@contextlib.contextmanager
def quiet():
    """The packages print banners while loading; keep the log readable."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def load_official(stem, chunk=2048, top_k=3, kv_max=0, kv_min=16000, kv_window=2000):
    path = OUT / f"{stem}.pth"
    with quiet():
        if MODELS[stem]["A"] == 0:
            return RWKV(model=str(path.with_suffix("")), strategy="cpu fp32")  # appends .pth
        model = RWKV_X(model_path=str(path), strategy="cpu fp32",
                       config=RWKV_X_Config(moba_chunk_size=chunk, moba_topk=top_k,
                                            max_kv_cache_size=kv_max, attn_mode="sparse"))
    for block in model.moba:  # not copied from the config by rwkv-x 0.1.3 (spec §3.6)
        block.att.kv_cache_window_size = kv_window
        block.att.min_kv_cache_size = kv_min
        assert block.att.window_size == chunk * top_k
    return model


def run_official(model, tokens, splits):
    """Calls cut at `splits`: one id -> decode step, several -> prefill with full_output."""
    bounds, rows, state = [0] + splits + [len(tokens)], [], None
    for s, e in zip(bounds, bounds[1:]):
        if e - s == 1:
            out, state = model.forward([tokens[s]], state)
        else:
            out, state = model.forward(tokens[s:e], state, full_output=True)
        rows.append(out.float().numpy().reshape(e - s, -1).copy())
    return np.vstack(rows), state


def official_state_arrays(state, L, A):
    rw = state["rwkv"] if isinstance(state, dict) else state
    out = []
    for i in range(L):
        out += [(f"att_shift.{i}", rw[3 * i]), (f"wkv.{i}", rw[3 * i + 1]),
                (f"ffn_shift.{i}", rw[3 * i + 2])]
    for j in range(A):
        m = state["moba"][j]
        out += [(f"attn_ffn_shift.{j}", m["ffn_x_prev"]), (f"k_cache.{j}", m["k_cache"][0]),
                (f"v_cache.{j}", m["v_cache"][0])]
    return [(n, t.float().numpy().copy()) for n, t in out]


# --- golden cases ---------------------------------------------------------------------------------

def case_list():
    """(stem, case, mode, chunk, top_k, kv settings, tokens, splits) for every golden file."""
    cases = []
    for stem, spec in MODELS.items():
        short = token_ids(spec["V"], SHORT_T, spec["seed"] + 1)
        mode = "compat" if spec["A"] else "rwkv7"
        for case, splits in (("prefill", []), ("decode", decode_splits(SHORT_T)),
                             ("split", SHORT_SPLITS)):
            cases.append(dict(stem=stem, case=case, mode=mode, chunk=2048, top_k=3,
                              kv={}, tokens=short, splits=splits))
    stem, V = "rwkvx-c128-bf16", MODELS["rwkvx-c128-bf16"]["V"]
    long = token_ids(V, LONG_T, SEED_LONG)
    for case, splits in (("compat-long-prefill", []),
                         ("compat-long-decode", decode_splits(LONG_T, 20)),
                         ("compat-long-split", LONG_SPLITS)):
        cases.append(dict(stem=stem, case=case, mode="compat", chunk=16, top_k=3, kv={},
                          tokens=long, splits=splits))
    cases.append(dict(stem=stem, case="compat-kvmgmt", mode="compat", chunk=16, top_k=3,
                      kv=KVMGMT, tokens=token_ids(V, KVMGMT_T, SEED_KVMGMT), splits=KVMGMT_SPLITS))
    cases.append(dict(stem=stem, case="native-c16k3", mode="native", chunk=16, top_k=3, kv={},
                      tokens=long, splits=[]))
    cases.append(dict(stem=stem, case="native-c8k2", mode="native", chunk=8, top_k=2, kv={},
                      tokens=long, splits=[]))
    stem1 = "rwkvx-c128-1attn-f32"
    cases.append(dict(stem=stem1, case="native-c16k3", mode="native", chunk=16, top_k=3, kv={},
                      tokens=token_ids(MODELS[stem1]["V"], LONG_T, SEED_LONG_1ATTN), splits=[]))
    return cases


# KV-cache rows cost rows*C*8 bytes per attention block: stored only where they say most.
CACHE_CASES = {("rwkvx-c128-bf16", "compat-kvmgmt"), ("rwkvx-c128-1attn-f32", "prefill")}


def header_for(c, reference):
    attn = c["mode"] != "rwkv7"
    return {"model": f"{c['stem']}.pth", "reference": reference, "mode": c["mode"],
            "chunk_size": c["chunk"] if attn else 0, "top_k": c["top_k"] if attn else 0,
            "kv_max": c["kv"].get("kv_max", 0), "kv_min": c["kv"].get("kv_min", 0),
            "kv_window": c["kv"].get("kv_window", 0), "tokens": c["tokens"],
            "splits": c["splits"], "all_rows": True, "tolerance": TOLERANCE}


def ref_config(c):
    kv = dict(kv_max=0, kv_min=16000, kv_window=2000) | c["kv"]
    return ref.AttnConfig(mode=c["mode"], chunk=c["chunk"], top_k=c["top_k"], **kv)


def max_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max()) if a.size else 0.0


def compare_states(got, want):
    """Max |Δ| over WKV states, over shift vectors, over KV caches (None if absent)."""
    want = dict(want)
    kinds = {"wkv": [], "shift": [], "cache": []}
    for name, value in got:
        kind = "wkv" if name.startswith("wkv") else "cache" if "cache" in name else "shift"
        kinds[kind].append(max_diff(value, want[name]))
    return {k: (max(v) if v else None) for k, v in kinds.items()}


class Report:
    def __init__(self):
        self.files, self.checks, self.notes = [], [], []

    def check(self, what, logits, states=None):
        states = states or {}
        self.checks.append((what, logits, states))
        worst = max([logits] + [v for v in states.values() if v is not None])
        print(f"  check {what}: logits {logits:.2e}  "
              + "  ".join(f"{k} {v:.2e}" for k, v in states.items() if v is not None))
        if not worst <= CHECK_LIMIT:
            sys.exit(f"CROSS-CHECK FAILED: {what}: {worst:.3e} > {CHECK_LIMIT}")


def write_checkpoints():
    models = {}
    for stem, spec in MODELS.items():
        torch.save(build_checkpoint(**spec), OUT / f"{stem}.pth")
        m = models[stem] = ref.Model(ref.load_tensors(OUT / f"{stem}.pth"))
        assert (m.C, m.n_rwkv, m.n_attn, m.V) == (spec["C"], spec["L"], spec["A"], spec["V"])
    return models


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*.golden"):   # every golden file is rewritten below
        stale.unlink()
    versions = check_packages()
    print("packages:", versions)
    report = Report()

    models = write_checkpoints()

    official = {}   # (stem, case) -> (logits, state arrays) for the cross-checks below
    for c in case_list():
        stem, m, spec = c["stem"], models[c["stem"]], MODELS[c["stem"]]
        name = f"{stem}.{c['case']}.golden"
        cfg = ref_config(c)
        ref_logits, ref_state = ref.run_calls(m, c["tokens"], c["splits"], cfg)
        ref_arrays = ref.state_arrays(m, ref_state)
        if c["mode"] == "native":
            logits, arrays, reference = ref_logits, ref_arrays, REF_NUMPY
        else:
            model = load_official(stem, c["chunk"], c["top_k"], **c["kv"])
            logits, state = run_official(model, c["tokens"], c["splits"])
            arrays = official_state_arrays(state, spec["L"], spec["A"])
            reference = REF_RWKV_X if spec["A"] else REF_RWKV
            official[(stem, c["case"])] = (logits, arrays)
            # the numpy reference follows the same semantics: must agree to fp32 rounding
            report.check(f"numpy {c['mode']} vs {reference.split(' cpu')[0]}: {name}",
                         max_diff(ref_logits, logits), compare_states(ref_arrays, arrays))
        assert logits.shape == (len(c["tokens"]), spec["V"])
        if (stem, c["case"]) not in CACHE_CASES:
            arrays = [(n, a) for n, a in arrays if "cache" not in n]
        for kind, gap in cfg.margins.items():
            if not gap >= MARGIN_LIMIT:
                sys.exit(f"{name}: {kind} margin {gap:.3e} < {MARGIN_LIMIT}: change a seed")
        header = write_golden(OUT / name, header_for(c, reference), [("logits", logits)] + arrays)
        back_header, back = read_golden(OUT / name)
        assert back_header == header
        assert max_diff(back["logits"], np.float32(logits)) == 0.0
        paths = {k: v // max(m.n_attn, 1) for k, v in cfg.paths.items()}
        report.files.append(dict(name=name, c=c, reference=reference, paths=paths,
                                 margins=dict(cfg.margins),
                                 logit_std=float(np.std(logits)), size=(OUT / name).stat().st_size))
        print(f"wrote {name}: {len(c['tokens'])} tokens, {len(c['splits']) + 1} calls, "
              f"paths {paths}, margins {cfg.margins}")

    # native == compat where everything fits in one window (T <= B*K): spec §3.3 / §3.4
    for stem in ("rwkvx-c128-bf16", "rwkvx-c128-1attn-f32"):
        for case in ("prefill", "decode", "split"):
            c = next(x for x in case_list() if x["stem"] == stem and x["case"] == case)
            cfg = ref.AttnConfig(mode="native", chunk=2048, top_k=3)
            lg, st = ref.run_calls(models[stem], c["tokens"], c["splits"], cfg)
            lo, so = official[(stem, case)]
            report.check(f"numpy native (B=2048,K=3) vs rwkv-x compat: {stem}.{case}",
                         max_diff(lg, lo), compare_states(ref.state_arrays(models[stem], st), so))
        # and with the small chunking, on exactly T = B*K = 48 tokens
        m = models[stem]
        tokens = next(x for x in case_list() if x["stem"] == stem)["tokens"]
        for label, splits in (("one call", []), ("token by token", decode_splits(SHORT_T))):
            lg, st = ref.run_calls(m, tokens, [], ref.AttnConfig(mode="native", chunk=16, top_k=3))
            lo, so = run_official(load_official(stem, 16, 3), tokens, splits)
            report.check(f"numpy native (B=16,K=3, T=48) vs rwkv-x compat {label}: {stem}",
                         max_diff(lg, lo), compare_states(ref.state_arrays(m, st),
                                                          official_state_arrays(so, m.n_rwkv,
                                                                                m.n_attn)))

    # native on T > B*K: split-invariant (the engine tests rely on that), and equal to full causal
    # attention once K-1 covers every earlier chunk (B=16, K=8: W = 128 >= 120)
    m, c = models["rwkvx-c128-bf16"], next(x for x in case_list() if x["case"] == "native-c16k3")
    whole, _ = ref.run_calls(m, c["tokens"], [], ref.AttnConfig(mode="native", chunk=16, top_k=3))
    for label, splits in (("compat-long-split cuts", LONG_SPLITS),
                          ("token by token", decode_splits(LONG_T))):
        lg, _ = ref.run_calls(m, c["tokens"], splits, ref.AttnConfig(mode="native", chunk=16,
                                                                      top_k=3))
        report.check(f"numpy native B=16,K=3, one call vs {label} (rwkvx-c128-bf16, T=120)",
                     max_diff(lg, whole))
    lg, st = ref.run_calls(m, c["tokens"], [], ref.AttnConfig(mode="native", chunk=16, top_k=8))
    lo, so = run_official(load_official("rwkvx-c128-bf16", 16, 8), c["tokens"], [])
    report.check("numpy native (B=16,K=8) vs rwkv-x compat B=16,K=8 prefill: rwkvx-c128-bf16, "
                 "T=120 (full causal)", max_diff(lg, lo),
                 compare_states(ref.state_arrays(m, st), official_state_arrays(so, 4, 2)))

    # how far native is from compat on the same long input (the goldens must tell them apart)
    nat = read_golden(OUT / "rwkvx-c128-bf16.native-c16k3.golden")[1]["logits"]
    for case in ("compat-long-prefill", "compat-long-decode", "compat-long-split"):
        d = max_diff(nat, official[("rwkvx-c128-bf16", case)][0])
        report.notes.append(f"native-c16k3 vs {case} (same tokens): max |Δlogit| {d:.3f}")
        assert d > 100 * TOLERANCE, f"native and {case} are indistinguishable"

    total = sum(p.stat().st_size for p in OUT.iterdir() if p.is_file())
    print(f"directory size: {total} bytes")
    assert total <= SIZE_LIMIT, f"tests/data/golden is {total} bytes"
    write_readme(report, versions)
    print("OK")


# --- README ---------------------------------------------------------------------------------------

BEGIN, END = "<!-- BEGIN GENERATED by tools/make_golden.py -->", "<!-- END GENERATED -->"


def write_readme(report, versions):
    lines = [BEGIN, "", "### Files (generated)", "",
             "| file | reference | mode | B / K | kv max/min/window | tokens | calls "
             "| attention paths taken (per call) | min top-k margin | logit std | bytes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in report.files:
        c = f["c"]
        bk = f"{c['chunk']} / {c['top_k']}" if c["mode"] != "rwkv7" else "-"
        kv = "/".join(str(c["kv"][k]) for k in ("kv_max", "kv_min", "kv_window")) if c["kv"] \
            else "off"
        paths = ", ".join(f"{k} ×{v}" for k, v in f["paths"].items()) or "-"
        margin = f"{min(f['margins'].values()):.3g}" if f["margins"] else "-"
        lines.append(f"| `{f['name']}` | {f['reference']} | {c['mode']} | {bk} | {kv} | "
                     f"{len(c['tokens'])} | {len(c['splits']) + 1} | {paths} | {margin} | "
                     f"{f['logit_std']:.2f} | {f['size']} |")
    lines += ["", "### Checkpoints (generated)", "",
              "| file | C | H | RWKV blocks | attention blocks | V | LoRA w/a/v/g | stored | bytes |",
              "|---|---|---|---|---|---|---|---|---|"]
    for stem, s in MODELS.items():
        dt = "bf16" if s["dtype"] == torch.bfloat16 else "f32"
        lines.append(f"| `{stem}.pth` | {s['C']} | {s['C'] // 64} | {s['L']} | {s['A']} | "
                     f"{s['V']} | {s['dw']}/{s['da']}/{s['dv']}/{s['dg']} | {dt} | "
                     f"{(OUT / f'{stem}.pth').stat().st_size} |")
    lines += ["", "### Cross-checks (generated; the script fails if any exceeds "
              f"{CHECK_LIMIT:g})", "",
              "| check | max \\|Δlogit\\| | max \\|Δ\\| WKV state | max \\|Δ\\| shift states "
              "| max \\|Δ\\| KV cache |", "|---|---|---|---|---|"]
    fmt = lambda v: "-" if v is None else f"{v:.1e}"
    for what, lg, st in report.checks:
        lines.append(f"| {what} | {lg:.1e} | {fmt(st.get('wkv'))} | {fmt(st.get('shift'))} | "
                     f"{fmt(st.get('cache'))} |")
    lines += [""] + [f"* {n}" for n in report.notes]
    total = sum(p.stat().st_size for p in OUT.iterdir() if p.is_file() and p.suffix != ".md")
    lines += [f"* whole directory, this README not counted: {total} bytes",
              "", "Package versions and sources used:", ""]
    lines += [f"* `{k}`: {v}" for k, v in versions.items()]
    lines += ["", END]
    path = OUT / "README.md"
    text = path.read_text() if path.exists() else "# Golden reference outputs\n\n" + BEGIN + END
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + "\n".join(lines) + tail)


if __name__ == "__main__":
    main()
