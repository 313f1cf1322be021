// forward(): validate a call, then run the embedding, the blocks in the model's order (spec §1.1)
// and the head, on a copy of the recurrent state that is committed only when everything worked.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <new>
#include <string>

#include "attention/kv_cache_mark.h"
#include "cpu/layer_norm.h"
#include "infer/blocks.h"
#include "infer/forward_trace.h"
#include "infer/model_weights.h"
#include "infer/state_impl.h"

namespace lectern {
namespace {

constexpr float kLayerNormEps = 1e-5f;

// Longest run of tokens processed as one matrix product where splitting a call is exact (pure
// RWKV-7, and native attention, which is split-invariant): bounds the scratch memory of long
// prefills. Compat attention depends on where calls start (§3.4), so its calls are never cut.
constexpr int kMaxSegment = 512;

// x[t] = LN0(E[token t]): LN0 is applied per looked-up row rather than folded into the whole
// embedding table at load time (same float math, no vocab x C float copy).
void embed(const ModelWeights& w, int C, const token_id* tokens, int T, float* x) {
    const std::size_t row_bytes = std::size_t(C) * dtype_size(w.emb.dtype);
    const auto* base = static_cast<const std::byte*>(w.emb.data);
    for (int t = 0; t < T; ++t)
        convert_to_f32(w.emb.dtype, base + std::size_t(tokens[t]) * row_bytes,
                       x + std::size_t(t) * C, std::size_t(C));
    layer_norm(x, T, C, w.ln0_w.data(), w.ln0_b.data(), kLayerNormEps, x);
}

Result<void> validate(const State::Impl& s, std::span<const token_id> tokens) {
    const ModelConfig& c = s.model->config();
    if (!s.broken.empty()) return make_error(s.broken);
    if (tokens.empty()) return make_error("forward: no tokens to feed");
    if (tokens.size() > std::size_t(INT_MAX / std::max(1, c.n_embd)))
        return make_error("forward: " + std::to_string(tokens.size()) +
                          " tokens are too many for one call");
    for (std::size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] >= token_id(c.vocab))
            return make_error("token id " + std::to_string(tokens[i]) + " at position " +
                              std::to_string(i) + " is outside the model's vocabulary (" +
                              std::to_string(c.vocab) + ")");
    if (c.n_attn > 0) {
        if (auto ok = check_attention_options(s.attention); !ok) return ok.error();
    }
    return {};
}

// Runs the call on `work` (a copy of the recurrent state). KV caches are appended to as the
// attention blocks run (the caller puts them back if the call fails). `trace` already has room
// for the call.
Result<void> run(State::Impl& s, const Model::Impl& m, std::span<const token_id> tokens,
                 bool all_rows, RecurrentState& work, std::vector<float>& logits,
                 ForwardTrace* trace) {
    const ModelConfig& c = m.config;
    const ModelWeights& w = m.weights;
    const int C = c.n_embd;
    const int V = c.vocab;
    const int T = int(tokens.size());
    ThreadPool* pool = m.pool.get();
    const bool whole = c.n_attn > 0 && s.attention.mode == AttentionMode::compat;
    const int segment = whole ? T : std::min(T, kMaxSegment);

    Workspace ws(c, segment);
    AttentionTrace attention_trace;
    std::vector<float> x(std::size_t(segment) * C);
    logits.assign(std::size_t(all_rows ? T : 1) * V, 0.0f);
    for (int start = 0; start < T; start += segment) {
        const int n = std::min(segment, T - start);
        embed(w, C, tokens.data() + start, n, x.data());
        int ri = 0, ai = 0;
        for (char kind : c.block_order) {
            if (kind == 'R') {
                const std::size_t i = std::size_t(ri);
                rwkv_block_forward(c, w.rwkv[i], ri == 0, n, x.data(), work.att_shift[i].data(),
                                   work.wkv[i].data(), work.ffn_shift[i].data(), ws, pool);
                ++ri;
            } else {
                const std::size_t j = std::size_t(ai);
                auto ok = attn_block_forward(c, w.attn[j], s.attention, s.kv[j], n, x.data(),
                                             work.attn_ffn_shift[j].data(), ws, pool,
                                             trace ? &attention_trace : nullptr);
                if (!ok) return ok.error();
                if (trace) record_trace(attention_trace, ai, start, n, T, *trace);
                ++ai;
            }
        }
        // The head is the biggest product: only for the rows that are returned.
        const bool last = start + n == T;
        if (!all_rows && !last) continue;
        const int first_row = all_rows ? 0 : n - 1;
        const int rows = n - first_row;
        float* normed = ws.u.data();
        layer_norm(x.data() + std::size_t(first_row) * C, rows, C, w.ln_out_w.data(),
                   w.ln_out_b.data(), kLayerNormEps, normed);
        float* dst = logits.data() + (all_rows ? std::size_t(start) * V : 0);
        matmul(normed, rows, w.head, dst, pool);
    }
    return {};
}

}  // namespace

