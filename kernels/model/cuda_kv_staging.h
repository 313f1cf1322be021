// KvStaging: the host and device buffers KvUploader (cuda_kv_upload.h) carries KV rows through,
// one set per model (CudaModel::kv_staging).
#pragma once

#include <cstddef>
#include <vector>

#include "lectern/cuda/cuda_device.h"

namespace lectern::cuda {

// The staging every KvUploader of a model shares: two page-locked buffers of packed rows, each
// with an event (its last DMA finished), and the device buffer pieces are carried through.
// Calls run one at a time (the model's mutex) and an uploader refills a buffer only after its
// last DMA, so one set serves every state. Each paged state (a question's fork among them) and
// each dense catch-up used to pin its own pair and allocate its own piece, and a paged state
// grew its pair row by row as its open chunk's rows were loaded (a cudaHostAlloc and a
// cudaFreeHost per token). The buffers now take, when first needed, the most one upload can
// carry: a whole chunk of float32 rows (84 MB for both at the 3.6B shape), and stay until the
// model goes.
class KvStaging {
  public:
    KvStaging() = default;
    ~KvStaging();  // waits for the DMAs, frees the buffers
    KvStaging(const KvStaging&) = delete;
    KvStaging& operator=(const KvStaging&) = delete;

  private:
    friend class KvUploader;
    std::byte* m_pinned[2] = {nullptr, nullptr};
    std::size_t m_staged_bytes[2] = {0, 0};  // the capacity of m_pinned[i] or m_pageable[i]
    void* m_copied[2] = {nullptr, nullptr};  // cudaEvent_t
    std::vector<std::byte> m_pageable[2];    // instead, when page-locked memory is refused
    int m_next = 0;
    DeviceBuffer m_piece;  // one packed piece on the device
};

}  // namespace lectern::cuda
