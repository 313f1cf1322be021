"""Independent float64 numpy reference of RWKV-7 / RWKV-X inference, written from
/work/shared/docs/rwkvx-spec.md §1-§3 (not from the official packages' code).

It produces the `native` golden cases (spec §3.3: per-head, per-query MoBA chunk selection over the
whole sequence) and is used by tools/make_golden.py to cross-check the official packages. For that
purpose it can also follow the `compat` semantics of rwkv-x 0.1.3 (spec §3.4-§3.6: chunk-local
prefill, shared top-k decode, KV-cache compression) so the long-context golden files are verified
by two implementations.

Shape letters: T tokens in a call, C channels, H heads, N = 64 head size, V vocabulary.
Everything is computed in float64 from the checkpoint's stored values.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

N = 64                   # head size (mandatory, spec §1.4)
LN_EPS = 1e-5            # LayerNorm eps (ln0, ln1, ln2, ln_out, attention-block norms)
GN_EPS = 64e-5           # GroupNorm eps of att.ln_x
L2_EPS = 1e-12           # eps of the per-head L2 normalisation of k*k_k
DECAY_SCALE = math.exp(-0.5)
ATT_SCALE = 1.0 / math.sqrt(N)


def load_tensors(path):
    """Checkpoint (.pth or .safetensors) -> {name: float64 ndarray} with stored shapes."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        raw = load_file(str(path))
    else:
        import torch
        raw = torch.load(str(path), map_location="cpu", weights_only=True)
    return {k: v.float().numpy().astype(np.float64) for k, v in raw.items()}


def layer_norm(x, w, b, eps=LN_EPS):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class Model:
    """Weights of an RWKV-7 or RWKV-X checkpoint, squeezed to vectors/matrices, float64."""

    def __init__(self, tensors):
        rwkv_x = any(k.startswith("rwkv.") for k in tensors)
        self.p = {k[5:]: v for k, v in tensors.items() if k.startswith("rwkv.")} if rwkv_x \
            else dict(tensors)
        self.attn = []
        if rwkv_x:
            a = {k[5:]: v for k, v in tensors.items() if k.startswith("moba.")}
            j = 0
            while f"{j}.ln1.weight" in a:
                self.attn.append({k[len(f"{j}."):]: v for k, v in a.items()
                                  if k.startswith(f"{j}.")})
                j += 1
        p = self.p
        self.V, self.C = p["emb.weight"].shape
        self.H = p["blocks.0.att.r_k"].shape[0]
        assert p["blocks.0.att.r_k"].shape[1] == N and self.H * N == self.C
        self.n_rwkv = 1 + max(int(k.split(".")[1]) for k in p if k.startswith("blocks."))
        self.n_attn = len(self.attn)
        # ln0 applies to the embedding rows once (spec §1.1 step 1)
        self.emb = layer_norm(p["emb.weight"], p["blocks.0.ln0.weight"], p["blocks.0.ln0.bias"])
        # execution order (spec §1.1)
        if self.n_attn == 0:
            self.order = [("R", i) for i in range(self.n_rwkv)]
        elif self.n_attn == 1:
            self.order = [("R", i) for i in range(self.n_rwkv)] + [("A", 0)]
        else:
            per = self.n_rwkv // self.n_attn
            self.order = []
            for j in range(self.n_attn):
                self.order += [("R", j * per + i) for i in range(per)] + [("A", j)]

    def vec(self, name):
        return self.p[name].reshape(-1)


@dataclass
class State:
    att_shift: list            # per RWKV block: [C] LN1 output of the previous token
    wkv: list                  # per RWKV block: [H, N(value i), N(key j)]
    ffn_shift: list            # per RWKV block: [C] LN2 output of the previous token
    k_cache: list              # per attention block: [rows, C]
    v_cache: list
    attn_ffn_shift: list       # per attention block: [C]
    pos: int = 0               # tokens consumed so far (native: cache row = absolute position)


def new_state(m):
    z = lambda: np.zeros(m.C)
    return State([z() for _ in range(m.n_rwkv)],
                 [np.zeros((m.H, N, N)) for _ in range(m.n_rwkv)],
                 [z() for _ in range(m.n_rwkv)],
                 [np.zeros((0, m.C)) for _ in range(m.n_attn)],
                 [np.zeros((0, m.C)) for _ in range(m.n_attn)],
                 [z() for _ in range(m.n_attn)])


