// RWKV-7 and sparse attention blocks as chains of CPU ops (see blocks.h).
#include "infer/blocks.h"

#include <algorithm>
#include <cstddef>

#include "attention/sparse_attention.h"
#include "cpu/channel_mix.h"
#include "cpu/group_norm.h"
#include "cpu/layer_norm.h"
#include "cpu/lora.h"
#include "cpu/parallel_rows.h"
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
    // The four LoRAs' hidden rows side by side: their products run as one matmul_group.
    const int ranks = std::max(c.lora_decay, 1) + std::max(c.lora_iclr, 1) +
                      std::max(c.lora_value, 1) + std::max(c.lora_gate, 1);
    lora_hidden.assign(std::size_t(n) * ranks, 0.0f);
    ffn_hidden.assign(std::size_t(n) * c.ffn_dim, 0.0f);
}

void rwkv_block_forward(const ModelConfig& c, const RwkvBlockWeights& b, bool first, int T,
                        float* x, float* att_shift, float* wkv, float* ffn_shift, Workspace& ws,
                        ThreadPool* pool) {
    const int C = c.n_embd;
    const int H = c.n_head;
    const int N = c.head_size;
    const std::size_t n = std::size_t(T) * C;

    const std::size_t sc = std::size_t(C);

    // Time mix (§2.2-§2.4). Row-wise ops run over token ranges on the pool (parallel_rows.h).
    parallel_rows(pool, T, [&](int t0, int t1) {
        const std::size_t o = t0 * sc;
        layer_norm(x + o, t1 - t0, C, b.ln1_w.data(), b.ln1_b.data(), kLayerNormEps,
                   ws.u.data() + o);
    });
    parallel_rows(pool, T, [&](int t0, int t1) {
        const std::size_t o = t0 * sc;
        const float* u = ws.u.data() + o;
        const float* prev = t0 == 0 ? att_shift : u - sc;
        const int rows = t1 - t0;
        token_shift_mix(u, prev, rows, C, b.x_r.data(), ws.xr.data() + o);
        token_shift_mix(u, prev, rows, C, b.x_w.data(), ws.xw.data() + o);
        token_shift_mix(u, prev, rows, C, b.x_k.data(), ws.xk.data() + o);
        token_shift_mix(u, prev, rows, C, b.x_v.data(), ws.xv.data() + o);
        token_shift_mix(u, prev, rows, C, b.x_a.data(), ws.xa.data() + o);
        token_shift_mix(u, prev, rows, C, b.x_g.data(), ws.xg.data() + o);
    });
    keep_last_row(ws.u, T, C, att_shift);

    // r, k, v and the four LoRA down products read different inputs but are independent: one
    // group; then the nonlinearities; then the four up products as a second group.
    float* hw = ws.lora_hidden.data();
    float* ha = hw + std::size_t(T) * b.w1.rows;
    float* hg = ha + std::size_t(T) * b.a1.rows;
    float* hv = hg + std::size_t(T) * b.g1.rows;
    const MatmulJob down[] = {{ws.xr.data(), &b.receptance, ws.r.data()},
                              {ws.xk.data(), &b.key, ws.k.data()},
                              {ws.xv.data(), &b.value, ws.v.data()},
                              {ws.xw.data(), &b.w1, hw},
                              {ws.xa.data(), &b.a1, ha},
                              {ws.xg.data(), &b.g1, hg},
                              {ws.xv.data(), &b.v1, hv}};
    const std::size_t n_down = first ? 6 : 7;  // block 0 has no value-residual LoRA
    matmul_group(down, n_down, T, pool);
    parallel_rows(pool, T, [&](int t0, int t1) {
        const std::size_t rows = std::size_t(t1 - t0);
        lora_inner(LoraInner::tanh, hw + t0 * std::size_t(b.w1.rows), rows * b.w1.rows);
        lora_inner(LoraInner::sigmoid, hg + t0 * std::size_t(b.g1.rows), rows * b.g1.rows);
    });
    const MatmulJob up[] = {{hw, &b.w2, ws.w.data()},
                            {ha, &b.a2, ws.a.data()},
                            {hg, &b.g2, ws.g.data()},
                            {hv, &b.v2, ws.vg.data()}};
    matmul_group(up, first ? 3 : 4, T, pool);

    const TimeMixVectors vecs{b.w0.data(), b.a0.data(), first ? nullptr : b.v0.data(),
                              b.k_k.data(), b.k_a.data()};
    parallel_rows(pool, T, [&](int t0, int t1) {
        const std::size_t o = t0 * sc;
        time_mix_prepare(t1 - t0, H, N, vecs, first, ws.w.data() + o, ws.a.data() + o,
                         ws.k.data() + o, ws.v.data() + o, ws.vg.data() + o,
                         ws.v_first.data() + o, ws.alpha.data() + o, ws.beta.data() + o);
    });
    if (T == 1)
        wkv7_step(H, N, ws.r.data(), ws.w.data(), ws.k.data(), ws.v.data(), ws.alpha.data(),
                  ws.beta.data(), wkv, ws.y.data(), pool);
    else
        wkv7_forward(T, H, N, ws.r.data(), ws.w.data(), ws.k.data(), ws.v.data(), ws.alpha.data(),
                     ws.beta.data(), wkv, ws.y.data(), pool);
    parallel_rows(pool, T, [&](int t0, int t1) {
        const std::size_t o = t0 * sc;
        group_norm_bonus_gate(t1 - t0, H, N, ws.y.data() + o, b.lnx_w.data(), b.lnx_b.data(),
                              kGroupNormEps, ws.r.data() + o, ws.k.data() + o, ws.v.data() + o,
                              b.r_k.data(), ws.g.data() + o, ws.y.data() + o);
    });
    matmul(ws.y.data(), T, b.output, ws.out.data(), pool);

    // Channel mix (§2.5).
    parallel_rows(pool, T, [&](int t0, int t1) {
        const std::size_t o = t0 * sc;
        add_into(x + o, ws.out.data() + o, std::size_t(t1 - t0) * sc);
        layer_norm(x + o, t1 - t0, C, b.ln2_w.data(), b.ln2_b.data(), kLayerNormEps,
                   ws.u.data() + o);
    });
    channel_mix(ws.u.data(), T, C, ffn_shift, b.ffn_x_k.data(), b.ffn_key, b.ffn_value,
                ws.kx.data(), ws.ffn_hidden.data(), ws.out.data(), pool);
    keep_last_row(ws.u, T, C, ffn_shift);
    add_into(x, ws.out.data(), n);
}

