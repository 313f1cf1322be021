// The two attention semantics behind sparse_attention() (spec §3.2), and compat-mode KV-cache
// management (§3.6). Each assumes sparse_attention() validated its arguments.
#pragma once

#include "attention/kv_cache_impl.h"

namespace lectern {

// Native (MoBA, §3.3, made stateful): own chunk causal + top-(K-1) complete earlier chunks per
// (query, head), chunks at absolute positions. Appends k, v as it goes. Chunks not in memory are
// read through the store's source; the first read error (naming the file) is returned, with the
// cache then holding the call's rows.
Result<void> native_attention(const AttentionOptions& options, KvCache::Impl& cache, int T, const float* q,
                      const float* k, const float* v, float* y, ThreadPool* pool,
                      AttentionTrace* trace);

// Compat (rwkv-x 0.1.3): compression when due (§3.6), then prefill (§3.4, T >= 2) or decode
// (§3.5, T == 1), then k, v appended.
void compat_attention(const AttentionOptions& options, KvCache::Impl& cache, int T, const float* q,
                      const float* k, const float* v, const float* ln1, float* y, ThreadPool* pool,
                      AttentionTrace* trace);

// Whether §3.6 compression triggers at the start of a call with this cache.
bool kv_compression_due(const AttentionOptions& options, const KvCache::Impl& cache);

// §3.6: keep the min(kv_min - kv_window, past) best-voted past rows per head (descending vote,
// ties to the lower row) then the kv_window most recent rows, re-chunked into new chunks (chunks
// shared with forks are never modified). queries: [QT][C].
void compress_kv_cache(const AttentionOptions& options, KvCache::Impl& cache, int QT,
                       const float* queries, ThreadPool* pool);

}  // namespace lectern