@dataclass
class AttnConfig:
    """mode: 'rwkv7' (no attention blocks), 'native' (spec §3.3) or 'compat' (rwkv-x 0.1.3)."""
    mode: str = "native"
    chunk: int = 2048          # B
    top_k: int = 3             # K
    kv_max: int = 0            # compat only: compression trigger (0 = off)
    kv_min: int = 16000
    kv_window: int = 2000
    # smallest gap seen between the last selected and the first rejected candidate, per kind
    margins: dict = field(default_factory=dict)
    # how often each attention path ran (to document what a golden case exercises)
    paths: dict = field(default_factory=dict)

    def note_margin(self, kind, gap):
        self.margins[kind] = min(self.margins.get(kind, math.inf), float(gap))

    def note_path(self, kind):
        self.paths[kind] = self.paths.get(kind, 0) + 1


def _prev_rows(u, shift):
    """Row t holds row t-1 of u; row 0 holds the carried state (token shift)."""
    return np.vstack([shift[None, :], u[:-1]])


def channel_mix(u, shift, x_k, w_key, w_value):
    """Spec §2.5; weights as stored ([out, in])."""
    k = u + (_prev_rows(u, shift) - u) * x_k
    h = np.maximum(k @ w_key.T, 0.0) ** 2
    return h @ w_value.T


def time_mix(m, i, u, st, v_first):
    """RWKV-7 time mixing of block i over the rows of u (spec §2.2-§2.4). Updates st."""
    p, b = m.p, f"blocks.{i}.att."
    T, H = u.shape[0], m.H
    d = _prev_rows(u, st.att_shift[i]) - u
    mix = {c: u + d * m.vec(b + "x_" + c) for c in "rwkvag"}
    r = mix["r"] @ p[b + "receptance.weight"].T
    k = mix["k"] @ p[b + "key.weight"].T
    v = mix["v"] @ p[b + "value.weight"].T
    w_lora = np.tanh(mix["w"] @ p[b + "w1"]) @ p[b + "w2"]
    a = sigmoid(m.vec(b + "a0") + (mix["a"] @ p[b + "a1"]) @ p[b + "a2"])
    g = sigmoid(mix["g"] @ p[b + "g1"]) @ p[b + "g2"]

    kappa = (k * m.vec(b + "k_k")).reshape(T, H, N)
    kappa = kappa / np.maximum(np.linalg.norm(kappa, axis=-1, keepdims=True), L2_EPS)
    k_tilde = k * (1.0 + (a - 1.0) * m.vec(b + "k_a"))
    if i == 0:
        v_first = v
    else:
        v = v + (v_first - v) * sigmoid(m.vec(b + "v0") + (mix["v"] @ p[b + "v1"]) @ p[b + "v2"])
    decay = np.exp(-DECAY_SCALE * sigmoid(m.vec(b + "w0") + w_lora))

    # WKV recurrence per head: S <- S diag(w) - (S kappa)(a*kappa)^T + v k~^T; out = S r
    S = st.wkv[i].copy()
    rh, wh, kh, vh = (x.reshape(T, H, N) for x in (r, decay, k_tilde, v))
    ah = a.reshape(T, H, N)
    out = np.empty((T, H, N))
    for t in range(T):
        s_kappa = np.einsum("hij,hj->hi", S, kappa[t])
        S = S * wh[t][:, None, :] - s_kappa[:, :, None] * (kappa[t] * ah[t])[:, None, :] \
            + vh[t][:, :, None] * kh[t][:, None, :]
        out[t] = np.einsum("hij,hj->hi", S, rh[t])
    st.wkv[i] = S

    # GroupNorm over each head's 64 outputs, then the per-head bonus term
    mu = out.mean(-1, keepdims=True)
    var = ((out - mu) ** 2).mean(-1, keepdims=True)
    o = ((out - mu) / np.sqrt(var + GN_EPS)).reshape(T, m.C) * m.vec(b + "ln_x.weight") \
        + m.vec(b + "ln_x.bias")
    bonus = (rh * kh * m.vec(b + "r_k").reshape(H, N)).sum(-1, keepdims=True) * vh
    o = o + bonus.reshape(T, m.C)
    st.att_shift[i] = u[-1].copy()
    return (o * g) @ p[b + "output.weight"].T, v_first


def rwkv_block(m, i, x, st, v_first):
    p, b = m.p, f"blocks.{i}."
    u = layer_norm(x, p[b + "ln1.weight"], p[b + "ln1.bias"])
    dx, v_first = time_mix(m, i, u, st, v_first)
    x = x + dx
    u2 = layer_norm(x, p[b + "ln2.weight"], p[b + "ln2.bias"])
    x = x + channel_mix(u2, st.ffn_shift[i], m.vec(b + "ffn.x_k"), p[b + "ffn.key.weight"],
                        p[b + "ffn.value.weight"])
    st.ffn_shift[i] = u2[-1].copy()
    return x, v_first


