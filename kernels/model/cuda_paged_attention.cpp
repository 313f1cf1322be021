// The attention sublayer of one attention block over the paged KV cache (cuda_kv_pages.h): the
// new rows stay in workspace scratch and go into their chunks' slots, the means of the chunks they
// complete are computed, stage 1 selects, its choices come to the host (the one sync per launch),
// the planner makes each range of queries' chunks resident, and stage 2 reads rows through the
// page table. Same rows and means as the dense path, so the same selections and outputs.
#include <cuda_runtime.h>

#include <algorithm>
#include <unordered_set>
#include <vector>

#include "cuda_blocks.h"
#include "cuda_check.cuh"
#include "cuda_engine_common.h"
#include "cuda_profile.h"
#include "lectern/cuda/sparse_attention.h"

namespace lectern::cuda {

Result<void> paged_attention(CudaModel& m, CudaState& st, int j, const DeviceAttnBlock& b,
                             const AttentionOptions& options, const KvCache::Impl& host, int p0,
                             int T) {
    const ModelConfig& c = m.config();
    const std::size_t C = std::size_t(c.n_embd);
    const int H = c.n_head, B = options.chunk_size, K = options.top_k;
    const DeviceWorkspace& ws = m.workspace();
    KvMirror& kv = st.kv(j);
    KvPages& pages = st.pages();
    if (host.rows() != p0 || kv.mean_chunks != p0 / B)
        return make_error("paged KV cache out of step with the host cache (" +
                          std::to_string(host.rows()) + " host rows, call at " +
                          std::to_string(p0) + ")");

    // q, and the new rows into scratch (ws.k, ws.v are free during an attention block).
    LECTERN_TRY(matmul(m.matmul_context(), ws.u, T, b.query, ws.r, m.stream()));
    LECTERN_TRY(matmul(m.matmul_context(), ws.u, T, b.key, ws.k, m.stream()));
    LECTERN_TRY(matmul(m.matmul_context(), ws.u, T, b.value, ws.v, m.stream()));
    const CallRows call{p0, T, ws.k, ws.v};
    LECTERN_TRY(st.keep_new_rows(j, ws.k, ws.v, T));  // for the host cache, after the segment
    LECTERN_TRY(pages.scatter(j, call));
    const int useful = st.useful_slots(std::int64_t(p0) + T);

    // Means of the chunks these rows complete, candidates for the later queries of the call (as
    // on the CPU). A chunk begun before p0 is averaged in its slot; the others in scratch.
    SparseAttentionShape one;
    one.n_head = H;
    one.chunk_size = B;
    one.top_k = 1;
    float* means = static_cast<float*>(kv.means.data());
    const std::int64_t complete = (std::int64_t(p0) + T) / B;
    std::int64_t first = kv.mean_chunks;
    if (first < complete && first * B < p0) {
        const std::int64_t straddling[] = {first};
        LECTERN_TRY(pages.ensure(j, straddling, host, call, useful));
        const int slot = pages.planner().slot_of(j, first);
        auto ok = chunk_means(pages.slot_keys(slot), one, 0, 1, means + std::size_t(first) * C,
                              m.stream());
        pages.planner().unpin_all();
        LECTERN_TRY(ok);
        ++first;
    }
    if (first < complete)
        LECTERN_TRY(chunk_means(ws.k + std::size_t(first * B - p0) * C, one, 0,
                                int(complete - first), means + std::size_t(first) * C, m.stream()));
    kv.mean_chunks = complete;

    SparseAttentionShape shape;
    shape.n_head = H;
    shape.chunk_size = B;
    shape.top_k = K;
    const int per_query = H * (K - 1);
    std::vector<int> selected(std::size_t(T) * std::size_t(per_query));
    if (K > 1) {
        LECTERN_TRY(sparse_attention_select(ws.r, T, p0, means, shape, ws.selected, m.stream()));
        const HostStepScope wait(HostStep::selection_wait);
        LECTERN_CUDA_TRY(cudaMemcpy(selected.data(), ws.selected, selected.size() * sizeof(int),
                                    cudaMemcpyDeviceToHost));
    }
    const HostStepScope paging(HostStep::paging);
    // Each query reads its own chunk and the chunks its heads chose.
    std::vector<std::vector<std::int64_t>> needs(static_cast<std::size_t>(T));
    std::unordered_set<std::int64_t> all;
    for (int t = 0; t < T; ++t) {
        auto& need = needs[std::size_t(t)];
        need.push_back((std::int64_t(p0) + t) / B);
        for (int i = 0; i < per_query; ++i)
            if (const int chosen = selected[std::size_t(t) * per_query + i]; chosen >= 0)
                need.push_back(chosen);
        all.insert(need.begin(), need.end());
    }
    // The chunks to come from the host: those of a document store start reading from disk now,
    // all at once, while the first ones are staged (ChunkStore::prefetch).
    std::vector<std::int64_t> cold;
    for (const std::int64_t chunk : all)
        if (!pages.planner().resident(j, chunk)) cold.push_back(chunk);
    std::sort(cold.begin(), cold.end());
    host.store.prefetch(cold);
    if (int(all.size()) > pages.slot_count()) {
        // Room for the whole call if the budget has it; otherwise the split below copes, given
        // a pool that holds the largest query's chunks. So a pool smaller than that must reach
        // it or not grow at all: a pool taken back by another state (reclaim_idle_pools) starts
        // again from nothing, and growing it slot by slot into what the budget's rest happens
        // to hold would stop short of a usable pool without taking back the other's.
        const int have = pages.slot_count();
        const int least = std::max(have + 1, int(largest_query_need(needs)));
        auto grown = pages.grow_toward(int(all.size()), least, useful);
        if (!grown) return grown.error();
    }
    auto ranges = split_queries(needs, pages.slot_count(), pages.slot_bytes());
    if (!ranges)
        return with_context("sparse attention over the paged GPU KV cache", ranges.error());
    const std::int64_t table_chunks = (std::int64_t(p0) + T + B - 1) / B;
    std::vector<std::int64_t> range_needs;
    for (const KvQueryRange& r : *ranges) {
        range_needs.clear();
        for (int t = r.begin; t < r.end; ++t)
            range_needs.insert(range_needs.end(), needs[std::size_t(t)].begin(),
                               needs[std::size_t(t)].end());
        LECTERN_TRY(pages.ensure(j, range_needs, host, call, useful));
        auto table = pages.upload_table(j, table_chunks);
        if (!table) return table.error();
        const int n = r.end - r.begin;
        const auto scratch =
            m.attention_scratch(sparse_attention_scratch_bytes(n, p0 + r.begin, shape));
        auto ok = sparse_attention_attend_paged(
            ws.r + std::size_t(r.begin) * C, n, p0 + r.begin, pages.key_pool(), pages.value_pool(),
            *table, K > 1 ? ws.selected + std::size_t(r.begin) * per_query : nullptr, shape,
            ws.y + std::size_t(r.begin) * C, m.stream(), scratch);
        // A traced call: the chunks' softmax shares while the range's chunks are still pinned.
        if (ok && m.tracing() && K > 1)
            ok = sparse_attention_chunk_weights(
                ws.r + std::size_t(r.begin) * C, n, p0 + r.begin, pages.key_pool(), *table,
                ws.selected + std::size_t(r.begin) * per_query, shape,
                ws.trace_weights + std::size_t(r.begin) * per_query, m.stream());
        pages.planner().unpin_all();
        LECTERN_TRY(ok);
    }
    if (m.tracing()) return m.record_trace_rows(j, T, K, ws.selected, ws.trace_weights);
    return {};
}

}  // namespace lectern::cuda
