// RWKV-7 and sparse attention blocks as chains of CPU ops (see blocks.h).
#include "infer/blocks.h"

#include <algorithm>
#include <cstddef>

#include "attention/sparse_attention.h"
#include "cpu/channel_mix.h"
#include "cpu/group_norm.h"
#include "cpu/layer_norm.h"
#include "cpu/lora.h"
#include "cpu/time_mix.h"
#include "cpu/token_shift.h"
#include "cpu/wkv7.h"

namespace lectern {
namespace {

constexpr float kLayerNormEps = 1e-5f;
constexpr float kGroupNormEps = 64e-5f;

void add_into(float* __restrict x, const float* __restrict y, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) x[i] += y[i];
}

// The last row of a [T][C] array becomes the token-shift state for the next call.
void keep_last_row(const std::vector<float>& rows, int T, int C, float* state) {
    const float* last = rows.data() + std::size_t(T - 1) * C;
    std::copy(last, last + C, state);
}

}  // namespace

Workspace::Workspace(const ModelConfig& c, int n) : rows(n) {
    const std::size_t rc = std::size_t(n) * c.n_embd;
    for (auto* b : {&u, &xr, &xw, &xk, &xv, &xa, &xg, &r, &k, &v, &w, &a, &vg, &g, &alpha, &beta,
                    &y, &out, &kx, &v_first})
        b->assign(rc, 0.0f);
    const int rank = std::max({c.lora_decay, c.lora_iclr, c.lora_value, c.lora_gate, 1});
    lora_hidden.assign(std::size_t(n) * rank, 0.0f);
    ffn_hidden.assign(std::size_t(n) * c.ffn_dim, 0.0f);
}

void rwkv_block_forward(const ModelConfig& c, const RwkvBlockWeights& b, bool first, int T,
                        float* x, float* att_shift, float* wkv, float* ffn_shift, Workspace& ws,
                        ThreadPool* pool) {
    const int C = c.n_embd;
    const int H = c.n_head;
    const int N = c.head_size;
    const std::size_t n = std::size_t(T) * C;

    // Time mix (§2.2-§2.4).
    layer_norm(x, T, C, b.ln1_w.data(), b.ln1_b.data(), kLayerNormEps, ws.u.data());
    token_shift_mix(ws.u.data(), att_shift, T, C, b.x_r.data(), ws.xr.data());
    token_shift_mix(ws.u.data(), att_shift, T, C, b.x_w.data(), ws.xw.data());
    token_shift_mix(ws.u.data(), att_shift, T, C, b.x_k.data(), ws.xk.data());
    token_shift_mix(ws.u.data(), att_shift, T, C, b.x_v.data(), ws.xv.data());
    token_shift_mix(ws.u.data(), att_shift, T, C, b.x_a.data(), ws.xa.data());
    token_shift_mix(ws.u.data(), att_shift, T, C, b.x_g.data(), ws.xg.data());
    keep_last_row(ws.u, T, C, att_shift);

    matmul(ws.xr.data(), T, b.receptance, ws.r.data(), pool);
    matmul(ws.xk.data(), T, b.key, ws.k.data(), pool);
    matmul(ws.xv.data(), T, b.value, ws.v.data(), pool);
    float* hidden = ws.lora_hidden.data();
    lora_forward(ws.xw.data(), T, b.w1, b.w2, LoraInner::tanh, hidden, ws.w.data(), pool);
    lora_forward(ws.xa.data(), T, b.a1, b.a2, LoraInner::none, hidden, ws.a.data(), pool);
    lora_forward(ws.xg.data(), T, b.g1, b.g2, LoraInner::sigmoid, hidden, ws.g.data(), pool);
    if (!first) lora_forward(ws.xv.data(), T, b.v1, b.v2, LoraInner::none, hidden, ws.vg.data(), pool);

    const TimeMixVectors vecs{b.w0.data(), b.a0.data(), first ? nullptr : b.v0.data(),
                              b.k_k.data(), b.k_a.data()};
    time_mix_prepare(T, H, N, vecs, first, ws.w.data(), ws.a.data(), ws.k.data(), ws.v.data(),
                     ws.vg.data(), ws.v_first.data(), ws.alpha.data(), ws.beta.data());
    if (T == 1)
        wkv7_step(H, N, ws.r.data(), ws.w.data(), ws.k.data(), ws.v.data(), ws.alpha.data(),
                  ws.beta.data(), wkv, ws.y.data(), pool);
    else
        wkv7_forward(T, H, N, ws.r.data(), ws.w.data(), ws.k.data(), ws.v.data(), ws.alpha.data(),
                     ws.beta.data(), wkv, ws.y.data(), pool);
    group_norm_bonus_gate(T, H, N, ws.y.data(), b.lnx_w.data(), b.lnx_b.data(), kGroupNormEps,
                          ws.r.data(), ws.k.data(), ws.v.data(), b.r_k.data(), ws.g.data(),
                          ws.y.data());
    matmul(ws.y.data(), T, b.output, ws.out.data(), pool);
    add_into(x, ws.out.data(), n);

    // Channel mix (§2.5).
    layer_norm(x, T, C, b.ln2_w.data(), b.ln2_b.data(), kLayerNormEps, ws.u.data());
    channel_mix(ws.u.data(), T, C, ffn_shift, b.ffn_x_k.data(), b.ffn_key, b.ffn_value,
                ws.kx.data(), ws.ffn_hidden.data(), ws.out.data(), pool);
    keep_last_row(ws.u, T, C, ffn_shift);
    add_into(x, ws.out.data(), n);
}

Result<void> attn_block_forward(const ModelConfig& c, const AttnBlockWeights& b,
                                const AttentionOptions& options, KvCache& cache, int T, float* x,
                                float* ffn_shift, Workspace& ws, ThreadPool* pool) {
    const int C = c.n_embd;
    const std::size_t n = std::size_t(T) * C;

    layer_norm(x, T, C, b.ln1_w.data(), b.ln1_b.data(), kLayerNormEps, ws.u.data());
    matmul(ws.u.data(), T, b.query, ws.r.data(), pool);
    matmul(ws.u.data(), T, b.key, ws.k.data(), pool);
    matmul(ws.u.data(), T, b.value, ws.v.data(), pool);
    auto attended = sparse_attention(options, cache, T, C, c.n_head, ws.r.data(), ws.k.data(),
                                     ws.v.data(), ws.u.data(), ws.y.data(), pool);
    if (!attended) return attended.error();
    matmul(ws.y.data(), T, b.output, ws.out.data(), pool);
    add_into(x, ws.out.data(), n);

    layer_norm(x, T, C, b.ln2_w.data(), b.ln2_b.data(), kLayerNormEps, ws.u.data());
    channel_mix(ws.u.data(), T, C, ffn_shift, b.ffn_x_k.data(), b.ffn_key, b.ffn_value,
                ws.kx.data(), ws.ffn_hidden.data(), ws.out.data(), pool);
    keep_last_row(ws.u, T, C, ffn_shift);
    add_into(x, ws.out.data(), n);
    return {};
}

}  // namespace lectern
