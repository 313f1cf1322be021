// CudaModel::forward: one engine forward call on the GPU (contract in lectern/inference.h and
// infer/device_backend.h). The state's device copy is made (or refreshed from the host) first;
// the call then runs segment by segment on the work copy of the recurrent state: embedding rows
// converted on the host and normalised on the device, every block, the head for the rows asked
// for. After each segment the new KV rows are copied back into the host caches (so the document
// store, serialize, fork and the CPU path keep working unchanged). The recurrent state is
// committed only when the whole call worked. One-token calls may replay the launches between
// attention blocks from CUDA graphs (RuntimeOptions::cuda_graphs; see decode_graphed).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "attention/kv_cache_mark.h"
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

// LECTERN_CUDA_KV_APPEND=sync: every segment's KV rows are appended to the host caches before the
// next segment runs, as before the overlap (read per call, so that `bench` can time both orders
// in one process).
bool kv_append_in_turn() {
    const char* v = std::getenv("LECTERN_CUDA_KV_APPEND");
    return v && std::strcmp(v, "sync") == 0;
}

// Graphs are opt-in and experimental: say once on stderr why they went off (the call itself
// still succeeds on plain launches), so that a GPU run shows a silent fallback.
void report_graphs_off(const char* step, const char* why) {
    std::fprintf(stderr, "lectern: CUDA graph %s failed (%s); decode continues without graphs\n",
                 step, why);
}
void report_graphs_off(const char* step, cudaError_t e) {
    report_graphs_off(step, cudaGetErrorString(e));
}

}  // namespace

// Each attention block's new rows appended to its host cache; rows[j] holds block j's n keys then
// n values. Blocks in parallel for a prefill segment: each cache is its own object, and at 1,024
// rows of C = 2560 one block's append (copies, f16 rounding and means of completed chunks) is tens
// of milliseconds of host time during which the GPU waits. One-token calls stay on this thread.
Result<void> CudaModel::append_host_rows(State::Impl& s, const std::vector<const float*>& rows,
                                         int n) {
    const std::size_t C = std::size_t(config().n_embd);
    const auto append = [&](std::size_t j) {
        s.kv[j].impl().append(rows[j], rows[j] + std::size_t(n) * C, n, C);
    };
    const std::size_t blocks = rows.size();
    if (blocks < 2 || n < kParallelAppendRows) {
        try {
            for (std::size_t j = 0; j < blocks; ++j) append(j);
        } catch (const std::bad_alloc&) {
            return make_error("out of memory while appending KV rows to the host cache");
        }
        return {};
    }
    std::vector<char> failed(blocks, 0);
    std::vector<std::thread> threads;
    const auto guarded = [&](std::size_t j) {
        try {
            append(j);
        } catch (const std::bad_alloc&) {
            failed[j] = 1;
        }
    };
    try {
        threads.reserve(blocks - 1);
        for (std::size_t j = 1; j < blocks; ++j) threads.emplace_back(guarded, j);
    } catch (const std::system_error&) {
        // No thread to be had: the rest on this thread (those started are joined below).
        for (std::size_t j = threads.size() + 1; j < blocks; ++j) guarded(j);
    }
    guarded(0);
    for (std::thread& t : threads) t.join();
    for (const char f : failed)
        if (f) return make_error("out of memory while appending KV rows to the host cache");
    return {};
}

Result<void> CudaModel::embed(const token_id* tokens, int n) {
    const ModelWeights& w = m_model.weights;
    const int C = config().n_embd;
    const std::size_t row_bytes = std::size_t(C) * dtype_size(w.emb.dtype);
    // The rows are converted on the host (the table stays there), uploaded, normalised on the
    // device. The upload is stream-ordered and asynchronous (it lands after the kernels before it
    // have read x): a synchronous copy made the host wait here for the whole previous segment,
    // and the GPU then for this segment's conversion, upload and first launches.
    const int b = m_embed_next;
    m_embed_next ^= 1;
    // The buffer's last upload is done (an event never recorded is complete).
    LECTERN_CUDA_TRY(cudaEventSynchronize(m_embed_uploaded[b]));
    float* rows = m_embed_rows[b].resize(std::size_t(n) * C);
    if (!rows) return make_error("out of memory for a segment's embedding rows on the host");
    const auto* emb = static_cast<const std::byte*>(w.emb.data);
    for (int t = 0; t < n; ++t)
        lectern::convert_to_f32(w.emb.dtype, emb + std::size_t(tokens[t]) * row_bytes,
                                rows + std::size_t(t) * C, std::size_t(C));
    LECTERN_CUDA_TRY(cudaMemcpyAsync(m_ws.x, rows, std::size_t(n) * C * sizeof(float),
                                     cudaMemcpyHostToDevice, m_stream));
    LECTERN_CUDA_TRY(cudaEventRecord(m_embed_uploaded[b], m_stream));
    return {};
}

