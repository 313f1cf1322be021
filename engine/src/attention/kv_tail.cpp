// KvTail (kv_tail.h): a partial chunk's rows shared between forks, copied only by the holder that
// appends second.
#include "attention/kv_tail.h"

#include <algorithm>
#include <cstring>

#include "attention/kv_chunk_store.h"

namespace lectern {

KvTail::KvTail(int n_head, int chunk_size)
    : m_heads(std::max(0, n_head)), m_chunk(std::max(1, chunk_size)) {}

std::size_t KvTail::head_floats() const {
    return std::size_t(m_chunk) * kv_head_dim;
}

const float* KvTail::keys(int h) const {
    return m_buffer ? m_buffer->k.get() + std::size_t(h) * head_floats() : nullptr;
}

const float* KvTail::values(int h) const {
    return m_buffer ? m_buffer->v.get() + std::size_t(h) * head_floats() : nullptr;
}

void KvTail::own_copy(int claim) {
    auto fresh = std::make_shared<Buffer>();
    const std::size_t total = std::size_t(m_heads) * head_floats();
    // Uninitialised: the pages of rows never written are never touched.
    fresh->k.reset(new float[total]);
    fresh->v.reset(new float[total]);
    const std::size_t used = std::size_t(m_rows) * kv_head_dim;
    if (m_buffer && used > 0) {
        for (int h = 0; h < m_heads; ++h) {
            const std::size_t at = std::size_t(h) * head_floats();
            std::memcpy(fresh->k.get() + at, m_buffer->k.get() + at, used * sizeof(float));
            std::memcpy(fresh->v.get() + at, m_buffer->v.get() + at, used * sizeof(float));
        }
    }
    fresh->frontier.store(m_rows + claim, std::memory_order_relaxed);
    m_buffer = std::move(fresh);
}

void KvTail::append(const float* k, const float* v, int n, std::size_t stride) {
    if (n <= 0) return;
    bool claimed = false;
    if (m_buffer) {
        // Sole holder: rows a former sharer wrote past ours are nobody's now.
        if (m_buffer.use_count() == 1) m_buffer->frontier.store(m_rows, std::memory_order_relaxed);
        int expected = m_rows;
        claimed = m_buffer->frontier.compare_exchange_strong(expected, m_rows + n,
                                                             std::memory_order_acq_rel);
    }
    if (!claimed) own_copy(n);
    for (int h = 0; h < m_heads; ++h) {
        float* dk = m_buffer->k.get() + std::size_t(h) * head_floats() +
                    std::size_t(m_rows) * kv_head_dim;
        float* dv = m_buffer->v.get() + std::size_t(h) * head_floats() +
                    std::size_t(m_rows) * kv_head_dim;
        for (int i = 0; i < n; ++i) {
            const std::size_t src = std::size_t(i) * stride + std::size_t(h) * kv_head_dim;
            std::memcpy(dk + std::size_t(i) * kv_head_dim, k + src, kv_head_dim * sizeof(float));
            std::memcpy(dv + std::size_t(i) * kv_head_dim, v + src, kv_head_dim * sizeof(float));
        }
    }
    m_rows += n;
}

void KvTail::assign(int rows, const float* const* k, const float* const* v) {
    clear();
    if (rows <= 0) return;
    if (!m_buffer || m_buffer.use_count() != 1) own_copy(rows);
    else m_buffer->frontier.store(rows, std::memory_order_relaxed);
    const std::size_t n = std::size_t(rows) * kv_head_dim;
    for (int h = 0; h < m_heads; ++h) {
        std::memcpy(m_buffer->k.get() + std::size_t(h) * head_floats(), k[h], n * sizeof(float));
        std::memcpy(m_buffer->v.get() + std::size_t(h) * head_floats(), v[h], n * sizeof(float));
    }
    m_rows = rows;
}

void KvTail::clear() {
    m_rows = 0;
    if (!m_buffer) return;
    if (m_buffer.use_count() == 1)
        m_buffer->frontier.store(0, std::memory_order_relaxed);  // kept for the next chunk
    else
        m_buffer.reset();  // a fork still reads it
}

}  // namespace lectern
