// KvPages: the paged device KV cache of one CudaState, used once the state's dense KV mirrors no
// longer fit the GPU memory budget. KV rows live in chunk-sized slots (B rows x C floats of keys,
// the same of values) of one pool shared by the state's attention blocks; a page table per block
// (a device int per chunk: slot or -1) tells the attention kernel where chunk c lives. Which chunk
// occupies which slot, the LRU and the pins are KvPagePlanner's (engine/src/attention/
// kv_page_planner.h, tested on the CPU); this class moves the bytes: host chunks (from the host
// KvCache, which stays complete, packed as it stores them and widened on the device:
// KvUploader), and the rows of the call in flight from device scratch. The chunk means stay
// dense and resident in the KvMirror.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "attention/kv_cache_impl.h"
#include "attention/kv_page_planner.h"
#include "cuda_kv_upload.h"
#include "cuda_model.h"

namespace lectern::cuda {

// The rows of the call in flight for one attention block: positions [p0, p0 + T) in device
// scratch ([T][C] keys and values); rows before p0 are in the host cache (host.rows() == p0).
struct CallRows {
    std::int64_t p0 = 0;
    int T = 0;
    const float* keys = nullptr;
    const float* values = nullptr;
};

class KvPages {
  public:
    KvPages(CudaModel& model, int blocks, int C, int chunk_size);
    ~KvPages();
    KvPages(const KvPages&) = delete;
    KvPages& operator=(const KvPages&) = delete;

    KvPagePlanner& planner() { return m_planner; }
    int slot_count() const { return m_planner.slot_count(); }
    std::size_t slot_bytes() const { return std::size_t(m_B) * m_C * sizeof(float) * 2; }
    const float* key_pool() const { return static_cast<const float*>(m_keys.data()); }
    const float* value_pool() const { return static_cast<const float*>(m_values.data()); }
    float* slot_keys(int slot) const {
        return static_cast<float*>(m_keys.data()) + std::size_t(slot) * m_B * m_C;
    }
    float* slot_values(int slot) const {
        return static_cast<float*>(m_values.data()) + std::size_t(slot) * m_B * m_C;
    }

    // Free the pool (another state needs the budget; CudaModel::reclaim_idle_pools): every chunk
    // is forgotten and reloaded when next needed. Returns the bytes given back to the budget.
    std::size_t release_pool();
    // Exchange pools with `other` (of the same model and shape): slots, their contents and budget
    // charge, the planner. How a paged state lends its pool to its fork
    // and gets it back (PoolLoan, cuda_state.h); the rows stay where they are on the device.
    void swap_pool(KvPages& other);
    // Grow the pool to the most slots in [at_least, want] that the budget and the device allow
    // (the old pool is copied, so it must fit beside the new one). false: not even `at_least`.
    Result<bool> grow(int want, int at_least);
    // Grow for `needed` slots in all (at least `at_least`), as the growth policy says: the first
    // pool as large as `useful` (every chunk of the state) and the budget allow, then doubling.
    Result<bool> grow_toward(int needed, int at_least, int useful);
    // The call's new rows into the slots of block j's resident chunks they belong to.
    Result<void> scatter(int j, const CallRows& call);
    // Make `chunks` of block j resident and pinned (until planner().unpin_all()): free slots,
    // then a larger pool while the budget allows (up to `useful` slots: every chunk of the state),
    // then the least recently used unpinned chunks' slots. Missing chunks are loaded: rows before
    // call.p0 from the host cache, the call's rows from its scratch.
    Result<void> ensure(int j, std::span<const std::int64_t> chunks, const KvCache::Impl& host,
                        const CallRows& call, int useful);
    // Block j's page table for chunks [0, chunks) on the device (stream-ordered upload).
    Result<const int*> upload_table(int j, std::int64_t chunks);

  private:
    Result<void> load(const KvPageLoad& l, const KvCache::Impl& host, const CallRows& call);

    CudaModel& m_model;
    int m_C = 0, m_B = 1;
    KvPagePlanner m_planner;
    DeviceBuffer m_keys, m_values;  // [slots][B][C] float32 each
    std::size_t m_charged = 0;      // the pool's bytes charged to the model's KV budget
    // Page tables: small (an int per chunk), not charged to the budget.
    std::vector<DeviceBuffer> m_tables;
    std::vector<int> m_table_host;
    // Host chunks come through it (the model's page-locked staging, double-buffered: while the
    // DMA of one chunk runs, the host packs the next). This overlap is all the "prefetch" there
    // is: chunks are loaded when a launch needs them, never guessed ahead.
    std::unique_ptr<KvUploader> m_upload;
};

}  // namespace lectern::cuda
