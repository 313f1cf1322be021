// Compat-mode KV-cache management (spec §3.6), triggered at the start of a call when the cache
// holds KT > kv_max rows and KT > kv_min. past = the first KT - kv_window rows, recent = the rest.
// Per head independently: vote_j = sum over queries of softmax_j(Q · K_pastᵀ / 8); keep the
// m = min(kv_min - kv_window, KT - kv_window) best-voted past rows in descending vote order (as
// torch.topk returns them; ties here go to the lower row, torch leaves them unspecified), then
// the recent rows. A cache "row" therefore no longer is one token: each head holds its own rows.
// The result is re-chunked into NEW chunks, so chunks shared with a fork are never modified.
// int8 caches re-quantise the kept rows with the new chunk's scale (a second rounding, at most
// one more half step); f32 and f16 rows are carried over exactly.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "attention/attention_kernel.h"
#include "attention/attention_modes.h"

namespace lectern {

bool kv_compression_due(const AttentionOptions& options, const KvCache::Impl& cache) {
    return options.kv_max > 0 && cache.rows() > options.kv_max && cache.rows() > options.kv_min;
}

namespace {

// Source row (in the old cache) of every new row of head h: kept past rows, then recent rows.
std::vector<std::int64_t> kept_rows(const AttentionOptions& options, const KvCache::Impl& cache,
                                    int h, int QT, const float* queries) {
    const std::int64_t KT = cache.rows();
    const std::int64_t past = KT - options.kv_window;
    const std::int64_t keep = std::min<std::int64_t>(options.kv_min - options.kv_window, past);
    const std::size_t C = std::size_t(cache.n_embd);

    std::vector<float> keys(static_cast<std::size_t>(past) * kv_head_dim);
    for (std::int64_t j = 0; j < past; ++j)
        cache.load_row(h, j, false, keys.data() + std::size_t(j) * kv_head_dim);

    // Votes in double: they are sums of many small probabilities and their ORDER decides which
    // rows share a chunk afterwards.
    std::vector<double> vote(static_cast<std::size_t>(past), 0.0);
    std::vector<float> score(static_cast<std::size_t>(past));
    float qs[kv_head_dim];
    for (int r = 0; r < QT; ++r) {
        const float* qh = queries + std::size_t(r) * C + std::size_t(h) * kv_head_dim;
        for (int d = 0; d < kv_head_dim; ++d) qs[d] = qh[d] * 0.125f;
        float mx = -INFINITY;
        for (std::int64_t j = 0; j < past; ++j) {
            score[std::size_t(j)] = kv_dot64(qs, keys.data() + std::size_t(j) * kv_head_dim);
            mx = std::max(mx, score[std::size_t(j)]);
        }
        double sum = 0.0;
        for (std::int64_t j = 0; j < past; ++j) sum += std::exp(double(score[std::size_t(j)]) - mx);
        for (std::int64_t j = 0; j < past; ++j)
            vote[std::size_t(j)] += std::exp(double(score[std::size_t(j)]) - mx) / sum;
    }

    std::vector<std::int64_t> order(static_cast<std::size_t>(past));
    std::iota(order.begin(), order.end(), std::int64_t(0));
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        return vote[std::size_t(a)] > vote[std::size_t(b)];
    });
    order.resize(std::size_t(keep));
    for (std::int64_t j = past; j < KT; ++j) order.push_back(j);
    return order;
}

}  // namespace

void compress_kv_cache(const AttentionOptions& options, KvCache::Impl& cache, int QT,
                       const float* queries, ThreadPool* pool) {
    const int H = cache.n_head;
    const int B = cache.chunk_size();
    std::vector<std::vector<std::int64_t>> sources(static_cast<std::size_t>(H));
    attention_parallel_for(pool, std::size_t(H), 1, [&](std::size_t begin, std::size_t end) {
        for (std::size_t h = begin; h < end; ++h)
            sources[h] = kept_rows(options, cache, int(h), QT, queries);
    });

    // Gather chunk by chunk from the old cache (still intact) into the new one.
    KvCache::Impl fresh(cache.n_embd, H, cache.options);
    const std::int64_t new_rows = std::int64_t(sources[0].size());
    std::vector<std::vector<float>> bk(static_cast<std::size_t>(H)),
        bv(static_cast<std::size_t>(H));
    std::vector<const float*> kp(static_cast<std::size_t>(H)), vp(static_cast<std::size_t>(H));
    for (std::int64_t r0 = 0; r0 < new_rows; r0 += B) {
        const int n = int(std::min<std::int64_t>(B, new_rows - r0));
        for (int h = 0; h < H; ++h) {
            auto& k = bk[std::size_t(h)];
            auto& v = bv[std::size_t(h)];
            k.resize(std::size_t(n) * kv_head_dim);
            v.resize(std::size_t(n) * kv_head_dim);
            for (int i = 0; i < n; ++i) {
                const std::int64_t src = sources[std::size_t(h)][std::size_t(r0 + i)];
                cache.load_row(h, src, false, k.data() + std::size_t(i) * kv_head_dim);
                cache.load_row(h, src, true, v.data() + std::size_t(i) * kv_head_dim);
            }
            kp[std::size_t(h)] = k.data();
            vp[std::size_t(h)] = v.data();
        }
        if (n == B) {
            fresh.store.append_chunk(
                KvChunk::build(cache.options.kv_dtype, H, B, kp.data(), vp.data()));
        } else {
            fresh.tail.assign(n, kp.data(), vp.data());
        }
    }
    fresh.tokens = cache.tokens;
    fresh.compressed = true;
    cache = std::move(fresh);
}

}  // namespace lectern
