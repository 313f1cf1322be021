// CudaState: one State's data on the GPU. The recurrent state lives twice (committed and work):
// a call runs on the work copy and swaps only when it succeeded, so a failed call leaves the
// state as it was. Each attention block keeps a float32 mirror of its KV rows (the layout the
// sparse attention kernels read: [rows][C], every position) plus the chunk means; the host
// KvCache stays complete, and rows the mirror lacks (a reopened document, rows a CPU call
// appended) are uploaded from it before the next GPU call.
#pragma once

#include <cstdint>
#include <vector>

#include "attention/kv_cache_impl.h"
#include "cuda_model.h"
#include "infer/state_impl.h"

namespace lectern::cuda {

struct KvMirror {
    DeviceBuffer keys, values;  // [capacity][C] float32
    DeviceBuffer means;         // [capacity / B + 1][C] float32
    std::int64_t capacity = 0;  // rows
    std::int64_t rows = 0;      // rows equal to the host cache's first rows
    std::int64_t mean_chunks = 0;
    std::size_t charged = 0;    // bytes charged to the model's budget
};

class CudaState final : public DeviceState {
public:
    CudaState(CudaModel& model, int chunk_size);
    ~CudaState() override;

    Result<void> download(RecurrentState& out) override;
    Result<void> upload(const RecurrentState& in);

    // The flat recurrent layout: per RWKV block att_shift [C], wkv [H*N*N], ffn_shift [C]; then
    // per attention block ffn_shift [C].
    float* att_shift(int i) { return m_work + rwkv_offset(i); }
    float* wkv(int i) { return att_shift(i) + m_C; }
    float* ffn_shift(int i) { return wkv(i) + m_wkv; }
    float* attn_ffn_shift(int j) { return m_work + rwkv_offset(m_n_rwkv) + std::size_t(j) * m_C; }

    // Start a call: work := committed. Finish it: committed := work (a pointer swap).
    Result<void> begin();
    void commit();

    KvMirror& kv(int j) { return m_kv[std::size_t(j)]; }

    // Decode graphs, one per work buffer (the buffers swap every call); null until captured.
    // Owned: destroyed with the state. `graph_slot` names the current work buffer's.
    void*& graph_slot() { return m_graph[m_work == static_cast<float*>(m_b.data()) ? 1 : 0]; }
    // Room for `rows` rows in block j's mirror (grows geometrically within the budget).
    Result<void> reserve(int j, std::int64_t rows);
    // Upload the host cache's rows the mirror lacks, and their chunk means.
    Result<void> catch_up(int j, const KvCache::Impl& host);
    // Chunk means of every complete chunk of the first `rows` rows not yet averaged.
    Result<void> update_means(int j, std::int64_t rows);

private:
    std::size_t rwkv_offset(int i) const { return std::size_t(i) * (2 * m_C + m_wkv); }

    CudaModel& m_model;
    int m_chunk_size = 1;  // B of the state's attention options
    std::size_t m_C = 0, m_wkv = 0;
    int m_n_rwkv = 0;
    std::size_t m_floats = 0;  // recurrent floats
    DeviceBuffer m_a, m_b;
    float* m_committed = nullptr;
    float* m_work = nullptr;
    std::vector<KvMirror> m_kv;
    std::vector<float> m_staging;
    void* m_graph[2] = {nullptr, nullptr};  // cudaGraphExec_t
};

}  // namespace lectern::cuda
