// measure_sparse_attention_prefill (lectern/cuda_backend.h): the native sparse attention core
// alone (chunk means, top-k selection, attention) over a prefill of random float32 rows, cut into
// calls as the model's attention block cuts a prefill, on the path the model takes (the
// tensor-core kernels unless LECTERN_CUDA_ATTN=tiled). lectern-cli bench --shape prints it next to
// the whole prefill, so that tools/dense_attention_baseline.py can swap it for dense attention
// (PyTorch SDPA) and estimate the same model with dense attention.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuda_check.cuh"
#include "cuda_model.h"
#include "lectern/cuda/cuda_device.h"
#include "lectern/cuda/sparse_attention.h"
#include "lectern/cuda_backend.h"

namespace lectern {
namespace {

// Uniform floats in [-1, 1) from a 64-bit xorshift: fast enough for gigabytes, and every chunk
// differs, so selections spread over the cache as they would on a real document.
void fill_random(std::vector<float>& v, std::uint64_t& x) {
    for (float& f : v) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        f = float(std::int64_t(x >> 40) - (1ll << 23)) / float(1 << 23);
    }
}

}  // namespace

Result<double> measure_sparse_attention_prefill(int tokens, int n_head, int chunk_size, int top_k,
                                                bool tensor_cores) {
    if (tokens < 1 || n_head < 1 || chunk_size < 1 || top_k < 1)
        return make_error("measure_sparse_attention_prefill: sizes must be positive");
    const std::size_t C = std::size_t(n_head) * cuda::sparse_head_dim;
    const int segment = cuda::segment_rows();
    const std::size_t row_bytes = C * sizeof(float);
    auto keys = cuda::DeviceBuffer::allocate(std::size_t(tokens) * row_bytes);
    if (!keys) return keys.error();
    auto values = cuda::DeviceBuffer::allocate(std::size_t(tokens) * row_bytes);
    if (!values) return values.error();
    auto means = cuda::DeviceBuffer::allocate((std::size_t(tokens) / chunk_size + 1) * row_bytes);
    if (!means) return means.error();
    auto q = cuda::DeviceBuffer::allocate(std::size_t(tokens) * row_bytes);
    if (!q) return q.error();
    auto y = cuda::DeviceBuffer::allocate(std::size_t(segment) * row_bytes);
    if (!y) return y.error();
    auto selected = cuda::DeviceBuffer::allocate(std::size_t(segment) * std::size_t(n_head) *
                                                 std::size_t(std::max(1, top_k - 1)) * sizeof(int));
    if (!selected) return selected.error();
    {
        std::uint64_t state = 0x9e3779b97f4a7c15ull;
        std::vector<float> block(std::size_t(segment) * C);
        for (cuda::DeviceBuffer* b : {&*keys, &*values, &*q})
            for (int r0 = 0; r0 < tokens; r0 += segment) {
                const int n = std::min(segment, tokens - r0);
                fill_random(block, state);
                if (auto ok = b->upload(block.data(), std::size_t(n) * row_bytes,
                                        std::size_t(r0) * row_bytes);
                    !ok)
                    return ok.error();
            }
    }
    cuda::SparseAttentionShape shape;
    shape.n_head = n_head;
    shape.chunk_size = chunk_size;
    shape.top_k = top_k;
    const auto* k = static_cast<const float*>(keys->data());
    const auto* v = static_cast<const float*>(values->data());
    auto* m = static_cast<float*>(means->data());

    // The tensor-core path's scratch for the largest call, as the model keeps one.
    std::size_t scratch_bytes = 0;
    for (int p0 = 0; tensor_cores && p0 < tokens; p0 += segment)
        scratch_bytes = std::max(scratch_bytes, cuda::sparse_attention_scratch_bytes(
                                                    std::min(segment, tokens - p0), p0, shape));
    cuda::DeviceBuffer scratch_buffer;
    if (scratch_bytes > 0) {
        auto b = cuda::DeviceBuffer::allocate(scratch_bytes);
        if (!b) return b.error();
        scratch_buffer = std::move(*b);
    }
    const cuda::SparseAttentionScratch scratch{scratch_buffer.data(), scratch_bytes};

    cudaEvent_t start, stop;
    LECTERN_CUDA_TRY(cudaEventCreate(&start));
    LECTERN_CUDA_TRY(cudaEventCreate(&stop));
    LECTERN_CUDA_TRY(cudaEventRecord(start));
    int averaged = 0;  // complete chunks whose means exist
    for (int p0 = 0; p0 < tokens; p0 += segment) {
        const int T = std::min(segment, tokens - p0);
        // As the model does: chunks completed by this call's rows are candidates for its later
        // queries, so their means come first.
        const int complete = (p0 + T) / chunk_size;
        if (complete > averaged) {
            if (auto ok = cuda::chunk_means(k, shape, averaged, complete - averaged, m, nullptr);
                !ok)
                return ok.error();
            averaged = complete;
        }
        if (auto ok =
                cuda::sparse_attention(static_cast<const float*>(q->data()) + std::size_t(p0) * C,
                                       T, p0, k, v, m, shape, static_cast<int*>(selected->data()),
                                       static_cast<float*>(y->data()), nullptr, scratch);
            !ok)
            return ok.error();
    }
    LECTERN_CUDA_TRY(cudaEventRecord(stop));
    LECTERN_CUDA_TRY(cudaEventSynchronize(stop));
    float ms = 0;
    LECTERN_CUDA_TRY(cudaEventElapsedTime(&ms, start, stop));
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return double(ms) / 1e3;
}

}  // namespace lectern
