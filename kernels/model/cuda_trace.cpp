// CudaModel::record_trace_rows: a traced call's attention choices on the GPU into the engine's
// ForwardTrace. The attention blocks leave, per segment, the chunks stage 1 chose (ws.selected)
// and their softmax shares (sparse_attention_chunk_weights, ws.trace_weights); both are copied to
// the host here and laid out as the CPU path lays out its own (infer/forward_trace.h), so a trace
// reads the same whichever backend made it.
#include <cuda_runtime.h>

#include "cuda_check.cuh"
#include "cuda_model.h"
#include "infer/forward_trace.h"

namespace lectern::cuda {

Result<void> CudaModel::record_trace_rows(int block, int n, int top_k, const int* selected,
                                          const float* weights) {
    if (!m_trace.trace || top_k < 2 || n <= 0) return {};
    AttentionTrace at;
    at.width = top_k - 1;
    const std::size_t count = std::size_t(n) * std::size_t(config().n_head) * std::size_t(at.width);
    at.chunks.resize(count);
    at.weights.resize(count);
    // On the legacy stream, like the launches that wrote them: the copies wait for those.
    LECTERN_CUDA_TRY(cudaMemcpy(at.chunks.data(), selected, count * sizeof(int),
                                cudaMemcpyDeviceToHost));
    LECTERN_CUDA_TRY(cudaMemcpy(at.weights.data(), weights, count * sizeof(float),
                                cudaMemcpyDeviceToHost));
    record_trace(at, block, m_trace.segment_start, n, m_trace.call_tokens, *m_trace.trace);
    return {};
}

}  // namespace lectern::cuda
