// CudaModel::forward: one engine forward call on the GPU (contract in lectern/inference.h and
// infer/device_backend.h). The state's device copy is made (or refreshed from the host) first;
// the call then runs segment by segment on the work copy of the recurrent state: embedding rows
// converted on the host and normalised on the device, every block, the head for the rows asked
// for. After each segment the new KV rows are copied back into the host caches (so the document
// store, serialize, fork and the CPU path keep working unchanged). The recurrent state is
// committed only when the whole call worked.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

#include "cuda_blocks.h"
#include "cuda_engine_common.h"
#include "cuda_decode_rwkv.h"
#include "cuda_profile.h"
#include "cuda_check.cuh"
#include "cuda_model.h"
#include "cuda_state.h"
#include "lectern/cuda/layer_norm.h"
#include "lectern/cuda/sparse_attention.h"

namespace lectern::cuda {
namespace {

bool attention_active(const ModelConfig& c, const AttentionOptions& o) {
    return c.n_attn > 0 && !o.bypass;
}

}  // namespace

Result<void> CudaModel::embed(const token_id* tokens, int n) {
    const ModelWeights& w = m_model.weights;
    const int C = config().n_embd;
    const std::size_t row_bytes = std::size_t(C) * dtype_size(w.emb.dtype);
    // The rows are converted on the host (the table stays there), uploaded, normalised on the
    // device.
    m_staging.resize(std::size_t(n) * C);
    const auto* emb = static_cast<const std::byte*>(w.emb.data);
    for (int t = 0; t < n; ++t)
        lectern::convert_to_f32(w.emb.dtype, emb + std::size_t(tokens[t]) * row_bytes,
                                m_staging.data() + std::size_t(t) * C, std::size_t(C));
    LECTERN_CUDA_TRY(cudaMemcpy(m_ws.x, m_staging.data(), std::size_t(n) * C * sizeof(float),
                                cudaMemcpyHostToDevice));
    return {};
}

Result<void> CudaModel::blocks_and_head(State::Impl& s, CudaState& st, int n, bool want_rows,
                                        bool last_only) {
    const ModelConfig& c = config();
    const int C = c.n_embd;
    LECTERN_TRY(layer_norm(m_ws.x, n, C, m_ln0_w, m_ln0_b, kLayerNormEps, m_ws.x, m_stream));
    int ri = 0, ai = 0;
    for (char kind : c.block_order) {
        if (kind == 'R') {
            LECTERN_TRY(rwkv_block_forward(*this, m_rwkv[std::size_t(ri)], ri == 0, n,
                                           st.att_shift(ri), st.wkv(ri), st.ffn_shift(ri)));
            ++ri;
        } else {
            const int p0 = int(st.kv(ai).rows);
            const KvCache::Impl* host =
                std::size_t(ai) < s.kv.size() ? &s.kv[std::size_t(ai)].impl() : nullptr;
            LECTERN_TRY(attn_block_forward(*this, st, ai, m_attn[std::size_t(ai)], s.attention,
                                           host, p0, n, st.attn_ffn_shift(ai)));
            ++ai;
        }
    }
    if (!want_rows) return {};
    // The head only for the rows returned (it is the biggest product).
    const int first = last_only ? n - 1 : 0;
    const int rows = n - first;
    const float* xr = m_ws.x + std::size_t(first) * C;
    {
        ProfileScope p(ProfileOp::norm, m_stream);
        LECTERN_TRY(
            layer_norm(xr, rows, C, m_ln_out_w, m_ln_out_b, kLayerNormEps, m_ws.u, m_stream));
    }
    ProfileScope p(ProfileOp::matmul, m_stream);
    if (rows == 1 && fused_decode_enabled()) {  // the biggest matrix: the faster GEMV
        GemvJob head;
        head.w = m_head;
        head.x = m_ws.u;
        head.y = m_ws.logits;
        return gemv(head, m_stream);
    }
    return matmul(m_matmul, m_ws.u, rows, m_head, m_ws.logits, m_stream);
}

Result<void> CudaModel::run_segment(State::Impl& s, CudaState& st, const token_id* tokens, int n,
                                    bool want_rows, bool last_only, float* logits_out) {
    {
        ProfileScope p(ProfileOp::transfer, m_stream);
        LECTERN_TRY(embed(tokens, n));
    }
    LECTERN_TRY(blocks_and_head(s, st, n, want_rows, last_only));
    if (!want_rows) return {};
    const int rows = last_only ? 1 : n;
    ProfileScope p(ProfileOp::transfer, m_stream);
    LECTERN_CUDA_TRY(cudaMemcpy(logits_out, m_ws.logits,
                                std::size_t(rows) * std::size_t(config().vocab) * sizeof(float),
                                cudaMemcpyDeviceToHost));
    return {};
}

// The graph replays every launch of a one-token call with the pointers it was captured with:
// the weights and workspace (fixed per model) and the state's work buffer (two per state, so one
// graph each). It runs on a non-blocking stream (capturing never touches the legacy stream, which
// other threads may use): an event orders it after the legacy-stream copies before it (work :=
// committed, the embedding row), and the host waits for it before copying the logits.
Result<bool> CudaModel::decode_with_graph(State::Impl& s, CudaState& st, token_id token,
                                          float* logits) {
    if (m_graphs_failed) return false;
    LECTERN_TRY(embed(&token, 1));
    void*& slot = st.graph_slot();
    if (!slot) {
        if (!m_capture_stream) {
            cudaStream_t created = nullptr;
            cudaEvent_t ready = nullptr;
            if (cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking) != cudaSuccess ||
                cudaEventCreateWithFlags(&ready, cudaEventDisableTiming) != cudaSuccess) {
                m_graphs_failed = true;
                return false;
            }
            m_capture_stream = created;
            m_ready = ready;
        }
        const cudaStream_t cs = m_capture_stream;
        const ProfilePause no_events;  // an event record would join the graph
        cudaGraph_t graph = nullptr;
        if (cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
            m_graphs_failed = true;
            return false;
        }
        m_stream = cs;
        auto recorded = blocks_and_head(s, st, 1, true, true);
        m_stream = nullptr;
        const cudaError_t ended = cudaStreamEndCapture(cs, &graph);
        cudaGraphExec_t exec = nullptr;
        const bool ok = recorded && ended == cudaSuccess && graph &&
                        cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
        if (graph) cudaGraphDestroy(graph);
        if (!ok) {
            cudaGetLastError();  // clear a capture error; the plain path runs this call
            m_graphs_failed = true;
            return false;
        }
        slot = exec;
    }
    LECTERN_CUDA_TRY(cudaEventRecord(static_cast<cudaEvent_t>(m_ready), nullptr));
    LECTERN_CUDA_TRY(cudaStreamWaitEvent(m_capture_stream, static_cast<cudaEvent_t>(m_ready), 0));
    LECTERN_CUDA_TRY(cudaGraphLaunch(static_cast<cudaGraphExec_t>(slot), m_capture_stream));
    LECTERN_CUDA_TRY(cudaStreamSynchronize(m_capture_stream));
    LECTERN_CUDA_TRY(cudaMemcpy(logits, m_ws.logits, std::size_t(config().vocab) * sizeof(float),
                                cudaMemcpyDeviceToHost));
    return true;
}