Result<void> CudaModel::blocks_and_head(State::Impl& s, CudaState& st, int n, bool want_rows,
                                        bool last_only) {
    const BlockSpan all{0, int(config().block_order.size()), true, want_rows};
    return run_blocks(s, st, all, n, last_only);
}

Result<void> CudaModel::run_blocks(State::Impl& s, CudaState& st, const BlockSpan& span, int n,
                                   bool last_only) {
    const ModelConfig& c = config();
    const int C = c.n_embd;
    if (span.ln0)
        LECTERN_TRY(layer_norm(m_ws.x, n, C, m_ln0_w, m_ln0_b, kLayerNormEps, m_ws.x, m_stream));
    // Blocks of each kind before the span: their indices into the weights and the state.
    int ri = int(std::count(c.block_order.begin(), c.block_order.begin() + span.begin, 'R'));
    int ai = span.begin - ri;
    for (int i = span.begin; i < span.end; ++i) {
        if (c.block_order[std::size_t(i)] == 'R') {
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
    if (!span.head) return {};
    // The head only for the rows returned (it is the biggest product).
    const int first = last_only ? n - 1 : 0;
    const int rows = n - first;
    const float* xr = m_ws.x + std::size_t(first) * C;
    {
        ProfileScope p(ProfileOp::norm, m_stream, "layer norm out");
        LECTERN_TRY(
            layer_norm(xr, rows, C, m_ln_out_w, m_ln_out_b, kLayerNormEps, m_ws.u, m_stream));
    }
    if (rows > m_ws.logit_rows) return {};  // forward() takes them in pieces (head_in_pieces)
    ProfileScope p(ProfileOp::matmul, m_stream, m_head.rows, m_head.cols);
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
                                    bool want_rows, bool last_only, bool graphs) {
    {
        ProfileScope p(ProfileOp::transfer, m_stream, "embedding rows");
        LECTERN_TRY(embed(tokens, n));
    }
    // With graphs (n == 1, so want_rows): the head's one row is row 0 whether or not last_only,
    // so its graph serves both.
    if (graphs) return decode_graphed(s, st, attention_active(config(), s.attention));
    return blocks_and_head(s, st, n, want_rows, last_only);
}

Result<void> CudaModel::head_in_pieces(int rows, float* logits_out) {
    const std::size_t C = std::size_t(config().n_embd), V = std::size_t(config().vocab);
    for (int p = 0; p < rows; p += m_ws.logit_rows) {
        const int n = std::min(m_ws.logit_rows, rows - p);
        {
            ProfileScope scope(ProfileOp::matmul, m_stream, m_head.rows, m_head.cols);
            LECTERN_TRY(matmul(m_matmul, m_ws.u + std::size_t(p) * C, n, m_head, m_ws.logits,
                               m_stream));
        }
        LECTERN_TRY(download_logits(n, logits_out + std::size_t(p) * V));
    }
    return {};
}

Result<void> CudaModel::download_logits(int rows, float* logits_out) {
    // On the legacy stream, so after every launch of the call, graphs included.
    ProfileScope p(ProfileOp::transfer, m_stream, "logits");
    LECTERN_CUDA_TRY(cudaMemcpy(logits_out, m_ws.logits,
                                std::size_t(rows) * std::size_t(config().vocab) * sizeof(float),
                                cudaMemcpyDeviceToHost));
    return {};
}

// Decode graphs. A one-token call is cut into spans at the attention blocks: LN0 + the RWKV
// blocks before the first attention block, the RWKV blocks between two, the RWKV blocks after
// the last + the final LN + head (without active attention, pure RWKV-7 or bypass, the whole call
// is one span). Each span is replayed from a graph captured on its first use, once per state work
// buffer; the attention blocks keep their plain launches, because their arguments change every
// token (position, chunk count, the dense mirror's buffers when they grow, the paged cache's host
// planning, copies and synchronisations).
//
// Why a span's graph stays valid: its launches read and write only the weights and the model's
// workspace (both allocated once, at load: the matmul scratch is reserved there too, and a
// one-token product never uses it), and the state's work buffer (two buffers allocated at the
// first upload, never moved; one graph each), with arguments fixed per model (sizes; the span's
// blocks' `first` flag; the head's single row). Nothing per call (position, KV rows, chunk
// count) reaches an RWKV block or the head. What passes between spans and attention blocks goes
// through the workspace (x, and v_first from RWKV block 0) exactly as with plain launches.
//
// Ordering: capture records on a non-blocking stream of its own (m_capture_stream) in
// thread-local mode, with nothing else issued by this thread meanwhile, so nothing runs and no
// other thread's legacy-stream work is disturbed. The graphs are then LAUNCHED on the legacy
// stream, the stream every plain launch, copy and attention block of the call uses: a graph
// launch is ordered after the embedding upload, work := committed, and the attention blocks
// before it, and before everything after it (the next attention block, its host copies, the
// logits copy), exactly like the launches it replaces. No event or extra synchronisation.
//
// Failures: a capture that cannot start, records an error value, or does not end or instantiate
// cleanly is discarded (nothing of it ran); that span and every later one run with plain
// launches, and graphs stay off for the model (m_graphs_failed). The result is the plain path's.
Result<void> CudaModel::decode_graphed(State::Impl& s, CudaState& st, bool attention) {
    const std::string& order = config().block_order;
    const int blocks = int(order.size());
    const auto run_span = [&](int segment, int segments, const BlockSpan& span) -> Result<void> {
        if (!m_graphs_failed) {
            auto launched = launch_graph(s, st, segment, segments, span);
            if (!launched) return launched.error();
            if (*launched) return {};
        }
        return run_blocks(s, st, span, 1, true);
    };
    if (!attention) return run_span(0, 1, BlockSpan{0, blocks, true, true});
    const int segments =
        int(std::count_if(order.begin(), order.end(), [](char k) { return k != 'R'; })) + 1;
    int segment = 0, begin = 0;
    for (int i = 0; i <= blocks; ++i) {
        if (i < blocks && order[std::size_t(i)] == 'R') continue;
        const BlockSpan run{begin, i, begin == 0, i == blocks};
        if (run.ln0 || run.head || run.end > run.begin)  // two adjacent attention blocks: none
            LECTERN_TRY(run_span(segment, segments, run));
        ++segment;
        if (i < blocks) LECTERN_TRY(run_blocks(s, st, BlockSpan{i, i + 1, false, false}, 1, true));
        begin = i + 1;
    }
    return {};
}

Result<bool> CudaModel::launch_graph(State::Impl& s, CudaState& st, int segment, int segments,
                                     const BlockSpan& span) {
    void*& slot = st.graph_slot(segment, segments);
    if (!slot) {
        if (!m_capture_stream) {
            cudaStream_t created = nullptr;
            if (const cudaError_t e = cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking);
                e != cudaSuccess) {
                cudaGetLastError();
                report_graphs_off("stream creation", e);
                m_graphs_failed = true;
                return false;
            }
            m_capture_stream = created;
        }
        const cudaStream_t cs = m_capture_stream;
        const ProfilePause no_events;  // an event record would join the graph
        cudaGraph_t graph = nullptr;
        if (const cudaError_t e = cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal);
            e != cudaSuccess) {
            cudaGetLastError();
            report_graphs_off("capture start", e);
            m_graphs_failed = true;
            return false;
        }
        m_stream = cs;
        auto recorded = run_blocks(s, st, span, 1, true);
        m_stream = nullptr;
        const cudaError_t ended = cudaStreamEndCapture(cs, &graph);
        cudaGraphExec_t exec = nullptr;
        const cudaError_t made = recorded && ended == cudaSuccess && graph
                                     ? cudaGraphInstantiate(&exec, graph, 0)
                                     : ended;
        if (graph) cudaGraphDestroy(graph);
        if (!recorded || made != cudaSuccess || !exec) {
            cudaGetLastError();  // clear a capture error; the plain path runs this span
            if (recorded)
                report_graphs_off("capture", made);
            else
                report_graphs_off("capture", recorded.error().message.c_str());
            m_graphs_failed = true;
            return false;
        }
        slot = exec;
    }
    // The legacy stream (m_stream outside a capture): see the ordering note above.
    LECTERN_CUDA_TRY(cudaGraphLaunch(static_cast<cudaGraphExec_t>(slot), m_stream));
    return true;
}

