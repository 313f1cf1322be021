// Native sparse attention (spec §3.3 extended to a stateful cache). For the query at absolute
// position s, head h: keys = own chunk positions floor(s/B)*B .. s, plus every row of the top
// (K-1) complete earlier chunks ranked by q_{s,h} · mean_{c,h} (unscaled; ties to the lower chunk
// index); softmax with scale 1/8 over the union. Everything depends on absolute positions only:
// a call is cut into segments at chunk boundaries and a chunk completed mid-call is a candidate
// for the rest of the call, exactly as across calls, so one prefill, token-by-token decoding and
// any other split give the same bits. Cost per (query, head): #complete chunks * 64 for scoring,
// at most K * B keys for attention.
#include <algorithm>

#include "attention/attention_kernel.h"
#include "attention/attention_modes.h"

namespace lectern {

void native_attention(const AttentionOptions& options, KvCache::Impl& cache, int T, const float* q,
                      const float* k, const float* v, float* y, ThreadPool* pool,
                      AttentionTrace* trace) {
    const int B = cache.chunk_size();
    const int H = cache.n_head;
    const std::size_t C = std::size_t(cache.n_embd);
    const int n_select = options.top_k - 1;

    for (int t0 = 0; t0 < T;) {
        // One segment = the new tokens of one chunk. Its rows join the float32 tail first; query
        // j of the segment then sees tail rows [0, own_start + j].
        const int own_start = cache.tail_rows;
        const int seg = std::min(T - t0, B - own_start);
        cache.append_tail(k + t0 * C, v + t0 * C, seg, C);
        const int n_candidates = int(cache.store.chunk_count());

        // Tasks are head-major so one thread walks consecutive queries of one head, which mostly
        // select the same chunks (cache reuse).
        auto task = [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin; i < end; ++i) {
                const int h = int(i / std::size_t(seg));
                const int j = int(i % std::size_t(seg));
                const std::size_t t = std::size_t(t0 + j);
                const float* qh = q + t * C + std::size_t(h) * kv_head_dim;

                TopK top(n_select);
                const float* means = cache.store.means(h);
                for (int c = 0; c < n_candidates; ++c)
                    top.push(c, kv_dot64(qh, means + std::size_t(c) * kv_head_dim));

                HeadAttention att(qh);
                for (int s = 0; s < top.size(); ++s)
                    att.add(cache.store.chunk(top.index(s)).head(h));
                att.add(cache.tail_head(h, own_start + j + 1));
                if (trace) {
                    std::int32_t* out =
                        trace->chunks.data() +
                        (t * std::size_t(H) + std::size_t(h)) * std::size_t(trace->width);
                    for (int s = 0; s < top.size(); ++s) out[s] = top.index(s);
                }
                att.finish(y + t * C + std::size_t(h) * kv_head_dim);
            }
        };
        attention_parallel_for(pool, std::size_t(seg) * std::size_t(H), 4, task);
        cache.complete_tail_if_full();
        t0 += seg;
    }
}

}  // namespace lectern
