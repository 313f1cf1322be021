// Compat attention: the official rwkv-x 0.1.3 semantics, W = B * K.
// Prefill (T >= 2, §3.4): T + CT <= W: every cached row plus the new tokens causally; else
// chunk-local causal attention in segments of B aligned to the first token of THIS call, the cache
// ignored. Decode (T == 1, §3.5): CT <= W: every cached row plus itself; else the K chunks (B rows,
// aligned to the cache start) with the best q · mean over all C channels, ONE choice shared by all
// heads, in descending score order, plus the remainder rows plus itself.
// Compression (§3.6) runs first when due; chunk boundaries are then rows of the compressed cache.
#include <algorithm>
#include <vector>

#include "attention/attention_kernel.h"
#include "attention/attention_modes.h"

namespace lectern {

namespace {

// The new tokens' own rows of head h, [first, first + count), straight from the [T][C] inputs.
KvRows input_rows(const float* k, const float* v, std::size_t C, int h, int first, int count) {
    KvRows r;
    r.dtype = KvDType::f32;
    r.k = k + std::size_t(first) * C + std::size_t(h) * kv_head_dim;
    r.v = v + std::size_t(first) * C + std::size_t(h) * kv_head_dim;
    r.stride = C;
    r.count = count;
    return r;
}

void add_whole_cache(HeadAttention& att, const KvCache::Impl& cache, int h) {
    for (std::int64_t c = 0; c < cache.store.chunk_count(); ++c)
        att.add(cache.store.chunk(c).head(h));
    att.add(cache.tail_head(h, cache.tail.rows()));
}

void compat_decode(const AttentionOptions& options, const KvCache::Impl& cache, const float* q,
                   const float* k, const float* v, float* y, ThreadPool* pool,
                   AttentionTrace* trace) {
    const int H = cache.n_head;
    const std::size_t C = std::size_t(cache.n_embd);
    const std::int64_t window = std::int64_t(cache.chunk_size()) * options.top_k;
    const bool full = cache.rows() <= window;

    // One chunk choice for all heads: score_c = sum over heads of q_h · mean_{c,h}. CT > W
    // guarantees at least K complete chunks.
    TopK top(full ? 0 : options.top_k);
    if (!full) {
        for (std::int64_t c = 0; c < cache.store.chunk_count(); ++c) {
            float score = 0.0f;
            for (int h = 0; h < H; ++h)
                score += kv_dot64(q + std::size_t(h) * kv_head_dim,
                                  cache.store.means(h) + std::size_t(c) * kv_head_dim);
            top.push(int(c), score);
        }
    }
    auto task = [&](std::size_t begin, std::size_t end) {
        for (std::size_t hi = begin; hi < end; ++hi) {
            const int h = int(hi);
            HeadAttention att(q + hi * kv_head_dim);
            if (full) {
                add_whole_cache(att, cache, h);
            } else {
                for (int s = 0; s < top.size(); ++s)
                    att.add(cache.store.chunk(top.index(s)).head(h));
                att.add(cache.tail_head(h, cache.tail.rows()));  // the remainder
            }
            att.add(input_rows(k, v, C, h, 0, 1));
            att.finish(y + hi * kv_head_dim);
            if (trace)
                for (int s = 0; s < top.size(); ++s)
                    trace->chunks[hi * std::size_t(trace->width) + std::size_t(s)] = top.index(s);
        }
    };
    attention_parallel_for(pool, std::size_t(H), 1, task);
}

void compat_prefill(const AttentionOptions& options, const KvCache::Impl& cache, int T,
                    const float* q, const float* k, const float* v, float* y, ThreadPool* pool) {
    const int H = cache.n_head;
    const int B = cache.chunk_size();
    const std::size_t C = std::size_t(cache.n_embd);
    const std::int64_t window = std::int64_t(B) * options.top_k;
    const bool full = T + cache.rows() <= window;

    auto task = [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
            const int h = int(i / std::size_t(T));
            const int t = int(i % std::size_t(T));
            HeadAttention att(q + std::size_t(t) * C + std::size_t(h) * kv_head_dim);
            if (full) {
                add_whole_cache(att, cache, h);
                att.add(input_rows(k, v, C, h, 0, t + 1));
            } else {
                const int first = t / B * B;  // segments start at this call's first token
                att.add(input_rows(k, v, C, h, first, t - first + 1));
            }
            att.finish(y + std::size_t(t) * C + std::size_t(h) * kv_head_dim);
        }
    };
    attention_parallel_for(pool, std::size_t(T) * std::size_t(H), 4, task);
}

}  // namespace

void compat_attention(const AttentionOptions& options, KvCache::Impl& cache, int T, const float* q,
                      const float* k, const float* v, const float* ln1, float* y, ThreadPool* pool,
                      AttentionTrace* trace) {
    // The official code votes with the projected q in decode but with the LN1 output rows in
    // prefill (§3.6); sparse_attention() checked that ln1 is there when needed.
    if (kv_compression_due(options, cache))
        compress_kv_cache(options, cache, T, T == 1 ? q : ln1, pool);
    if (T == 1)
        compat_decode(options, cache, q, k, v, y, pool, trace);
    else
        compat_prefill(options, cache, T, q, k, v, y, pool);
    cache.append(k, v, T, std::size_t(cache.n_embd));
}

}  // namespace lectern
