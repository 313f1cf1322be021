// Bookkeeping of a paged KV cache (plain C++, no device code): a pool of chunk-sized slots shared
// by every attention block of one state, a page table per block (chunk -> slot or -1), one LRU
// over (block, chunk) keys, pins for what the current launch reads, and the plan of which chunks
// to load into which slots before a launch. The GPU backend (kernels/model/cuda_kv_pages.cpp)
// performs the loads; tests/cpu/tst_kv_page_planner.cpp emulates them on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

#include "lectern/result.h"

namespace lectern {

struct KvPageKey {
    int block = 0;
    std::int64_t chunk = 0;
    bool operator==(const KvPageKey&) const = default;
};

// Put chunk `chunk` of block `block` into slot `slot` (its previous occupant, if any, is gone).
struct KvPageLoad {
    int block = 0;
    std::int64_t chunk = 0;
    int slot = 0;
};

class KvPagePlanner {
  public:
    explicit KvPagePlanner(int blocks);

    int blocks() const { return int(m_tables.size()); }
    int slot_count() const { return int(m_slot_owner.size()); }
    int free_slots() const { return int(m_free.size()); }
    // Grow the pool by n empty slots (numbered after the existing ones).
    void add_slots(int n);

    int slot_of(int block, std::int64_t chunk) const;
    bool resident(int block, std::int64_t chunk) const { return slot_of(block, chunk) >= 0; }
    // Block's page table for chunks [0, chunks): slot index or -1.
    std::vector<int> page_table(int block, std::int64_t chunks) const;

    // Pinned chunks are never evicted; a launch pins what it reads until unpin_all().
    void pin(int block, std::int64_t chunk);
    bool pinned(int block, std::int64_t chunk) const;
    void unpin_all();
    // Mark a resident chunk most recently used (no-op when absent).
    void touch(int block, std::int64_t chunk);

    // How many of `chunks` (duplicates allowed) are not resident.
    int missing(int block, std::span<const std::int64_t> chunks) const;
    // Make every chunk of `chunks` resident and pinned: the returned loads give free slots first,
    // then slots of least-recently-used unpinned chunks outside the set. Resident members become
    // most recently used (in the order given, so the last is the newest). Fails, changing nothing,
    // when the set plus the chunks already pinned exceed the pool.
    Result<std::vector<KvPageLoad>> plan(int block, std::span<const std::int64_t> chunks);

    // Drop a chunk (its slot becomes free; a pin on it goes too).
    void forget(int block, std::int64_t chunk);
    // Drop every chunk >= first_chunk of `block` (rows the device can no longer trust).
    void forget_from(int block, std::int64_t first_chunk);
    void clear();
    // Drop every chunk and every slot: the pool itself was freed (slot_count() becomes 0).
    void release_slots();

    // Least recently used first (tests, diagnostics).
    std::vector<KvPageKey> lru_order() const;

  private:
    struct Entry {
        int slot = -1;
        bool pinned = false;
        std::list<KvPageKey>::iterator lru;
    };
    static std::uint64_t hash_key(int block, std::int64_t chunk) {
        return (std::uint64_t(std::uint32_t(block)) << 44) ^ std::uint64_t(chunk);
    }
    const Entry* find(int block, std::int64_t chunk) const;
    Entry* find(int block, std::int64_t chunk);
    void set_table(int block, std::int64_t chunk, int slot);

    std::vector<std::vector<int>> m_tables;  // [block][chunk] slot or -1
    std::unordered_map<std::uint64_t, Entry> m_entries;
    std::list<KvPageKey> m_lru;           // front: least recently used
    std::vector<KvPageKey> m_slot_owner;  // [slot] valid when m_slot_used[slot]
    std::vector<char> m_slot_used;
    std::vector<int> m_free;  // free slots, popped from the back
    int m_pinned = 0;
    // Keys pinned since the last unpin_all (some may be gone or unpinned since): unpin_all then
    // visits what a launch pinned, not every resident chunk, on every attention block and token.
    std::vector<std::uint64_t> m_pinned_keys;
};

// A run of consecutive queries [begin, end) launched together.
struct KvQueryRange {
    int begin = 0;
    int end = 0;
};

// The most distinct chunks any one query needs (needs[t] as below): the smallest pool that can
// serve the call.
std::size_t largest_query_need(const std::vector<std::vector<std::int64_t>>& needs);

// Cut queries 0 .. needs.size()-1 into consecutive ranges, as long as possible, whose unions of
// needed chunks (needs[t]: query t's own chunk and every chunk it selected, over all heads;
// duplicates allowed) each hold at most `pool_slots` chunks. An error when a query alone needs
// more: it names the minimum pool (the largest need of any query) and, with `slot_bytes`, the
// memory it takes.
Result<std::vector<KvQueryRange>> split_queries(const std::vector<std::vector<std::int64_t>>& needs,
                                                int pool_slots, std::size_t slot_bytes);

}  // namespace lectern