Result<void> attn_block_forward(const ModelConfig& c, const AttnBlockWeights& b,
                                const AttentionOptions& options, KvCache& cache, int T, float* x,
                                float* ffn_shift, Workspace& ws, ThreadPool* pool,
                                AttentionTrace* trace) {
    const int C = c.n_embd;
    const std::size_t n = std::size_t(T) * C;

    if (!options.bypass) {
        layer_norm(x, T, C, b.ln1_w.data(), b.ln1_b.data(), kLayerNormEps, ws.u.data());
        const MatmulJob qkv[] = {{ws.u.data(), &b.query, ws.r.data()},
                                 {ws.u.data(), &b.key, ws.k.data()},
                                 {ws.u.data(), &b.value, ws.v.data()}};
        matmul_group(qkv, 3, T, pool);
        auto attended = sparse_attention(options, cache, T, C, c.n_head, ws.r.data(),
                                         ws.k.data(), ws.v.data(), ws.u.data(), ws.y.data(), pool,
                                         trace);
        if (!attended) return attended.error();
        matmul(ws.y.data(), T, b.output, ws.out.data(), pool);
        add_into(x, ws.out.data(), n);
    }

    layer_norm(x, T, C, b.ln2_w.data(), b.ln2_b.data(), kLayerNormEps, ws.u.data());
    channel_mix(ws.u.data(), T, C, ffn_shift, b.ffn_x_k.data(), b.ffn_key, b.ffn_value,
                ws.kx.data(), ws.ffn_hidden.data(), ws.out.data(), pool);
    keep_last_row(ws.u, T, C, ffn_shift);
    add_into(x, ws.out.data(), n);
    return {};
}

}  // namespace lectern
