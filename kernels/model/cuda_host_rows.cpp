// HostRows (cuda_host_rows.h): page-locked growth with a pageable fallback.
#include "cuda_host_rows.h"

#include <cuda_runtime.h>

#include <new>
#include <utility>

namespace lectern::cuda {

HostRows::~HostRows() {
    release();
}

HostRows::HostRows(HostRows&& other) noexcept
    : m_pinned(std::exchange(other.m_pinned, nullptr)),
      m_pageable(std::move(other.m_pageable)),
      m_size(std::exchange(other.m_size, 0)),
      m_capacity(std::exchange(other.m_capacity, 0)) {}

HostRows& HostRows::operator=(HostRows&& other) noexcept {
    if (this != &other) {
        release();
        m_pinned = std::exchange(other.m_pinned, nullptr);
        m_pageable = std::move(other.m_pageable);
        m_size = std::exchange(other.m_size, 0);
        m_capacity = std::exchange(other.m_capacity, 0);
    }
    return *this;
}

float* HostRows::resize(std::size_t n) {
    if (n > m_capacity) {
        release();
        void* p = nullptr;
        if (cudaHostAlloc(&p, n * sizeof(float), cudaHostAllocDefault) == cudaSuccess) {
            m_pinned = static_cast<float*>(p);
        } else {
            (void)cudaGetLastError();  // a refused page-locked allocation is not a call's error
            try {
                m_pageable.resize(n);
            } catch (const std::bad_alloc&) {
                return nullptr;
            }
        }
        m_capacity = n;
    }
    m_size = n;
    return data();
}

void HostRows::release() {
    if (m_pinned) cudaFreeHost(m_pinned);
    m_pinned = nullptr;
    m_pageable.clear();
    m_pageable.shrink_to_fit();
    m_size = 0;
    m_capacity = 0;
}

}  // namespace lectern::cuda
