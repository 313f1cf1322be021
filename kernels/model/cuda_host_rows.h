// HostRows: a host buffer of floats that device-to-host copies land in, page-locked when the
// driver grants it. The copy-back of a prefill segment's KV rows (CudaState::new_rows,
// keep_new_rows: 168 MB per 1,024-row segment at the 3.6B shape) went to pageable vectors, which
// CUDA copies through a driver staging buffer at a fraction of the bus's speed while the GPU
// waits; page-locked memory is copied by the device itself.
#pragma once

#include <cstddef>
#include <vector>

namespace lectern::cuda {

class HostRows {
  public:
    HostRows() = default;
    ~HostRows();
    HostRows(HostRows&& other) noexcept;
    HostRows& operator=(HostRows&& other) noexcept;
    HostRows(const HostRows&) = delete;
    HostRows& operator=(const HostRows&) = delete;

    // Room for n floats (contents not kept when it grows; grown page-locked, or pageable when
    // cudaHostAlloc fails); null when even the pageable allocation fails.
    float* resize(std::size_t n);
    float* data() { return m_pinned ? m_pinned : m_pageable.data(); }
    const float* data() const { return m_pinned ? m_pinned : m_pageable.data(); }
    std::size_t size() const { return m_size; }
    std::size_t capacity() const { return m_capacity; }
    void release();

  private:
    float* m_pinned = nullptr;
    std::vector<float> m_pageable;
    std::size_t m_size = 0;
    std::size_t m_capacity = 0;
};

}  // namespace lectern::cuda