CudaState& CudaModel::device_state(State::Impl& s) {
    // The state's device copy: made on its first GPU call, refreshed after CPU calls.
    if (!s.device) {
        s.device = std::make_unique<CudaState>(*this, s.attention.chunk_size);
        s.device_rec_valid = false;
    }
    return static_cast<CudaState&>(*s.device);
}

Result<void> CudaModel::bring_up(State::Impl& s, CudaState& st, int T) {
    if (!s.device_rec_valid) {
        LECTERN_TRY(st.upload(s.rec));  // host copy current: a CPU call or a fresh state
        s.device_rec_valid = true;
        s.host_rec_stale = false;
    }
    // Every attention block's device KV caught up with the host, with room for T more rows:
    // dense mirrors while they fit the budget, else the paged cache (cuda_state_paged.cpp).
    if (attention_active(config(), s.attention)) LECTERN_TRY(st.prepare(s.kv, T));
    return {};
}

Result<void> CudaModel::warm_up(State::Impl& s, int next_tokens) {
    CudaState& st = device_state(s);
    const ActiveState active(m_active, st);
    LECTERN_TRY(bring_up(s, st, next_tokens));
    if (const cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess)
        return make_error(std::string("CUDA error while moving a state to the GPU: ") +
                          cudaGetErrorString(e));
    return {};
}

