// Native sparse attention (spec §3.3 extended to a stateful cache). For the query at absolute
// position s, head h: keys = own chunk positions floor(s/B)*B .. s, plus every row of the top
// (K-1) complete earlier chunks ranked by q_{s,h} · mean_{c,h} (unscaled; ties to the lower chunk
// index); softmax with scale 1/8 over the union. Everything depends on absolute positions only:
// a call is cut into segments at chunk boundaries and a chunk completed mid-call is a candidate
// for the rest of the call, exactly as across calls, so one prefill, token-by-token decoding and
// any other split give the same bits. Cost per (query, head): #complete chunks * 64 for scoring,
// at most K * B keys for attention.
// Chunks may live on disk (a document store): each selected chunk is acquired (mapped) and kept
// alive while it is read, and each head's CRC checked on first use; the first error stops the
// work and is returned. A segment therefore runs in two passes: every (query, head) selects its
// chunks first, the store is told of all of them at once (ChunkStore::prefetch: files not in
// memory start reading together), and only then are they read, so a reopened document's decode
// waits for the disk about once per segment instead of once per chunk.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <optional>
#include <vector>

#include "attention/attention_kernel.h"
#include "attention/attention_modes.h"

namespace lectern {

namespace {

// The first error of a parallel pass; later ones are dropped.
struct FirstError {
    std::mutex mutex;
    std::optional<Error> error;
    std::atomic<bool> failed{false};

