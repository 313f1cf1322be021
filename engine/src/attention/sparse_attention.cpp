// sparse_attention(): argument validation (nothing is touched on error) and dispatch to the
// native or compat semantics.
#include "attention/sparse_attention.h"

#include <string>

#include "attention/attention_kernel.h"
#include "attention/attention_modes.h"

namespace lectern {

Result<void> validate_attention_options(const AttentionOptions& o, int n_embd, int n_head) {
    if (n_head <= 0 || n_embd != n_head * kv_head_dim)
        return make_error("attention shape C=" + std::to_string(n_embd) +
                          " H=" + std::to_string(n_head) + ": C must be 64 * H");
    if (o.mode != AttentionMode::native && o.mode != AttentionMode::compat)
        return make_error("unknown attention mode");
    if (o.kv_dtype != KvDType::f32 && o.kv_dtype != KvDType::f16 && o.kv_dtype != KvDType::int8)
        return make_error("unknown KV dtype");
    if (o.chunk_size < 1) return make_error("chunk_size must be >= 1");
    if (o.top_k < 1 || o.top_k > TopK::max_k)
        return make_error("top_k must be in [1, " + std::to_string(TopK::max_k) + "]");
    if (o.kv_max < 0 || o.kv_min < 0 || o.kv_window < 0)
        return make_error("kv_max, kv_min and kv_window must be >= 0");
    if (o.kv_max > 0 && o.kv_window >= o.kv_min)
        return make_error("kv_min (" + std::to_string(o.kv_min) + ") must exceed kv_window (" +
                          std::to_string(o.kv_window) + ")");
    return {};
}

Result<void> sparse_attention(const AttentionOptions& options, KvCache& cache, int T, int n_embd,
                              int n_head, const float* q, const float* k, const float* v,
                              const float* ln1, float* y, ThreadPool* pool, AttentionTrace* trace) {
    if (auto valid = validate_attention_options(options, n_embd, n_head); !valid)
        return valid.error();
    if (T < 1) return make_error("sparse attention: no new tokens");
    if (!q || !k || !v || !y) return make_error("sparse attention: missing q, k, v or y");
    KvCache::Impl& c = cache.impl();
    if (c.n_embd != n_embd || c.n_head != n_head)
        return make_error("sparse attention: cache shape C=" + std::to_string(c.n_embd) +
                          " H=" + std::to_string(c.n_head) + " differs from the call's");
    if (c.chunk_size() != options.chunk_size || c.options.kv_dtype != options.kv_dtype)
        return make_error("sparse attention: chunk size or KV dtype differs from the cache's");
    if (options.mode == AttentionMode::native && c.compressed)
        return make_error("sparse attention: native mode needs an uncompressed cache");
    // Compat mode (and its compression) reads chunks in place, from memory only.
    if (options.mode == AttentionMode::compat && c.store.source())
        return make_error("sparse attention: compat mode needs a cache held in memory");
    if (options.mode == AttentionMode::compat && T >= 2 && !ln1 && kv_compression_due(options, c))
        return make_error("sparse attention: compat prefill compression needs the LN1 rows");

    if (trace) {
        trace->width = options.top_k;
        const std::size_t n = std::size_t(T) * std::size_t(n_head) * std::size_t(options.top_k);
        trace->chunks.assign(n, -1);
        trace->weights.assign(n, 0.0f);
    }
    // Native attention may read chunks from disk: an I/O error or a corrupt chunk file fails the
    // call after k, v were appended (the caller puts its caches back: kv_cache_mark.h).
    if (options.mode == AttentionMode::native)
        return native_attention(options, c, T, q, k, v, y, pool, trace);
    compat_attention(options, c, T, q, k, v, ln1, y, pool, trace);
    return {};
}

}  // namespace lectern
