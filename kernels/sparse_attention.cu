// Native sparse attention on the GPU, host side: the public launchers of
// lectern/cuda/sparse_attention.h (argument checks returning error values, then dispatch) and the
// chunk-means kernel. The stage kernels live in sparse_attention_select.cu (stage 1, chunk
// selection) and sparse_attention_attend.cu (stage 2, attention over a dense or paged KV cache;
// its dispatch names the other stage-2 files, among them sparse_attention_grouped.cu).
// CPU twin: native_attention (engine/src/attention/native_attention.cpp); test:
// tests/kernels/tst_sparse_attention_cuda.cpp.
#include "lectern/cuda/sparse_attention.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda_check.cuh"
#include "sparse_attention_internal.cuh"

namespace lectern::cuda {
namespace {

using sparse_detail::head_dim;

// keys[row][C] averaged over the B rows of each chunk; one thread per (chunk, channel).
__global__ void chunk_means_kernel(const float* __restrict__ keys, int C, int B, int first,
                                   float* __restrict__ means) {
    const int c = first + int(blockIdx.x);
    const int col = int(blockIdx.y * blockDim.x + threadIdx.x);
    if (col >= C) return;
    const float* src = keys + std::size_t(c) * std::size_t(B) * std::size_t(C) + col;
    float sum = 0.0f;
    for (int r = 0; r < B; ++r) sum += src[std::size_t(r) * std::size_t(C)];
    means[std::size_t(c) * std::size_t(C) + col] = sum / float(B);
}

Result<void> check_shape(const SparseAttentionShape& shape) {
    if (shape.n_head < 1 || shape.chunk_size < 1)
        return make_error("sparse attention: n_head and chunk_size must be >= 1");
    // Heads index a grid dimension (gridDim.y <= 65535); this also keeps C = 64 * n_head an int.
    if (shape.n_head > 65535) return make_error("sparse attention: n_head must be <= 65535");
    if (shape.top_k < 1 || shape.top_k > sparse_max_top_k)
        return make_error("sparse attention: top_k must be in 1 .. 16");
    // A pair's key count (at most top_k * B) is an int in the kernels.
    if ((long long)shape.chunk_size * shape.top_k > (long long)INT32_MAX)
        return make_error("sparse attention: chunk_size * top_k beyond 2^31 - 1");
    return {};
}

// Positions are ints throughout (chunk indices, key indices within a pair); the last one must fit.
// (query, head) pairs index warps of a one-dimensional grid.
Result<void> check_positions(const char* what, int T, int p0, int n_head) {
    if (T < 0 || p0 < 0) return make_error(std::string(what) + ": negative T or p0");
    if ((long long)p0 + T > (long long)INT32_MAX)
        return make_error(std::string(what) + ": positions beyond 2^31 - 1");
    if ((long long)T * n_head > (long long)INT32_MAX)
        return make_error(std::string(what) + ": T * n_head beyond 2^31 - 1");
    return {};
}

bool aligned(const void* p, std::size_t bytes) {
    return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

}  // namespace

Result<void> chunk_means(const float* keys, const SparseAttentionShape& shape, int first, int count,
                         float* means, cuda_stream stream) {
    if (auto r = check_shape(shape); !r) return r;
    if (first < 0 || count < 0) return make_error("chunk_means: negative chunk range");
    if (count == 0) return {};
    const int C = shape.n_head * head_dim;
    constexpr int threads = 256;
    const dim3 grid(unsigned(count), unsigned((C + threads - 1) / threads));
    if (grid.y > 65535u) return make_error("chunk_means: n_head too large");
    chunk_means_kernel<<<grid, threads, 0, stream>>>(keys, C, shape.chunk_size, first, means);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

std::size_t sparse_attention_scratch_bytes(int T, int p0, const SparseAttentionShape& shape) {
    if (!check_shape(shape) ||
        !check_positions("sparse_attention_scratch_bytes", T, p0, shape.n_head))
        return 0;
    if (T == 0) return 0;
    if (sparse_detail::use_block_per_pair(T, shape.n_head))
        return sparse_detail::split_scratch_bytes(T * shape.n_head);
    if (!sparse_detail::can_use_grouped_prefill(T, shape)) return 0;
    return sparse_detail::grouped_scratch_bytes(T, p0, shape);
}

Result<void> sparse_attention_select(const float* q, int T, int p0, const float* means,
                                     const SparseAttentionShape& shape, int* selected,
                                     cuda_stream stream) {
    if (auto r = check_shape(shape); !r) return r;
    if (auto r = check_positions("sparse_attention_select", T, p0, shape.n_head); !r) return r;
    const int n_select = shape.top_k - 1;
    if (T == 0 || n_select == 0) return {};
    if (!q || !means || !selected)
        return make_error("sparse_attention_select: null q, means or selected");
    // float4 loads of 64-float head rows (C is a multiple of 64, so every row stays aligned).
    if (!aligned(means, 16))
        return make_error("sparse_attention_select: means must be 16-byte aligned");
    LECTERN_CUDA_TRY(sparse_detail::launch_select(q, T, p0, means, shape, selected, stream));
    return {};
}

Result<void> sparse_attention_attend_paged(const float* q, int T, int p0, const float* key_pool,
                                           const float* value_pool, const int* page,
                                           const int* selected, const SparseAttentionShape& shape,
                                           float* y, cuda_stream stream,
                                           SparseAttentionScratch scratch) {
    if (auto r = check_shape(shape); !r) return r;
    if (auto r = check_positions("sparse_attention_attend", T, p0, shape.n_head); !r) return r;
    if (T == 0) return {};
    const int n_select = shape.top_k - 1;
    if (n_select > 0 && !selected)
        return make_error("sparse_attention_attend: no selection for top_k > 1");
    if (!q || !key_pool || !value_pool || !y)
        return make_error("sparse_attention_attend: null q, keys, values or y");
    // float4 loads of key and value head rows and float4 stores of y head rows.
    if (!aligned(key_pool, 16) || !aligned(value_pool, 16) || !aligned(y, 16))
        return make_error("sparse_attention_attend: keys, values and y need 16-byte alignment");
    void* usable = nullptr;
    if (scratch.data) {
        const std::size_t need = sparse_attention_scratch_bytes(T, p0, shape);
        if (need > 0 && scratch.bytes < need)
            return make_error("sparse_attention_attend: scratch of " +
                              std::to_string(scratch.bytes) + " bytes, " + std::to_string(need) +
                              " needed");
        if (need > 0) usable = scratch.data;
    }
    if (scratch.splits < 0 || scratch.splits > sparse_detail::max_decode_splits)
        return make_error("sparse_attention_attend: splits must be in 0 .. 16");
    // The split parts are float loads at any index: 4-byte alignment suffices.
    if (usable && !aligned(usable, 4))
        return make_error("sparse_attention_attend: scratch must be 4-byte aligned");
    LECTERN_CUDA_TRY(sparse_detail::launch_attend(q, T, p0, key_pool, value_pool, page, selected,
                                                  shape, usable, scratch.splits, y, stream));
    return {};
}

Result<void> sparse_attention_attend(const float* q, int T, int p0, const float* keys,
                                     const float* values, const int* selected,
                                     const SparseAttentionShape& shape, float* y,
                                     cuda_stream stream, SparseAttentionScratch scratch) {
    return sparse_attention_attend_paged(q, T, p0, keys, values, nullptr, selected, shape, y,
                                         stream, scratch);
}

Result<void> sparse_attention(const float* q, int T, int p0, const float* keys, const float* values,
                              const float* means, const SparseAttentionShape& shape,
                              int* selected_scratch, float* y, cuda_stream stream,
                              SparseAttentionScratch scratch) {
    if (auto r = sparse_attention_select(q, T, p0, means, shape, selected_scratch, stream); !r)
        return r;
    return sparse_attention_attend(q, T, p0, keys, values, selected_scratch, shape, y, stream,
                                   scratch);
}

}  // namespace lectern::cuda
