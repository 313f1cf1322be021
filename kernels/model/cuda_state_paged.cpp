// CudaState's choice between dense KV mirrors and the paged KV cache, and the paged mode's own
// upkeep: the switch, catching up with the host cache (means of chunks the device has not seen,
// stale slots dropped), the growth of the means, the rows kept for the host, the rollback.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include "cuda_check.cuh"
#include "cuda_engine_common.h"
#include "cuda_state.h"
#include "lectern/cuda/kv_seal.h"
#include "lectern/cuda/sparse_attention.h"

namespace lectern::cuda {

Result<void> CudaState::prepare(const std::vector<KvCache>& hosts, int T) {
    // Mirrors lent to a fork come back first (the fork, not in a call now, uploads its own
    // next time); if they cannot, they are uploaded again.
    take_back(true);
    take_back_pool();  // a lent pool likewise (the fork's next call loads what it needs)
    if (!m_pages) {
        Result<void> dense;
        m_reserve_failed = false;
        for (std::size_t j = 0; j < m_kv.size() && dense; ++j) {
            const KvCache::Impl& host = hosts[j].impl();
            dense = catch_up(int(j), host);
            if (dense) dense = reserve(int(j), host.rows() + T);
        }
        if (dense) return {};
        // Only "does not fit" switches; anything else (a corrupt chunk file) is the call's error.
        if (!m_reserve_failed) return dense;
        if (auto ok = switch_to_paged(); !ok) return ok;
    }
    // A first pool sized for the whole call, not its first segment, saves regrowing it.
    m_call_end = hosts.empty() ? 0 : hosts[0].impl().rows() + T;
    for (std::size_t j = 0; j < m_kv.size(); ++j)
        if (auto ok = paged_catch_up(int(j), hosts[j].impl(), T); !ok) return ok;
    return {};
}

std::string CudaState::memory_note() const {
    if (m_kv.empty()) return "the recurrent state on the GPU (no attention blocks)";
    if (!m_pages) {
        std::string note =
            "KV rows on the GPU: " + memory_size(kv_bytes()) + " (every chunk resident";
        if (lending()) note += "; lent to a fork";
        for (const KvMirror& k : m_kv)
            if (k.borrowed) {
                note += "; the rows of the state it was forked from, in place";
                break;
            }
        return note + ")";
    }
    const KvPages* pages = m_pages.get();
    if (m_pool_lent) {
        std::lock_guard lock(m_pool_lent->lock);
        if (m_pool_lent->borrower)
            return "paged KV cache on the GPU: its chunk slots lent to a fork";
        // Given back by the fork, not taken yet.
        if (m_pool_lent->returned) pages = m_pool_lent->returned.get();
    }
    const int slots = pages->slot_count();
    std::string note = "paged KV cache on the GPU: " + std::to_string(slots) + " chunk slots (" +
                       memory_size(std::size_t(slots) * pages->slot_bytes()) + ") for " +
                       std::to_string(useful_slots(0)) +
                       " chunks of the attention blocks; the others are read from RAM or disk "
                       "when selected";
    if (borrows_pool()) note += " (the slots of the state it was forked from, in place)";
    return note;
}

int CudaState::useful_slots(std::int64_t rows) const {
    const std::int64_t end = std::max(rows, m_call_end);
    const std::int64_t per_block = (end + m_chunk_size - 1) / m_chunk_size;
    return int(std::min<std::int64_t>(per_block * std::int64_t(m_kv.size()), 1 << 30));
}

Result<void> CudaState::switch_to_paged() {
    // Borrowed mirrors go back to their lender, means too (uploaded again from the host).
    give_back_all(false);
    // The dense rows go (the host has them all); the means stay, with only their bytes charged.
    for (KvMirror& k : m_kv) {
        m_model.release_kv(k.charged);
        k.keys = DeviceBuffer();
        k.values = DeviceBuffer();
        k.capacity = 0;
        k.charged = std::size_t(k.mean_capacity) * m_C * sizeof(float);
        if (auto ok = m_model.charge_kv(k.charged); !ok) {  // less than before: cannot fail
            k.charged = 0;
            return ok;
        }
    }
    m_pages = std::make_unique<KvPages>(m_model, int(m_kv.size()), int(m_C), m_chunk_size);
    return {};
}

Result<void> CudaState::reserve_means(int j, std::int64_t chunks) {
    KvMirror& k = m_kv[std::size_t(j)];
    if (chunks <= k.mean_capacity) return {};
    const std::size_t row_bytes = m_C * sizeof(float);
    std::int64_t cap = KvMirror::grown_mean_capacity(k.mean_capacity, chunks);
    // The old buffer stays charged until its means are copied.
    if (!m_model.charge_kv(std::size_t(cap) * row_bytes)) {
        cap = chunks;
        if (auto ok = m_model.charge_kv(std::size_t(cap) * row_bytes); !ok) return ok;
    }
    auto means = DeviceBuffer::allocate(std::size_t(cap) * row_bytes);
    if (!means) {
        m_model.release_kv(std::size_t(cap) * row_bytes);
        return means.error();
    }
    if (k.mean_chunks > 0 &&
        cudaMemcpy(means->data(), k.means.data(), std::size_t(k.mean_chunks) * row_bytes,
                   cudaMemcpyDeviceToDevice) != cudaSuccess) {
        m_model.release_kv(std::size_t(cap) * row_bytes);
        return make_error("copying the chunk means to their larger buffer failed");
    }
    k.means = std::move(*means);
    m_model.release_kv(k.charged);
    k.charged = std::size_t(cap) * row_bytes;
    k.mean_capacity = cap;
    return {};
}

Result<void> CudaState::paged_catch_up(int j, const KvCache::Impl& host, int T) {
    KvMirror& k = m_kv[std::size_t(j)];
    if (host.compressed)
        return make_error("a compressed (compat) KV cache cannot run native attention");
    const std::int64_t want = host.rows();
    const int B = m_chunk_size;
    if (want != k.rows) {
        // Rows changed behind the device's back (a CPU call appended, or a state was replaced):
        // the chunk that was partial may have a stale slot; complete chunks never change.
        const std::int64_t known = std::min(want, k.rows);
        m_pages->planner().forget_from(j, known / B);
        k.mean_chunks = std::min(k.mean_chunks, known / B);
    }
    if (auto ok = reserve_means(j, (want + T) / B + 1); !ok) {
        // The means must grow and the budget is held by this state's own pool (one borrowed from
        // the state it was forked from fills what that state left): the pool is a cache of host
        // rows and no launch has pinned its slots yet, so it goes, and regrows in what is left.
        if (m_pages->slot_count() == 0) return ok;
        m_pages->release_pool();
        if (auto again = reserve_means(j, (want + T) / B + 1); !again) return again;
    }
    // Means of complete chunks the device has not averaged: the host store's own (it keeps every
    // chunk's means in memory, also for chunks that live in files), which the CPU engine ranks
    // with too. Loading each chunk through a slot to average it here would move the whole cache
    // over the bus: a minute for a million tokens of the 3.6B shape.
    const std::int64_t complete = want / B;
    const int H = int(m_C / kv_head_dim);
    constexpr std::int64_t batch = 256;  // chunks per upload
    for (std::int64_t c0 = k.mean_chunks; c0 < complete; c0 += batch) {
        const std::int64_t n = std::min(batch, complete - c0);
        m_staging.resize(std::size_t(n) * m_C);
        for (std::int64_t c = 0; c < n; ++c)
            for (int h = 0; h < H; ++h)
                std::copy_n(host.store.means(h) + std::size_t(c0 + c) * kv_head_dim, kv_head_dim,
                            m_staging.data() + std::size_t(c) * m_C + std::size_t(h) * kv_head_dim);
        LECTERN_CUDA_TRY(cudaMemcpy(static_cast<float*>(k.means.data()) + std::size_t(c0) * m_C,
                                    m_staging.data(), std::size_t(n) * m_C * sizeof(float),
                                    cudaMemcpyHostToDevice));
        k.mean_chunks = c0 + n;
    }
    k.rows = want;
    return {};
}

Result<void> CudaState::keep_new_rows(int j, const float* keys, const float* values, int T) {
    const std::size_t n = std::size_t(T) * m_C;
    m_kept_rows[std::size_t(j)] = 0;
    float* rows = m_model.kv_row_buffer(0, j).resize(2 * n);
    if (!rows) return make_error("out of memory for a segment's KV rows on the host");
    // Stream-ordered (keys and values are scratch that later blocks overwrite after it): the
    // attention block's one wait, for its selections, comes next anyway, and forward() waits
    // for the segment's copies before it appends. Two waits per block and token fewer.
    LECTERN_CUDA_TRY(
        cudaMemcpyAsync(rows, keys, n * sizeof(float), cudaMemcpyDeviceToHost, m_model.stream()));
    LECTERN_CUDA_TRY(cudaMemcpyAsync(rows + n, values, n * sizeof(float), cudaMemcpyDeviceToHost,
                                     m_model.stream()));
    m_kept_rows[std::size_t(j)] = T;
    return {};
}

Result<const float*> CudaState::new_rows(int j, int n, int buffer) {
    const std::size_t count = std::size_t(n) * m_C;
    if (m_pages) {
        // The model's buffer may hold another call's rows of the same size: this state's count
        // says whether this segment's are there.
        const int kept = std::exchange(m_kept_rows[std::size_t(j)], 0);
        if (kept != n) return make_error("paged KV: the call's rows are missing");
        return static_cast<const float*>(m_model.kv_row_buffer(0, j).data());
    }
    // A buffer per block: the caller appends every block's rows at once (in parallel).
    const KvMirror& k = m_kv[std::size_t(j)];
    float* rows = m_model.kv_row_buffer(buffer, j).resize(2 * count);
    if (!rows) return make_error("out of memory for a segment's KV rows on the host");
    const std::size_t at = std::size_t(k.rows) * m_C;
    LECTERN_CUDA_TRY(cudaMemcpyAsync(rows, static_cast<const float*>(k.keys.data()) + at,
                                     count * sizeof(float), cudaMemcpyDeviceToHost,
                                     m_model.stream()));
    LECTERN_CUDA_TRY(cudaMemcpyAsync(rows + count, static_cast<const float*>(k.values.data()) + at,
                                     count * sizeof(float), cudaMemcpyDeviceToHost,
                                     m_model.stream()));
    return static_cast<const float*>(rows);
}

void CudaState::rollback(int j) {
    KvMirror& k = m_kv[std::size_t(j)];
    k.mean_chunks = std::min(k.mean_chunks, k.rows / m_chunk_size);
    // A slot's rows past the committed ones would be rewritten before any query reads them, but
    // dropping the slots from the partial chunk on keeps that argument out of the picture.
    if (m_pages) m_pages->planner().forget_from(j, k.rows / m_chunk_size);
}

Result<void> CudaState::seal_chunk(int j, const KvCache::Impl& host, std::int64_t c) {
    KvMirror& k = m_kv[std::size_t(j)];
    const int B = m_chunk_size;
    if (c < 0 || (c + 1) * B > k.rows || c >= k.mean_chunks ||
        (m_pages && c >= host.store.chunk_count()))
        return make_error("a sealed KV chunk the GPU has not computed");
    // The rows, rounded where they are on the device exactly as the host rounds its copy of
    // them (kv_seal.cu); a paged chunk without a slot is loaded from the host, rounded, later.
    const KvDType dtype = host.options.kv_dtype;
    float* mean = static_cast<float*>(k.means.data()) + std::size_t(c) * m_C;
    if (!m_pages) {
        const std::size_t at = std::size_t(c) * B * m_C;
        float* keys = static_cast<float*>(k.keys.data()) + at;
        LECTERN_TRY(kv_seal_chunk(dtype, B, int(m_C), m_C, keys,
                                  static_cast<float*>(k.values.data()) + at, m_model.stream()));
        // The mean of the rounded keys, as the host's chunk store computes it from its copy.
        return kv_sealed_key_mean(B, int(m_C), m_C, keys, mean, m_model.stream());
    }
    if (const int slot = m_pages->planner().slot_of(j, c); slot >= 0) {
        LECTERN_TRY(kv_seal_chunk(dtype, B, int(m_C), m_C, m_pages->slot_keys(slot),
                                  m_pages->slot_values(slot), m_model.stream()));
    }
    // The host's mean, of the stored rows, [H][chunks][64] -> the device's [C] row (the slot may
    // be gone).
    m_staging.resize(m_C);
    const int H = int(m_C / kv_head_dim);
    for (int h = 0; h < H; ++h)
        std::memcpy(m_staging.data() + std::size_t(h) * kv_head_dim,
                    host.store.means(h) + std::size_t(c) * kv_head_dim,
                    kv_head_dim * sizeof(float));
    LECTERN_CUDA_TRY(cudaMemcpyAsync(mean, m_staging.data(), m_C * sizeof(float),
                                     cudaMemcpyHostToDevice, m_model.stream()));
    return {};
}

}  // namespace lectern::cuda
