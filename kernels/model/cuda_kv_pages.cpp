// KvPages (cuda_kv_pages.h): the slot pool and its growth within the KV budget, page-table
// uploads, and the loads the planner asks for (host chunks through KvUploader, the call's own rows
// device to device).
#include "cuda_kv_pages.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "cuda_check.cuh"
#include "cuda_engine_common.h"

namespace lectern::cuda {

KvPages::KvPages(CudaModel& model, int blocks, int C, int chunk_size)
    : m_model(model),
      m_C(C),
      m_B(std::max(1, chunk_size)),
      m_planner(blocks),
      m_tables(std::size_t(std::max(blocks, 0))),
      m_upload(std::make_unique<KvUploader>(model)) {}

KvPages::~KvPages() {
    m_upload.reset();  // its DMAs finish first
    m_model.release_kv(m_charged);
}

std::size_t KvPages::release_pool() {
    const std::size_t freed = m_charged;
    // Freeing waits for any queued work that still reads the pool.
    m_keys = DeviceBuffer();
    m_values = DeviceBuffer();
    m_model.release_kv(m_charged);
    m_charged = 0;
    m_planner.release_slots();
    return freed;
}

void KvPages::swap_pool(KvPages& other) {
    std::swap(m_planner, other.m_planner);
    std::swap(m_keys, other.m_keys);
    std::swap(m_values, other.m_values);
    std::swap(m_charged, other.m_charged);
}

Result<bool> KvPages::grow(int want, int at_least) {
    const int have = slot_count();
    const std::size_t per_slot = slot_bytes();
    // Slots the budget has room for beside this pool, leaving a little for the chunk means,
    // which grow with the document (C floats per chunk and block: 1/(2B) of a slot).
    const auto room = [&] {
        const std::size_t available = m_model.kv_available();
        const std::size_t reserve = std::max<std::size_t>(available / 64, std::size_t(64) << 10);
        return available > reserve ? (available - reserve) / per_slot : 0;
    };
    std::size_t fits = room();
    // Other states' pools hold the budget: take them back (they are caches of host rows).
    if (fits < std::size_t(std::max(at_least, 0)) && m_model.reclaim_idle_pools() > 0) fits = room();
    int n = int(std::min<std::size_t>(std::size_t(std::max(want, 0)), fits));
    while (n >= at_least && n > have) {
        // The old pool stays charged (and allocated) until its slots are copied.
        if (m_model.charge_kv(std::size_t(n) * per_slot)) {
            auto keys = DeviceBuffer::allocate(std::size_t(n) * per_slot / 2);
            auto values = keys ? DeviceBuffer::allocate(std::size_t(n) * per_slot / 2)
                               : Result<DeviceBuffer>(keys.error());
            if (keys && values) {
                const std::size_t old = std::size_t(have) * per_slot / 2;
                if (old > 0 &&
                    (cudaMemcpyAsync(keys->data(), m_keys.data(), old, cudaMemcpyDeviceToDevice,
                                     m_model.stream()) != cudaSuccess ||
                     cudaMemcpyAsync(values->data(), m_values.data(), old, cudaMemcpyDeviceToDevice,
                                     m_model.stream()) != cudaSuccess)) {
                    m_model.release_kv(std::size_t(n) * per_slot);
                    return make_error("copying the paged KV cache to its larger pool failed");
                }
                // Freeing the old pool waits for the queued work that still reads it.
                m_keys = std::move(*keys);
                m_values = std::move(*values);
                m_model.release_kv(m_charged);
                m_charged = std::size_t(n) * per_slot;
                m_planner.add_slots(n - have);
                return true;
            }
            cudaGetLastError();  // an allocation failure is not sticky; try a smaller pool
            m_model.release_kv(std::size_t(n) * per_slot);
        }
        n = have + (n - have) / 2;
    }
    return false;
}

Result<bool> KvPages::grow_toward(int needed, int at_least, int useful) {
    const int have = slot_count();
    // The first pool takes what every chunk needs, up to the budget (a state turns paged because
    // its rows did not fit, so that is usually the whole budget); later growth doubles, because
    // the old pool must fit beside the new one while it is copied.
    const int want =
        have == 0 ? std::max(useful, needed) : std::max(needed, std::min(useful, 2 * have));
    return grow(want, at_least);
}

Result<void> KvPages::scatter(int j, const CallRows& call) {
    const std::size_t row_bytes = std::size_t(m_C) * sizeof(float);
    for (std::int64_t c = call.p0 / m_B; c * m_B < call.p0 + call.T; ++c) {
        const int slot = m_planner.slot_of(j, c);
        if (slot < 0) continue;
        const std::int64_t from = std::max(c * m_B, call.p0);
        const std::int64_t to = std::min((c + 1) * m_B, call.p0 + call.T);
        const std::size_t dst = std::size_t(from - c * m_B) * m_C;
        const std::size_t src = std::size_t(from - call.p0) * m_C;
        const std::size_t bytes = std::size_t(to - from) * row_bytes;
        LECTERN_CUDA_TRY(cudaMemcpyAsync(slot_keys(slot) + dst, call.keys + src, bytes,
                                         cudaMemcpyDeviceToDevice, m_model.stream()));
        LECTERN_CUDA_TRY(cudaMemcpyAsync(slot_values(slot) + dst, call.values + src, bytes,
                                         cudaMemcpyDeviceToDevice, m_model.stream()));
    }
    return {};
}

Result<void> KvPages::ensure(int j, std::span<const std::int64_t> chunks, const KvCache::Impl& host,
                             const CallRows& call, int useful) {
    const int missing = m_planner.missing(j, chunks);
    if (missing > m_planner.free_slots()) {
        // A larger pool beats evicting while the budget allows.
        const int short_by = missing - m_planner.free_slots();
        const int have = slot_count();
        auto grown = grow_toward(have + short_by, have + short_by, useful);
        if (!grown) return grown.error();
    }
    auto plan = m_planner.plan(j, chunks);
    if (!plan)
        return with_context(
            "the GPU memory budget leaves too little room for the paged KV cache (raise it)",
            plan.error());
    for (const KvPageLoad& l : *plan)
        if (auto ok = load(l, host, call); !ok) {
            // The slot holds a partial chunk: forget it rather than trust it later.
            for (const KvPageLoad& undo : *plan) m_planner.forget(undo.block, undo.chunk);
            return ok;
        }
    return {};
}

Result<void> KvPages::load(const KvPageLoad& l, const KvCache::Impl& host, const CallRows& call) {
    const std::int64_t first = l.chunk * m_B;
    const std::int64_t host_end = std::min(first + m_B, call.p0);
    const std::int64_t call_end = std::min(first + m_B, call.p0 + call.T);
    const std::size_t row_bytes = std::size_t(m_C) * sizeof(float);
    const cudaStream_t stream = m_model.stream();
    if (host_end > first)
        LECTERN_TRY(m_upload->upload(host, first, host_end - first, std::size_t(m_C),
                                     slot_keys(l.slot), slot_values(l.slot)));
    const std::int64_t from = std::max(first, call.p0);
    if (call_end > from) {
        const std::size_t dst = std::size_t(from - first) * m_C;
        const std::size_t src = std::size_t(from - call.p0) * m_C;
        const std::size_t bytes = std::size_t(call_end - from) * row_bytes;
        LECTERN_CUDA_TRY(cudaMemcpyAsync(slot_keys(l.slot) + dst, call.keys + src, bytes,
                                         cudaMemcpyDeviceToDevice, stream));
        LECTERN_CUDA_TRY(cudaMemcpyAsync(slot_values(l.slot) + dst, call.values + src, bytes,
                                         cudaMemcpyDeviceToDevice, stream));
    }
    return {};
}

Result<const int*> KvPages::upload_table(int j, std::int64_t chunks) {
    DeviceBuffer& table = m_tables[std::size_t(j)];
    const std::size_t bytes = std::size_t(std::max<std::int64_t>(chunks, 1)) * sizeof(int);
    if (table.size() < bytes) {
        // Twice the need (at least 4 KiB: 1,024 chunks) from the first: a question's fork makes
        // its own tables, which grew twice within its prompt (an allocation and a free each).
        auto grown = DeviceBuffer::allocate(std::max({2 * bytes, table.size() * 2,
                                                      std::size_t(4096)}));
        if (!grown) return grown.error();
        table = std::move(*grown);
    }
    m_table_host = m_planner.page_table(j, chunks);
    // From pageable memory: the copy is staged before the call returns (so the vector may be
    // rewritten for the next range) and runs after the work queued before it, i.e. after the
    // previous range's attention read the old table.
    if (chunks > 0)
        LECTERN_CUDA_TRY(cudaMemcpyAsync(table.data(), m_table_host.data(),
                                         std::size_t(chunks) * sizeof(int), cudaMemcpyHostToDevice,
                                         m_model.stream()));
    return static_cast<const int*>(table.data());
}

}  // namespace lectern::cuda
