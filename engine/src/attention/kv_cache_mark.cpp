// KvCacheMark (kv_cache_mark.h): undoing a failed call's appends to a KV cache.
#include "attention/kv_cache_mark.h"

#include "attention/kv_cache_impl.h"

namespace lectern {

namespace {

// Compat compression re-packs the cache's rows (row != position afterwards): only a copy can
// undo that. Without compression compat caches are append-only like native ones.
bool may_repack(const KvCache::Impl& c) {
    return c.options.mode == AttentionMode::compat && c.options.kv_max > 0;
}

}  // namespace

KvCacheMark::KvCacheMark(const KvCache& cache)
    : m_chunks(cache.impl().store.chunk_count()),
      m_tokens(cache.impl().tokens),
      m_tail(cache.impl().tail) {
    if (may_repack(cache.impl())) m_copy.emplace(cache.fork());
}

void KvCacheMark::restore(KvCache& cache) {
    if (m_copy) {
        cache = std::move(*m_copy);
        m_copy.reset();
        return;
    }
    KvCache::Impl& c = cache.impl();
    // Chunks the call completed go (their rows are in the marked tail, unrounded); the tail the
    // call appended to is replaced by the marked one, which still reads its own rows only.
    c.store.truncate(m_chunks);
    c.tail = m_tail;
    c.tokens = m_tokens;
}

std::vector<KvCacheMark> mark_caches(const std::vector<KvCache>& caches) {
    std::vector<KvCacheMark> marks;
    marks.reserve(caches.size());
    for (const KvCache& c : caches) marks.emplace_back(c);
    return marks;
}

void restore_caches(std::vector<KvCacheMark>& marks, std::vector<KvCache>& caches) {
    for (std::size_t j = 0; j < marks.size() && j < caches.size(); ++j) marks[j].restore(caches[j]);
}

}  // namespace lectern