Result<void> warm_up(State& state, int next_tokens) {
    State::Impl& s = state.impl();
    if (!s.broken.empty()) return make_error(s.broken);
    if (next_tokens < 0) return make_error("warm_up: next_tokens must not be negative");
    const Model::Impl& m = s.model->impl();
    std::lock_guard lock(m.mutex);
    const bool compat = m.config.n_attn > 0 && s.attention.mode == AttentionMode::compat;
    if (!m.device || compat) return {};
    return m.device->warm_up(s, next_tokens);
}

bool gpu_lost(const Model& model) {
    const Model::Impl& m = model.impl();
    std::lock_guard lock(m.mutex);
    return m.device && m.device->lost();
}

std::string device_model_note(const Model& model) {
    const Model::Impl& m = model.impl();
    std::lock_guard lock(m.mutex);
    return m.device ? m.device->describe() : std::string();
}

std::string device_memory_note(const State& state) {
    const State::Impl& s = state.impl();
    // Under the model's mutex: another state's call may take this state's pool back.
    std::lock_guard lock(s.model->impl().mutex);
    return s.device ? s.device->memory_note() : std::string();
}

Result<void> forward(State& state, std::span<const token_id> tokens, bool all_rows,
                     std::vector<float>& logits, ForwardTrace* trace) {
    State::Impl& s = state.impl();
    if (auto ok = validate(s, tokens); !ok) return ok.error();
    if (trace) {
        if (auto ok = check_trace(s, *trace); !ok) return ok.error();
    }
    const Model::Impl& m = s.model->impl();
    std::lock_guard lock(m.mutex);

    const int trace_rows = trace ? trace->rows : 0;
    // GPU: every native (or pure RWKV-7) call, traced or not (the device fills the trace rows
    // of its attention blocks). Compat attention has no GPU kernels: it runs on the CPU below,
    // from the host copy of the state (same results to rounding).
    const bool compat = m.config.n_attn > 0 && s.attention.mode == AttentionMode::compat;
    if (m.device && !compat) {
        Result<void> done;
        try {
            if (trace) grow_trace(s, *trace, int(tokens.size()));
            done = m.device->forward(s, tokens, all_rows, logits, trace);
        } catch (const std::bad_alloc&) {
            done = make_error("forward: out of host memory for " + std::to_string(tokens.size()) +
                              " tokens");
        }
        if (!done && trace) shrink_trace(*trace, trace_rows);  // a failed call adds no rows
        return done;
    }
    if (auto ok = s.sync_host(); !ok) return ok.error();

    Result<void> result;
    std::vector<KvCacheMark> marks;
    try {
        // What the KV caches hold now: a call that fails after appending (a corrupt chunk file
        // read by a later segment, no memory) puts them back, so the state is as before.
        marks = mark_caches(s.kv);
        RecurrentState work = s.rec;
        if (trace) grow_trace(s, *trace, int(tokens.size()));
        result = run(s, m, tokens, all_rows, work, logits, trace);
        if (result) {
            s.rec = std::move(work);
            s.position += std::int64_t(tokens.size());
            s.device_rec_valid = false;  // the next GPU call uploads the new state
            return {};
        }
    } catch (const std::bad_alloc&) {
        result = make_error("forward: out of memory for " + std::to_string(tokens.size()) +
                            " tokens");
    }
    if (trace) shrink_trace(*trace, trace_rows);  // a failed call adds no rows
    // The recurrent state is untouched (the call ran on a copy); the KV caches go back to their
    // marks (none were taken when marking itself ran out of memory: nothing was appended then).
    restore_caches(marks, s.kv);
    return result;
}

}  // namespace lectern
