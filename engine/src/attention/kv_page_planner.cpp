// KvPagePlanner and split_queries (kv_page_planner.h): slot pool, page tables, one LRU list over
// (block, chunk) keys, pins, load plans, and the cutting of a launch's queries into ranges that
// fit.
#include "attention/kv_page_planner.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <unordered_set>

namespace lectern {

KvPagePlanner::KvPagePlanner(int blocks) : m_tables(std::size_t(std::max(blocks, 0))) {}

void KvPagePlanner::add_slots(int n) {
    if (n <= 0) return;
    const int first = slot_count();
    m_slot_owner.resize(std::size_t(first + n));
    m_slot_used.resize(std::size_t(first + n), 0);
    // Free slots are popped from the back; the new ones go in front, lowest last, so the
    // lowest-numbered slots are used first, which makes plans easy to read in tests.
    std::vector<int> added;
    added.reserve(std::size_t(n));
    for (int slot = first + n - 1; slot >= first; --slot) added.push_back(slot);
    m_free.insert(m_free.begin(), added.begin(), added.end());
}

const KvPagePlanner::Entry* KvPagePlanner::find(int block, std::int64_t chunk) const {
    const auto it = m_entries.find(hash_key(block, chunk));
    return it == m_entries.end() ? nullptr : &it->second;
}

KvPagePlanner::Entry* KvPagePlanner::find(int block, std::int64_t chunk) {
    const auto it = m_entries.find(hash_key(block, chunk));
    return it == m_entries.end() ? nullptr : &it->second;
}

int KvPagePlanner::slot_of(int block, std::int64_t chunk) const {
    if (block < 0 || block >= blocks() || chunk < 0) return -1;
    const auto& t = m_tables[std::size_t(block)];
    return chunk < std::int64_t(t.size()) ? t[std::size_t(chunk)] : -1;
}

void KvPagePlanner::set_table(int block, std::int64_t chunk, int slot) {
    auto& t = m_tables[std::size_t(block)];
    if (std::int64_t(t.size()) <= chunk) t.resize(std::size_t(chunk) + 1, -1);
    t[std::size_t(chunk)] = slot;
}

std::vector<int> KvPagePlanner::page_table(int block, std::int64_t chunks) const {
    std::vector<int> out(std::size_t(std::max<std::int64_t>(chunks, 0)), -1);
    const auto& t = m_tables[std::size_t(block)];
    const std::size_t n = std::min(out.size(), t.size());
    std::copy(t.begin(), t.begin() + std::ptrdiff_t(n), out.begin());
    return out;
}

void KvPagePlanner::pin(int block, std::int64_t chunk) {
    Entry* e = find(block, chunk);
    if (e && !e->pinned) {
        e->pinned = true;
        ++m_pinned;
        m_pinned_keys.push_back(hash_key(block, chunk));
    }
}

bool KvPagePlanner::pinned(int block, std::int64_t chunk) const {
    const Entry* e = find(block, chunk);
    return e && e->pinned;
}

void KvPagePlanner::unpin_all() {
    for (const std::uint64_t key : m_pinned_keys)
        if (const auto it = m_entries.find(key); it != m_entries.end()) it->second.pinned = false;
    m_pinned_keys.clear();
    m_pinned = 0;
}

void KvPagePlanner::touch(int block, std::int64_t chunk) {
    Entry* e = find(block, chunk);
    if (e) m_lru.splice(m_lru.end(), m_lru, e->lru);
}

int KvPagePlanner::missing(int block, std::span<const std::int64_t> chunks) const {
    std::unordered_set<std::int64_t> seen;
    int n = 0;
    for (std::int64_t c : chunks)
        if (seen.insert(c).second && !resident(block, c)) ++n;
    return n;
}

Result<std::vector<KvPageLoad>> KvPagePlanner::plan(int block,
                                                    std::span<const std::int64_t> chunks) {
    if (block < 0 || block >= blocks())
        return make_error("KV page plan: block " + std::to_string(block) + " out of range");
    // Distinct chunks, in the order given.
    std::vector<std::int64_t> want;
    std::unordered_set<std::int64_t> seen;
    for (std::int64_t c : chunks) {
        if (c < 0) return make_error("KV page plan: negative chunk index");
        if (seen.insert(c).second) want.push_back(c);
    }
    int pinned_outside = m_pinned;
    int absent = 0;
    for (std::int64_t c : want) {
        const Entry* e = find(block, c);
        if (!e)
            ++absent;
        else if (e->pinned)
            --pinned_outside;
    }
    const std::size_t need = want.size() + std::size_t(pinned_outside);
    if (need > std::size_t(slot_count()))
        return make_error("KV page plan: " + std::to_string(want.size()) + " chunks plus " +
                          std::to_string(pinned_outside) + " pinned ones do not fit " +
                          std::to_string(slot_count()) + " slots");

    // Pin the resident members first so that eviction below cannot pick them.
    for (std::int64_t c : want)
        if (find(block, c)) pin(block, c);
    std::vector<KvPageLoad> loads;
    loads.reserve(std::size_t(absent));
    for (std::int64_t c : want) {
        if (find(block, c)) {
            touch(block, c);
            continue;
        }
        int slot = -1;
        if (!m_free.empty()) {
            slot = m_free.back();
            m_free.pop_back();
        } else {
            // The least recently used unpinned chunk; one exists by the count above.
            for (auto it = m_lru.begin(); it != m_lru.end(); ++it) {
                if (find(it->block, it->chunk)->pinned) continue;
                slot = find(it->block, it->chunk)->slot;
                forget(it->block, it->chunk);  // frees `slot`; take it back
                m_free.erase(std::find(m_free.begin(), m_free.end(), slot));
                break;
            }
        }
        m_lru.push_back({block, c});
        Entry e;
        e.slot = slot;
        e.lru = std::prev(m_lru.end());
        m_entries.emplace(hash_key(block, c), e);
        pin(block, c);
        set_table(block, c, slot);
        m_slot_owner[std::size_t(slot)] = {block, c};
        m_slot_used[std::size_t(slot)] = 1;
        loads.push_back({block, c, slot});
    }
    return loads;
}

void KvPagePlanner::forget(int block, std::int64_t chunk) {
    const auto it = m_entries.find(hash_key(block, chunk));
    if (it == m_entries.end()) return;
    const int slot = it->second.slot;
    if (it->second.pinned) --m_pinned;
    m_lru.erase(it->second.lru);
    m_entries.erase(it);
    set_table(block, chunk, -1);
    m_slot_used[std::size_t(slot)] = 0;
    m_free.push_back(slot);
}

void KvPagePlanner::forget_from(int block, std::int64_t first_chunk) {
    if (block < 0 || block >= blocks()) return;
    const auto& t = m_tables[std::size_t(block)];
    for (std::int64_t c = std::max<std::int64_t>(first_chunk, 0); c < std::int64_t(t.size()); ++c)
        if (t[std::size_t(c)] >= 0) forget(block, c);
}

void KvPagePlanner::clear() {
    for (int b = 0; b < blocks(); ++b) forget_from(b, 0);
}

void KvPagePlanner::release_slots() {
    clear();
    m_slot_owner.clear();
    m_slot_used.clear();
    m_free.clear();
}

std::vector<KvPageKey> KvPagePlanner::lru_order() const {
    return {m_lru.begin(), m_lru.end()};
}

std::size_t largest_query_need(const std::vector<std::vector<std::int64_t>>& needs) {
    std::size_t most = 0;
    for (const auto& need : needs)
        most = std::max(most, std::unordered_set<std::int64_t>(need.begin(), need.end()).size());
    return most;
}

Result<std::vector<KvQueryRange>> split_queries(const std::vector<std::vector<std::int64_t>>& needs,
                                                int pool_slots, std::size_t slot_bytes) {
    std::vector<KvQueryRange> ranges;
    // The minimum pool is the largest single need; name it, not just the first query over.
    const std::size_t most = largest_query_need(needs);
    if (most > std::size_t(std::max(pool_slots, 0))) {
        char mib[32];
        std::snprintf(mib, sizeof mib, "%.1f MiB",
                      double(most) * double(slot_bytes) / double(1 << 20));
        return make_error("a query needs " + std::to_string(most) +
                          " KV chunks at once (its own and those its heads select) but the paged "
                          "KV cache holds " +
                          std::to_string(pool_slots) + " chunks; at least " + std::to_string(most) +
                          " chunk slots (" + mib +
                          ") are needed: raise the GPU memory budget or lower top-k");
    }
    std::unordered_set<std::int64_t> un;
    int begin = 0;
    for (int t = 0; t < int(needs.size()); ++t) {
        const std::unordered_set<std::int64_t> own(needs[std::size_t(t)].begin(),
                                                   needs[std::size_t(t)].end());
        std::size_t grown = un.size();
        for (std::int64_t c : own) grown += un.count(c) ? 0 : 1;
        if (grown > std::size_t(pool_slots)) {
            ranges.push_back({begin, t});
            begin = t;
            un.clear();
        }
        un.insert(own.begin(), own.end());
    }
    if (begin < int(needs.size())) ranges.push_back({begin, int(needs.size())});
    return ranges;
}

}  // namespace lectern