    void record(Error e) {
        std::lock_guard lock(mutex);
        if (!error) error = std::move(e);
        failed.store(true, std::memory_order_relaxed);
    }
};

// Share of the final softmax mass that the rows of one add() received, from the running (max,
// sum) before and after that add and at the end: the add contributed
// sum_after - sum_before * exp(max_before - max_after) at scale max_after.
float mass_share(float max_before, float sum_before, float max_after, float sum_after,
                 float max_final, float sum_final) {
    if (!(sum_final > 0.0f)) return 0.0f;
    double contribution = sum_after;
    if (sum_before > 0.0f)
        contribution -= double(sum_before) * std::exp(double(max_before) - max_after);
    const double share = contribution * std::exp(double(max_after) - max_final) / sum_final;
    if (!(share > 0.0)) return 0.0f;  // rounding below 0, or NaN
    return float(std::min(share, 1.0));
}

}  // namespace

Result<void> native_attention(const AttentionOptions& options, KvCache::Impl& cache, int T,
                              const float* q, const float* k, const float* v, float* y,
                              ThreadPool* pool, AttentionTrace* trace) {
    const int B = cache.chunk_size();
    const int H = cache.n_head;
    const std::size_t C = std::size_t(cache.n_embd);
    const int n_select = options.top_k - 1;
    FirstError first_error;

    // The chunks each (query, head) of a segment selected: chosen[i * n_select + s] for task i
    // (head-major, as below), n_chosen[i] of them. Reused by every segment of the call.
    std::vector<int> chosen;
    std::vector<int> n_chosen;
    std::vector<char> wanted;  // per candidate chunk: chosen by some (query, head)
    std::vector<std::int64_t> announced;

    for (int t0 = 0; t0 < T;) {
        // One segment = the new tokens of one chunk. Its rows join the float32 tail first; query
        // j of the segment then sees tail rows [0, own_start + j].
        const int own_start = cache.tail.rows();
        const int seg = std::min(T - t0, B - own_start);
        cache.append_tail(k + t0 * C, v + t0 * C, seg, C);
        const int n_candidates = int(cache.store.chunk_count());
        const std::size_t n_tasks = std::size_t(seg) * std::size_t(H);
        const float* q_segment = q + std::size_t(t0) * C;

        // Pass 1: selection. Tasks are head-major so one thread walks consecutive queries of one
        // head, which mostly select the same chunks (cache reuse, here and in pass 2).
        chosen.resize(n_tasks * std::size_t(n_select));  // top_k >= 1: validate_attention_options
        n_chosen.resize(n_tasks);
        auto select = [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin; i < end; ++i) {
                const int h = int(i / std::size_t(seg));
                const std::size_t j = i % std::size_t(seg);
                const float* qh = q_segment + j * C + std::size_t(h) * kv_head_dim;
                TopK top(n_select);
                const float* means = cache.store.means(h);
                for (int c = 0; c < n_candidates; ++c)
                    top.push(c, kv_dot64(qh, means + std::size_t(c) * kv_head_dim));
                n_chosen[i] = top.size();
                for (int s = 0; s < top.size(); ++s)
                    chosen[i * std::size_t(n_select) + std::size_t(s)] = top.index(s);
            }
        };
        attention_parallel_for(pool, n_tasks, 4, select);

        // Every chosen chunk that lives only on disk starts reading now, all together (the store
        // skips those held in memory).
        if (cache.store.source()) {
            wanted.assign(std::size_t(n_candidates), 0);
            for (std::size_t i = 0; i < n_tasks; ++i)
                for (int s = 0; s < n_chosen[i]; ++s)
                    wanted[std::size_t(chosen[i * std::size_t(n_select) + std::size_t(s)])] = 1;
            announced.clear();
            for (int c = 0; c < n_candidates; ++c)
                if (wanted[std::size_t(c)]) announced.push_back(c);
            cache.store.prefetch(announced);
        }

        // Pass 2: attention over the chosen chunks and the own chunk.
        auto attend = [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin; i < end; ++i) {
                if (first_error.failed.load(std::memory_order_relaxed)) return;
                const int h = int(i / std::size_t(seg));
                const int j = int(i % std::size_t(seg));
                const std::size_t t = std::size_t(t0 + j);
                const float* qh = q + t * C + std::size_t(h) * kv_head_dim;
                const int* picks = chosen.data() + i * std::size_t(n_select);

                HeadAttention att(qh);
                float before[2][TopK::max_k], after[2][TopK::max_k];  // (max, sum), traced only
                for (int s = 0; s < n_chosen[i]; ++s) {
                    // A resident chunk is kept alive by the store for the whole call; one read
                    // from the source is pinned here until its rows have been added.
                    std::shared_ptr<const KvChunk> pinned;
                    const KvChunk* chunk = cache.store.shared_chunk(picks[s]).get();
                    if (!chunk) {
                        auto got = cache.store.acquire(picks[s]);
                        if (!got) return first_error.record(got.error());
                        pinned = std::move(*got);
                        chunk = pinned.get();
                    }
                    auto rows = chunk->checked_head(h);
                    if (!rows) return first_error.record(rows.error());
                    if (trace) {
                        before[0][s] = att.max();
                        before[1][s] = att.sum();
                    }
                    att.add(*rows);
                    if (trace) {
                        after[0][s] = att.max();
                        after[1][s] = att.sum();
                    }
                }
                att.add(cache.tail_head(h, own_start + j + 1));
                if (trace) {
                    const std::size_t slot =
                        (t * std::size_t(H) + std::size_t(h)) * std::size_t(trace->width);
                    for (int s = 0; s < n_chosen[i]; ++s) {
                        trace->chunks[slot + std::size_t(s)] = picks[s];
                        trace->weights[slot + std::size_t(s)] =
                            mass_share(before[0][s], before[1][s], after[0][s], after[1][s],
                                       att.max(), att.sum());
                    }
                }
                att.finish(y + t * C + std::size_t(h) * kv_head_dim);
            }
        };
        // Grain 1: at decode there are only H tasks, each reading (K-1) whole chunks; grain 4
        // gave 12 heads 3 ranges (8 heads on one of 2 threads, 4 on the other; on 16 cores, 3
        // busy threads). parallel_for still groups a prefill's many tasks into larger ranges.
        attention_parallel_for(pool, n_tasks, 1, attend);
        if (first_error.failed.load()) return *first_error.error;
        cache.complete_tail_if_full();
        t0 += seg;
    }
    return {};
}

}  // namespace lectern
