// KvCacheMark: a KvCache as it was before a forward call, put back when the call fails after its
// rows reached the cache (a corrupt chunk file met in a later segment, a GPU fault, no memory), so
// that the state is exactly as before the call instead of unusable.
// Native caches only ever grow, so a mark is their chunk count, row count and tail (whose rows
// are shared, kv_tail.h): O(1) per cache, nothing copied. A compat cache with compression on may
// be re-packed by the call, so it is copied (KvCache::fork: O(chunks); such caches are bounded
// by kv_max).
// Tests: tests/cpu/tst_kv_cache_mark.cpp; on failing calls tests/store/tst_disk_backed_cache.cpp
// (CPU) and tests/emu/tst_cuda_faults_emu.cpp (GPU).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "attention/kv_tail.h"
#include "attention/sparse_attention.h"

namespace lectern {

class KvCacheMark {
public:
    // May throw std::bad_alloc (the copy of a compressing compat cache).
    explicit KvCacheMark(const KvCache& cache);

    // Put `cache`, the one marked, back as it was at the mark. Allocates nothing and cannot fail:
    // a call that only appended is undone by dropping what it appended.
    void restore(KvCache& cache);

private:
    std::int64_t m_chunks = 0;
    std::int64_t m_tokens = 0;
    KvTail m_tail;
    std::optional<KvCache> m_copy;  // compat with compression only
};

// One mark per cache, in order; and every cache put back from its mark.
std::vector<KvCacheMark> mark_caches(const std::vector<KvCache>& caches);
void restore_caches(std::vector<KvCacheMark>& marks, std::vector<KvCache>& caches);

}  // namespace lectern