Result<void> CudaModel::forward(State::Impl& s, std::span<const token_id> tokens, bool all_rows,
                                std::vector<float>& logits) {
    const ModelConfig& c = config();
    const int T = int(tokens.size());
    const std::size_t V = std::size_t(c.vocab);
    const bool attention = attention_active(c, s.attention);
    if (attention && s.attention.top_k > sparse_max_top_k)
        return make_error("the GPU's sparse attention supports top-k up to " +
                          std::to_string(sparse_max_top_k) + ", not " +
                          std::to_string(s.attention.top_k) + "; use --backend cpu");

    // The state's device copy: made on its first GPU call, refreshed after CPU calls.
    if (!s.device) {
        s.device = std::make_unique<CudaState>(*this, s.attention.chunk_size);
        s.device_rec_valid = false;
    }
    auto& st = static_cast<CudaState&>(*s.device);
    if (!s.device_rec_valid) {
        LECTERN_TRY(st.upload(s.rec));  // host copy current: a CPU call or a fresh state
        s.device_rec_valid = true;
        s.host_rec_stale = false;
    }
    // Every attention block's device KV caught up with the host, with room for the call: dense
    // mirrors while they fit the budget, else the paged cache (cuda_state_paged.cpp).
    if (attention) LECTERN_TRY(st.prepare(s.kv, T));
    LECTERN_TRY(st.begin());

    logits.assign(all_rows ? std::size_t(T) * V : V, 0.0f);
    bool appended = false;
    Result<void> result;
    bool done = false;
    if (T == 1 && !attention && m_model.runtime.cuda_graphs) {
        auto graphed = decode_with_graph(s, st, tokens[0], logits.data());
        if (!graphed) result = graphed.error();
        else done = *graphed;
    }
    for (int start = 0; start < T && result && !done; start += kSegmentRows) {
        const int n = std::min(kSegmentRows, T - start);
        const bool last = start + n == T;
        float* dst = logits.data() + (all_rows ? std::size_t(start) * V : 0);
        result = run_segment(s, st, tokens.data() + start, n, all_rows || last, !all_rows, dst);
        if (!result || !attention) continue;
        // The segment's KV rows into the host caches too (float32, as the CPU appends them).
        for (int j = 0; j < c.n_attn && result; ++j) {
            KvMirror& kv = st.kv(j);
            auto rows = st.new_rows(j, n);
            if (!rows) {
                result = with_context("copying KV rows back from the GPU", rows.error());
                break;
            }
            const float* hk = *rows;
            const float* hv = hk + std::size_t(n) * c.n_embd;
            s.kv[std::size_t(j)].impl().append(hk, hv, n, std::size_t(c.n_embd));
            kv.rows += n;
            appended = true;
        }
    }
    if (result) {
        // Surface any asynchronous failure before committing.
        if (const cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess)
            result = make_error(std::string("CUDA error during the forward pass: ") +
                                cudaGetErrorString(e));
    }
    if (!result) {
        // Means (and paged slots) past the committed rows may cover rows to be rewritten.
        for (int j = 0; attention && j < c.n_attn; ++j) st.rollback(j);
        if (appended)
            s.broken = "state is unusable after an earlier failed call (" +
                       result.error().message + ")";
        return result;
    }
    st.commit();
    s.position += T;
    s.host_rec_stale = true;
    return {};
}

}  // namespace lectern::cuda