Result<void> CudaModel::forward(State::Impl& s, std::span<const token_id> tokens, bool all_rows,
                                std::vector<float>& logits, ForwardTrace* trace) {
    const ModelConfig& c = config();
    const int T = int(tokens.size());
    const std::size_t V = std::size_t(c.vocab);
    const bool attention = attention_active(c, s.attention);
    if (attention && s.attention.top_k > sparse_max_top_k)
        return make_error("the GPU's sparse attention supports top-k up to " +
                          std::to_string(sparse_max_top_k) + ", not " +
                          std::to_string(s.attention.top_k) + "; use --backend cpu");

    CudaState& st = device_state(s);
    // This state's pool is in use for the whole call: reclaim_idle_pools must leave it alone.
    const ActiveState active(m_active, st);
    LECTERN_TRY(bring_up(s, st, T));
    LECTERN_TRY(st.begin());

    logits.assign(all_rows ? std::size_t(T) * V : V, 0.0f);
    // What the host KV caches hold now: a call that fails after they took rows puts them back.
    std::vector<KvCacheMark> marks = attention ? mark_caches(s.kv) : std::vector<KvCacheMark>();
    Result<void> result;
    // One-token calls from CUDA graphs when enabled (decode_graphed); the KV rows the attention
    // blocks appended are copied back below as for any call.
    const bool graphs = T == 1 && m_graphs_enabled && !m_graphs_failed;
    // A traced call: the attention blocks record into `trace` (it has room for the call's rows).
    m_trace = TraceTarget{attention ? trace : nullptr, T, 0};
    // A cache in f16 or int8: the CPU reads complete chunks rounded and a query's own chunk in
    // float32, so segments end where chunks do and each chunk they complete is rounded on the
    // device (CudaState::seal_chunk) before a later segment can select it.
    const bool sealing = attention && s.attention.kv_dtype != KvDType::f32;
    const int B = std::max(1, s.attention.chunk_size);
    // The segments' KV rows go to the host caches too (float32, as the CPU appends them): the
    // document store, serialize, fork and the CPU path read them there. With dense mirrors the
    // device needs none of them back (its mirror has the rows, and it seals and averages the
    // chunks they complete itself), so a segment's rows are copied back asynchronously, into one
    // of two host buffers, and appended while the GPU runs the next segment; the GPU no longer
    // waits for the host's copies, f16 rounding and means (run B: 243 of 585 ms at 4K, 3.6B).
    // The paged cache reads earlier rows from the host caches, so there each segment's rows are
    // appended before the next one runs.
    const bool in_turn = kv_append_in_turn();
    std::vector<std::int64_t> call_rows;  // each mirror's rows before the call (for a rollback)
    for (int j = 0; attention && j < c.n_attn; ++j) call_rows.push_back(st.kv(j).rows);
    struct PendingRows {
        int n = 0;
        int buffer = 0;
        std::vector<const float*> rows;  // per block: n keys, then n values
    };
    std::optional<PendingRows> pending;
    const auto append_pending = [&]() -> Result<void> {
        if (!pending) return {};
        const PendingRows p = std::move(*pending);
        pending.reset();
        {
            const HostStepScope wait(HostStep::kv_rows_wait);
            LECTERN_CUDA_TRY(cudaEventSynchronize(m_rows_copied[p.buffer]));
        }
        const HostStepScope step(HostStep::kv_append);
        return append_host_rows(s, p.rows, p.n);
    };
    // A host allocation that fails (a segment's bookkeeping, the paged cache's plans) fails the
    // call like any error, so that the state is put back below.
    try {
        int n = 0;
        for (int start = 0, segment = 0; start < T && result; start += n, ++segment) {
            n = std::min(m_segment_rows, T - start);
            if (sealing) n = std::min(n, B - int((s.position + start) % B));
            const bool last = start + n == T;
            const bool want_rows = all_rows || last;
            m_trace.segment_start = start;
            result = run_segment(s, st, tokens.data() + start, n, want_rows, !all_rows, graphs);
            if (result && attention) {
                PendingRows rows{n, segment & 1, std::vector<const float*>(std::size_t(c.n_attn))};
                for (int j = 0; j < c.n_attn && result; ++j) {
                    auto got = st.new_rows(j, n, rows.buffer);
                    if (!got)
                        result = with_context("copying KV rows back from the GPU", got.error());
                    else
                        rows.rows[std::size_t(j)] = *got;
                }
                if (result) {
                    if (const cudaError_t e = cudaEventRecord(m_rows_copied[rows.buffer], m_stream);
                        e != cudaSuccess)
                        result = make_error(std::string("CUDA error after copying KV rows back: ") +
                                            cudaGetErrorString(e));
                }
                for (int j = 0; j < c.n_attn && result; ++j) st.kv(j).rows += n;
                if (result && (st.paged() || in_turn)) {  // paged: the seal takes the host's means
                    pending = std::move(rows);
                    result = append_pending();
                }
                for (int j = 0; j < c.n_attn && result; ++j) {
                    const KvMirror& kv = st.kv(j);
                    if (!sealing || kv.rows % B != 0) continue;
                    const KvCache::Impl& host = s.kv[std::size_t(j)].impl();
                    if (auto ok = st.seal_chunk(j, host, kv.rows / B - 1); !ok)
                        result = with_context("rounding a KV chunk on the GPU", ok.error());
                }
                // Dense: the previous segment's rows, while the GPU runs this one.
                if (result) result = append_pending();
                if (result && !st.paged() && !in_turn) pending = std::move(rows);
            }
            if (result && want_rows) {
                float* dst = logits.data() + (all_rows ? std::size_t(start) * V : 0);
                const int rows = all_rows ? n : 1;
                const HostStepScope step(HostStep::logits_wait);
                result = rows > m_ws.logit_rows ? head_in_pieces(rows, dst)
                                                : download_logits(rows, dst);
            }
        }
    } catch (const std::bad_alloc&) {
        result = make_error("out of host memory during the forward pass");
    }
    if (result)
        result = append_pending();
    else
        (void)cudaDeviceSynchronize();  // copies into the host row buffers may be in flight
    m_trace = TraceTarget{};
    if (result) {
        // Surface any asynchronous failure before committing.
        if (const cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess)
            result = make_error(std::string("CUDA error during the forward pass: ") +
                                cudaGetErrorString(e));
    }
    if (!result) {
        // The state goes back to what it was: the host caches to their marks, the mirrors to
        // their rows before the call (means and paged slots past them may cover rows to be
        // rewritten). A rounded cache's first segment may have sealed the chunk the call's first
        // rows completed, rounding in a dense mirror the rows before the call too, which a query
        // must see unrounded while their chunk is open: those the next call uploads again, from
        // the host's float32 tail (catch_up). Paged, rollback drops that chunk's slot.
        restore_caches(marks, s.kv);
        for (int j = 0; attention && j < c.n_attn; ++j) {
            std::int64_t keep = call_rows[std::size_t(j)];
            if (sealing && !st.paged()) keep -= keep % B;
            st.kv(j).rows = keep;
            st.rollback(j);
        }
        return result;
    }
    st.commit();
    s.position += T;
    s.host_rec_stale = true;
    return {};
}

}  // namespace lectern::cuda
