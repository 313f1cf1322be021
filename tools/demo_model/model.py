"""The trainable RWKV-X of the bundled demo model, in PyTorch (spec §1-§3, `native` attention §3.3).

Parameter names and shapes are exactly the checkpoint keys of spec §1.3 (`rwkv.*`, `moba.{j}.*`), so
`export_state_dict()` writes a file every RWKV-X loader reads. The math follows the spec's inference
equations; the WKV-7 recurrence is evaluated in an exact chunked form (wkv7_chunked) that equals the
per-token loop to rounding (tools/train_demo.py --self-check compares them), because a Python loop
over tokens is far too slow to train with.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

N = 64                      # head size, mandatory for RWKV-X (spec §1.4)
DECAY_SCALE = math.exp(-0.5)
WKV_CHUNK = 16              # tokens per block of the chunked recurrence (keeps 1/W products < 2e4)


def wkv7_loop(r, w, k, v, a, b, state):
    """Reference recurrence, one token at a time (spec §2.3). Shapes [B,T,H,N]; state [B,H,N,N]
    indexed [value i, key j]. Returns (out [B,T,H,N], final state)."""
    out = []
    S = state
    for t in range(r.shape[1]):
        sa = torch.einsum("bhij,bhj->bhi", S, a[:, t])
        S = S * w[:, t, :, None, :] + v[:, t, :, :, None] * k[:, t, :, None, :] \
            + sa[..., None] * b[:, t, :, None, :]
        out.append(torch.einsum("bhij,bhj->bhi", S, r[:, t]))
    return torch.stack(out, 1), S


def wkv7_chunked(r, w, k, v, a, b, state, L=WKV_CHUNK):
    """The same recurrence in blocks of L tokens. Within a block, with W_t the running product of
    decays and u_t = S_{t-1} a_t, every quantity is linear in the block's start state S0:
        U = P S0^T + Q,  out = R S0^T + O',  S_end = S0 G + H
    where P, Q, R, O', G, H need only the block's inputs (a unit-triangular solve for the
    a-b interactions). Blocks are then chained with one small matrix product each."""
    B, T, H, _ = r.shape
    pad = (-T) % L
    if pad:  # padded steps: decay 1 and zero inputs leave the state unchanged
        z = lambda x, val=0.0: F.pad(x, (0, 0, 0, 0, 0, pad), value=val)
        r, k, v, a, b = z(r), z(k), z(v), z(a), z(b)
        w = z(w, 1.0)
    C = r.shape[1] // L
    shape = (B, C, L, H, N)
    r, w, k, v, a, b = (x.reshape(shape).permute(0, 3, 1, 2, 4) for x in (r, w, k, v, a, b))
    # now [B,H,C,L,N]
    logw = torch.log(w)
    cum = torch.cumsum(logw, dim=3)                        # log W_t, t = 1..L
    W = torch.exp(cum)
    W_prev = torch.exp(cum - logw)                         # W_{t-1}
    inv_W = torch.exp(-cum)
    a_t = a * W_prev                                       # a_t ⊙ W_{t-1}
    b_t = b * inv_W                                        # b_i / W_i
    k_t = k * inv_W                                        # k_i / W_i
    r_t = r * W                                            # r_t ⊙ W_t
    strict = torch.tril(torch.ones(L, L, dtype=torch.bool, device=r.device), -1)
    incl = torch.tril(torch.ones(L, L, dtype=torch.bool, device=r.device))
    Mb = (a_t @ b_t.transpose(-1, -2)).masked_fill(~strict, 0.0)
    Mk = (a_t @ k_t.transpose(-1, -2)).masked_fill(~strict, 0.0)
    Qb = (r_t @ b_t.transpose(-1, -2)).masked_fill(~incl, 0.0)
    Qk = (r_t @ k_t.transpose(-1, -2)).masked_fill(~incl, 0.0)
    # (I - Mb)^-1 = I + Mb + Mb^2 + ... (Mb is strictly lower triangular, so Mb^L = 0), as the
    # product (I + Mb)(I + Mb^2)(I + Mb^4)...: a few batched products, much faster than a
    # batched triangular solve on a CPU.
    inv = torch.eye(L, dtype=r.dtype, device=r.device) + Mb
    power = Mb
    for _ in range(max(0, (L - 1).bit_length() - 1)):
        power = power @ power
        inv = inv + inv @ power
    P = inv @ a_t
    Q = inv @ (Mk @ v)
    R = r_t + Qb @ P                                       # [B,H,C,L,N]
    O_part = Qb @ Q + Qk @ v
    W_end = W[:, :, :, -1:, :]                             # [B,H,C,1,N]
    b_end = b_t * W_end
    k_end = k_t * W_end
    G = torch.diag_embed(W_end.squeeze(3)) + P.transpose(-1, -2) @ b_end   # [B,H,C,N,N]
    Hm = Q.transpose(-1, -2) @ b_end + v.transpose(-1, -2) @ k_end          # value x key
    starts = []
    S = state
    # unbind, not G[:, :, c]: indexing in a loop makes autograd build a full-size gradient per step
    for G_c, H_c in zip(G.unbind(2), Hm.unbind(2)):
        starts.append(S)
        S = S @ G_c + H_c
    S0 = torch.stack(starts, 2)                            # [B,H,C,N,N]
    out = R @ S0.transpose(-1, -2) + O_part                # [B,H,C,L,N]
    out = out.permute(0, 2, 3, 1, 4).reshape(B, C * L, H, N)
    return out[:, :T], S


class TimeMix(nn.Module):
    def __init__(self, C, H, dims, layer, n_layer):
        super().__init__()
        Dw, Da, Dv, Dg = dims
        self.layer, self.H = layer, H
        r0 = layer / max(n_layer - 1, 1)
        r1 = 1.0 - layer / n_layer
        ddd = torch.arange(C, dtype=torch.float32) / C
        mix = lambda p: nn.Parameter((1.0 - ddd.pow(p)).view(1, 1, C))
        self.x_r, self.x_w, self.x_k = mix(0.2 * r1), mix(0.9 * r1), mix(0.7 * r1)
        self.x_v, self.x_a, self.x_g = mix(0.7 * r1), mix(0.9 * r1), mix(0.2 * r1)
        n = torch.arange(C, dtype=torch.float32)
        decay = -7 + 5 * (n / (C - 1)) ** (0.85 + 1.0 * r0 ** 0.5)
        self.w0 = nn.Parameter((decay + 0.5).view(1, 1, C))
        ortho = lambda i, o, s: nn.Parameter(nn.init.orthogonal_(torch.empty(i, o), gain=s))
        self.w1, self.w2 = nn.Parameter(torch.zeros(C, Dw)), ortho(Dw, C, 0.1)
        self.a0, self.a1, self.a2 = nn.Parameter(torch.zeros(1, 1, C)), \
            nn.Parameter(torch.zeros(C, Da)), ortho(Da, C, 0.1)
        if layer > 0:
            self.v0 = nn.Parameter(torch.ones(1, 1, C))
            self.v1, self.v2 = nn.Parameter(torch.zeros(C, Dv)), ortho(Dv, C, 0.1)
        self.g1, self.g2 = nn.Parameter(torch.zeros(C, Dg)), ortho(Dg, C, 0.1)
        self.k_k = nn.Parameter(torch.full((1, 1, C), 0.85))
        self.k_a = nn.Parameter(torch.ones(1, 1, C))
        self.r_k = nn.Parameter(torch.full((H, N), -0.04))
        lin = lambda: nn.Linear(C, C, bias=False)
        self.receptance, self.key, self.value, self.output = lin(), lin(), lin(), lin()
        for m, s in ((self.receptance, 1.0), (self.key, 0.1), (self.value, 1.0)):
            nn.init.orthogonal_(m.weight, gain=s)
        nn.init.zeros_(self.output.weight)
        self.ln_x = nn.GroupNorm(H, C, eps=64e-5)
        with torch.no_grad():
            self.ln_x.weight.fill_(((1 + layer) / n_layer) ** 0.7)

    def forward(self, u, v_first, wkv_state):
        Bsz, T, C = u.shape
        H = self.H
        prev = F.pad(u, (0, 0, 1, -1))                   # token shift; zeros before the start
        d = prev - u
        xr, xw, xk = u + d * self.x_r, u + d * self.x_w, u + d * self.x_k
        xv, xa, xg = u + d * self.x_v, u + d * self.x_a, u + d * self.x_g
        r = self.receptance(xr)
        w_lora = torch.tanh(xw @ self.w1) @ self.w2
        k = self.key(xk)
        v = self.value(xv)
        a = torch.sigmoid(self.a0 + (xa @ self.a1) @ self.a2)
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        kk = F.normalize((k * self.k_k).view(Bsz, T, H, N), dim=-1, eps=1e-12).view(Bsz, T, C)
        k = k * (1 + (a - 1) * self.k_a)
        if self.layer == 0:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)
        w = torch.exp(-DECAY_SCALE * torch.sigmoid(self.w0 + w_lora))
        heads = lambda x: x.view(Bsz, T, H, N)
        o, _ = wkv7_chunked(heads(r), heads(w), heads(k), heads(v), heads(-kk), heads(kk * a),
                            wkv_state(Bsz, u))
        o = self.ln_x(o.reshape(Bsz * T, C)).view(Bsz, T, C)
        bonus = (heads(r) * heads(k) * self.r_k).sum(-1, keepdim=True) * heads(v)
        o = o + bonus.reshape(Bsz, T, C)
        return self.output(o * g), v_first


class ChannelMix(nn.Module):
    def __init__(self, C, F_dim, layer, n_layer):
        super().__init__()
        r1 = 1.0 - layer / n_layer
        ddd = torch.arange(C, dtype=torch.float32) / C
        self.x_k = nn.Parameter((1.0 - ddd.pow(r1 ** 4)).view(1, 1, C))
        self.key = nn.Linear(C, F_dim, bias=False)
        self.value = nn.Linear(F_dim, C, bias=False)
        nn.init.orthogonal_(self.key.weight)
        nn.init.zeros_(self.value.weight)

    def forward(self, u):
        prev = F.pad(u, (0, 0, 1, -1))
        kx = u + (prev - u) * self.x_k
        return self.value(torch.relu(self.key(kx)) ** 2)


class RwkvBlock(nn.Module):
    def __init__(self, C, H, F_dim, dims, layer, n_layer):
        super().__init__()
        if layer == 0:
            self.ln0 = nn.LayerNorm(C)
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.att = TimeMix(C, H, dims, layer, n_layer)
        self.ffn = ChannelMix(C, F_dim, layer, n_layer)

    def forward(self, x, v_first, wkv_state):
        dx, v_first = self.att(self.ln1(x), v_first, wkv_state)
        x = x + dx
        return x + self.ffn(self.ln2(x)), v_first


class MobaAttention(nn.Module):
    """q/k/v/o projections (`receptance` is the query, spec §1.3) and native sparse attention."""

    def __init__(self, C):
        super().__init__()
        lin = lambda: nn.Linear(C, C, bias=False)
        self.receptance, self.key, self.value, self.output = lin(), lin(), lin(), lin()
        nn.init.zeros_(self.output.weight)

    def forward(self, u, chunk, top_k, gate_log=None):
        Bsz, T, C = u.shape
        H = C // N
        q, k, v = (m(u).view(Bsz, T, H, N).transpose(1, 2) for m in
                   (self.receptance, self.key, self.value))            # [B,H,T,N]
        pos = torch.arange(T, device=u.device)
        own = pos // chunk
        causal = pos[None, :] <= pos[:, None]
        allowed = causal & (own[None, :] == own[:, None])              # own chunk, causal
        n_full = T // chunk
        gate = None
        if n_full > 0 and top_k > 1:
            means = k[:, :, :n_full * chunk].reshape(Bsz, H, n_full, chunk, N).mean(3)
            gate = q @ means.transpose(-1, -2)                         # [B,H,T,n_full], unscaled
            candidate = torch.arange(n_full, device=u.device)[None, :] < own[:, None]
            masked = gate.masked_fill(~candidate, float("-inf"))
            n_sel = min(top_k - 1, n_full)
            top_val, top_idx = masked.detach().topk(n_sel, dim=-1)
            chosen = torch.zeros_like(masked, dtype=torch.bool)
            chosen.scatter_(-1, top_idx, top_val > float("-inf"))
            key_chunk = own.clamp(max=n_full)                          # the tail is never chosen
            chosen = F.pad(chosen, (0, 1))                            # column for the tail chunk
            allowed = allowed | chosen[..., key_chunk]                 # [B,H,T,T]
            if gate_log is not None:
                gate_log.append((gate, candidate))
        scores = (q @ k.transpose(-1, -2)) * (1.0 / 8.0)
        scores = scores.masked_fill(~allowed, float("-inf"))
        y = torch.softmax(scores, -1) @ v
        return self.output(y.transpose(1, 2).reshape(Bsz, T, C))


class AttnBlock(nn.Module):
    def __init__(self, C, F_dim, layer, n_layer):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.att = MobaAttention(C)
        self.ffn = ChannelMix(C, F_dim, layer, n_layer)

    def forward(self, x, chunk, top_k, bypass, gate_log):
        if not bypass:
            x = x + self.att(self.ln1(x), chunk, top_k, gate_log)
        return x + self.ffn(self.ln2(x))


class RwkvX(nn.Module):
    def __init__(self, vocab, C, n_rwkv, n_attn, lora=(32, 32, 32, 64)):
        super().__init__()
        H = C // N
        F_dim = 4 * C
        self.C, self.n_rwkv, self.n_attn = C, n_rwkv, n_attn
        self.emb = nn.Embedding(vocab, C)
        nn.init.uniform_(self.emb.weight, -1e-4, 1e-4)
        self.blocks = nn.ModuleList(RwkvBlock(C, H, F_dim, lora, i, n_rwkv) for i in range(n_rwkv))
        self.moba = nn.ModuleList(AttnBlock(C, F_dim, j, n_attn) for j in range(n_attn))
        self.ln_out = nn.LayerNorm(C)
        self.head = nn.Linear(C, vocab, bias=False)
        nn.init.orthogonal_(self.head.weight, gain=0.5 * math.sqrt(vocab / C))

    def order(self):
        """Execution order of spec §1.1 as ('R', i) / ('A', j)."""
        if self.n_attn == 0:
            return [("R", i) for i in range(self.n_rwkv)]
        if self.n_attn == 1:
            return [("R", i) for i in range(self.n_rwkv)] + [("A", 0)]
        p = self.n_rwkv // self.n_attn
        return [x for j in range(self.n_attn)
                for x in [("R", j * p + i) for i in range(p)] + [("A", j)]]

    def forward(self, ids, chunk, top_k, bypass_attention=False, gate_log=None):
        x = self.blocks[0].ln0(self.emb(ids))
        zero_state = lambda Bsz, u: u.new_zeros(Bsz, self.C // N, N, N)
        v_first = None
        for kind, i in self.order():
            if kind == "R":
                x, v_first = self.blocks[i](x, v_first, zero_state)
            else:
                x = self.moba[i](x, chunk, top_k, bypass_attention, gate_log)
        return self.head(self.ln_out(x))

    def export_state_dict(self, dtype=torch.float16):
        """Checkpoint dict with the official key names (spec §1.3)."""
        out = {}
        for name, t in self.state_dict().items():
            prefix = "" if name.startswith("moba.") else "rwkv."
            out[prefix + name] = t.detach().to("cpu", dtype).contiguous().clone()
        return out