def _heads(x):
    return x.reshape(x.shape[0], -1, N)        # [rows, H, N]


def _attend(q, keys, values):
    """One query row [C] over key/value rows [S, C]; per-head softmax, scale 1/8."""
    qh, kh, vh = q.reshape(-1, N), _heads(keys), _heads(values)
    w = softmax(np.einsum("hd,shd->hs", qh, kh) * ATT_SCALE)
    return np.einsum("hs,shd->hd", w, vh).reshape(-1)


def _attend_per_head(q, keys_per_head, values_per_head):
    """Like _attend, with a different key set per head (lists of [S_h, N])."""
    out = []
    for h, (kh, vh) in enumerate(zip(keys_per_head, values_per_head)):
        w = softmax(kh @ q[h * N:(h + 1) * N] * ATT_SCALE)
        out.append(w @ vh)
    return np.concatenate(out)


def _top(scores, count, cfg, kind, boundaries=()):
    """Indices of the `count` largest scores, descending (stable).

    Records the decision margin relative to the largest |score|: at the cut, and at the ranks in
    `boundaries` where the order itself matters (chunk edges of a compressed cache).
    """
    order = np.argsort(-scores, kind="stable")
    scale = max(float(np.abs(scores).max()), 1e-30) if len(scores) else 1.0
    for r in (count, *boundaries):
        if 0 < r < len(scores):
            cfg.note_margin(kind, (scores[order[r - 1]] - scores[order[r]]) / scale)
    return order[:count]


def attn_native(q, K, Vv, first, cfg):
    """Spec §3.3. K/Vv hold every position 0..first+T-1 (row = absolute position)."""
    B, H = cfg.chunk, q.shape[1] // N
    Kh, Vh = _heads(K), _heads(Vv)
    y = np.empty_like(q)
    for t in range(q.shape[0]):
        s = first + t
        own = s // B
        means = Kh[:own * B].reshape(own, B, H, N).mean(1) if own else np.zeros((0, H, N))
        ks, vs = [], []
        for h in range(H):
            rows = list(range(own * B, s + 1))
            if own:
                gate = means[:, h] @ q[t, h * N:(h + 1) * N]
                for c in sorted(_top(gate, min(cfg.top_k - 1, own), cfg, "native chunk gate")):
                    rows = list(range(c * B, (c + 1) * B)) + rows
            ks.append(Kh[rows, h])
            vs.append(Vh[rows, h])
        y[t] = _attend_per_head(q[t], ks, vs)
    return y


def compress_cache(queries, K, Vv, cfg):
    """rwkv-x 0.1.3 cache compression (spec §3.6). queries [Q, C]; returns new (K, V)."""
    rows = K.shape[0]
    if cfg.kv_min >= rows:
        return K, Vv
    cfg.note_path(f"compression ({'prefill' if queries.shape[0] > 1 else 'decode'})")
    past = rows - cfg.kv_window
    keep = min(cfg.kv_min - cfg.kv_window, past)
    Kp, Vp = _heads(K[:past]), _heads(Vv[:past])
    newK, newV = np.empty((keep, K.shape[1])), np.empty((keep, K.shape[1]))
    for h in range(Kp.shape[1]):
        qh = queries[:, h * N:(h + 1) * N]
        vote = softmax(qh @ Kp[:, h].T * ATT_SCALE, axis=-1).sum(0)
        # kept rows are stored in vote order, so ranks at chunk edges decide later chunk means
        idx = _top(vote, keep, cfg, "cache compression vote", range(cfg.chunk, keep, cfg.chunk))
        newK[:, h * N:(h + 1) * N] = Kp[idx, h]
        newV[:, h * N:(h + 1) * N] = Vp[idx, h]
    return np.vstack([newK, K[past:]]), np.vstack([newV, Vv[past:]])


def attn_compat_prefill(u, q, k, v, K, Vv, cfg):
    """rwkv-x 0.1.3 prefill (spec §3.4); K/Vv is the cache before the call (already compressed)."""
    T, CT, B = q.shape[0], K.shape[0], cfg.chunk
    y = np.empty_like(q)
    if T + CT <= B * cfg.top_k:
        cfg.note_path("prefill: cache + causal")
        allK, allV = np.vstack([K, k]), np.vstack([Vv, v])
        for t in range(T):
            y[t] = _attend(q[t], allK[:CT + t + 1], allV[:CT + t + 1])
    else:   # causal attention inside segments of B rows counted from this call's first token
        cfg.note_path("prefill: chunk-local")
        for t in range(T):
            start = t // B * B
            y[t] = _attend(q[t], k[start:t + 1], v[start:t + 1])
    return y


def attn_compat_decode(q, k, v, K, Vv, cfg):
    """rwkv-x 0.1.3 one-token step (spec §3.5); K/Vv is the cache before the call."""
    CT, B = K.shape[0], cfg.chunk
    if CT <= B * cfg.top_k:
        cfg.note_path("decode: full")
        return _attend(q, np.vstack([K, k[None]]), np.vstack([Vv, v[None]]))
    cfg.note_path("decode: top-k chunks" + (" (no remainder)" if CT % B == 0 else ""))
    rem = CT % B
    n_chunks = (CT - rem) // B
    means = K[:CT - rem].reshape(n_chunks, B, -1).mean(1)
    pick = _top(means @ q, cfg.top_k, cfg, "decode chunk score")
    rows = [r for c in pick for r in range(c * B, (c + 1) * B)] + list(range(CT - rem, CT))
    return _attend(q, np.vstack([K[rows], k[None]]), np.vstack([Vv[rows], v[None]]))


def attn_block(m, j, x, st, cfg):
    a = m.attn[j]
    u = layer_norm(x, a["ln1.weight"], a["ln1.bias"])
    q, k, v = (u @ a[f"att.{n}.weight"].T for n in ("receptance", "key", "value"))
    K, Vv, T = st.k_cache[j], st.v_cache[j], x.shape[0]
    if cfg.mode == "native":
        K, Vv = np.vstack([K, k]), np.vstack([Vv, v])
        cfg.note_path("native")
        y = attn_native(q, K, Vv, st.pos, cfg)
    elif cfg.mode == "compat":
        if cfg.kv_max > 0 and K.shape[0] > cfg.kv_max:
            # quirk (spec §3.6): prefill votes with the LN1 rows, decode with the projected q
            K, Vv = compress_cache(u if T > 1 else q, K, Vv, cfg)
        if T > 1:
            y = attn_compat_prefill(u, q, k, v, K, Vv, cfg)
        else:
            y = attn_compat_decode(q[0], k[0], v[0], K, Vv, cfg)[None]
        K, Vv = np.vstack([K, k]), np.vstack([Vv, v])
    else:
        raise ValueError(f"attention block in mode {cfg.mode}")
    st.k_cache[j], st.v_cache[j] = K, Vv
    x = x + y @ a["att.output.weight"].T
    u2 = layer_norm(x, a["ln2.weight"], a["ln2.bias"])
    x = x + channel_mix(u2, st.attn_ffn_shift[j], a["ffn.x_k"].reshape(-1), a["ffn.key.weight"],
                        a["ffn.value.weight"])
    st.attn_ffn_shift[j] = u2[-1].copy()
    return x


def forward(m, tokens, st, cfg):
    """One call: feeds `tokens` (list of ids) and returns logits for every position, [T, V]."""
    if cfg.mode == "native" and cfg.kv_max:
        raise ValueError("native semantics has no cache compression")
    x = m.emb[np.asarray(tokens)]
    v_first = None
    for kind, idx in m.order:
        if kind == "R":
            x, v_first = rwkv_block(m, idx, x, st, v_first)
        else:
            x = attn_block(m, idx, x, st, cfg)
    st.pos += len(tokens)
    p = m.p
    return layer_norm(x, p["ln_out.weight"], p["ln_out.bias"]) @ p["head.weight"].T


def run_calls(m, tokens, splits, cfg, st=None):
    """Feed tokens in calls cut at `splits`; returns (all logit rows [T, V], final state)."""
    st = st or new_state(m)
    bounds = [0] + list(splits) + [len(tokens)]
    rows = [forward(m, tokens[s:e], st, cfg) for s, e in zip(bounds, bounds[1:])]
    return np.vstack(rows), st


def state_arrays(m, st):
    """Golden-file arrays for a final state, in the official state order."""
    out = []
    for i in range(m.n_rwkv):
        out += [(f"att_shift.{i}", st.att_shift[i]), (f"wkv.{i}", st.wkv[i]),
                (f"ffn_shift.{i}", st.ffn_shift[i])]
    for j in range(m.n_attn):
        out += [(f"attn_ffn_shift.{j}", st.attn_ffn_shift[j]), (f"k_cache.{j}", st.k_cache[j]),
                (f"v_cache.{j}", st.v_cache[j])]
    return out
