// measure_sparse_attention_prefill (lectern/cuda_backend.h): the native sparse attention core
// alone (chunk means, top-k selection, attention) over a prefill of random float32 rows, cut into
// calls as the model's attention block cuts a prefill, on the path the model takes (the
// tensor-core kernels unless LECTERN_CUDA_ATTN=tiled). lectern-cli bench --shape prints it next to
// the whole prefill, so that tools/dense_attention_baseline.py can swap it for dense attention
// (PyTorch SDPA) and estimate the same model with dense attention.
// measure_sparse_attention_decode: one-token calls of the same core after a long context, with
// each query's keys split among blocks or not (a same-process A/B of decode's split keys).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cuda_check.cuh"
#include "cuda_engine_common.h"
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

// What a measurement runs on: random float32 keys and values [rows][C] and queries [q_rows][C] on
// the device, room for the chunk means of every complete chunk, and outputs (y, selection) for
// calls of up to out_rows queries.
struct BenchBuffers {
    cuda::SparseAttentionShape shape;
    cuda::DeviceBuffer keys, values, q, means, y, selected;
    const float* k() const { return static_cast<const float*>(keys.data()); }
    const float* v() const { return static_cast<const float*>(values.data()); }
    const float* queries() const { return static_cast<const float*>(q.data()); }
    float* m() const { return static_cast<float*>(means.data()); }
    float* out() const { return static_cast<float*>(y.data()); }
    int* selections() const { return static_cast<int*>(selected.data()); }
};

// Device scratch of `bytes` (none for 0).
Result<cuda::DeviceBuffer> allocate_scratch(std::size_t bytes) {
    if (bytes == 0) return cuda::DeviceBuffer();
    return cuda::DeviceBuffer::allocate(bytes);
}

Result<BenchBuffers> bench_buffers(int rows, int q_rows, int out_rows, int n_head, int chunk_size,
                                   int top_k) {
    const std::size_t C = std::size_t(n_head) * cuda::sparse_head_dim;
    const int segment = cuda::segment_rows();
    const std::size_t row_bytes = C * sizeof(float);
    BenchBuffers r;
    r.shape.n_head = n_head;
    r.shape.chunk_size = chunk_size;
    r.shape.top_k = top_k;
    const std::pair<cuda::DeviceBuffer*, std::size_t> buffers[] = {
        {&r.keys, std::size_t(rows) * row_bytes},
        {&r.values, std::size_t(rows) * row_bytes},
        {&r.q, std::size_t(q_rows) * row_bytes},
        {&r.means, std::size_t(rows / chunk_size + 1) * row_bytes},
        {&r.y, std::size_t(out_rows) * row_bytes},
        {&r.selected, std::size_t(out_rows) * std::size_t(n_head) *
                          std::size_t(std::max(1, top_k - 1)) * sizeof(int)}};
    for (const auto& [buffer, bytes] : buffers) {
        auto b = cuda::DeviceBuffer::allocate(bytes);
        if (!b) return b.error();
        *buffer = std::move(*b);
    }
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    std::vector<float> block(std::size_t(segment) * C);
    for (auto [buffer, count] : {std::pair{&r.keys, rows}, {&r.values, rows}, {&r.q, q_rows}})
        for (int r0 = 0; r0 < count; r0 += segment) {
            const int n = std::min(segment, count - r0);
            fill_random(block, state);
            if (auto ok = buffer->upload(block.data(), std::size_t(n) * row_bytes,
                                         std::size_t(r0) * row_bytes);
                !ok)
                return ok.error();
        }
    return r;
}

// Milliseconds between two events around what `work` queues on the default stream.
template <typename Work>
Result<double> timed_ms(Work&& work) {
    cudaEvent_t start, stop;
    LECTERN_CUDA_TRY(cudaEventCreate(&start));
    if (const cudaError_t e = cudaEventCreate(&stop); e != cudaSuccess) {
        cudaEventDestroy(start);
        return make_error(std::string("cudaEventCreate: ") + cudaGetErrorString(e));
    }
    Result<void> ok = [&]() -> Result<void> {
        LECTERN_CUDA_TRY(cudaEventRecord(start));
        LECTERN_TRY(work());
        LECTERN_CUDA_TRY(cudaEventRecord(stop));
        LECTERN_CUDA_TRY(cudaEventSynchronize(stop));
        return {};
    }();
    float ms = 0;
    if (ok) {
        if (const cudaError_t e = cudaEventElapsedTime(&ms, start, stop); e != cudaSuccess)
            ok = make_error(std::string("cudaEventElapsedTime: ") + cudaGetErrorString(e));
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    if (!ok) return ok.error();
    return double(ms);
}

}  // namespace

Result<double> measure_sparse_attention_prefill(int tokens, int n_head, int chunk_size, int top_k,
                                                bool tensor_cores) {
    if (tokens < 1 || n_head < 1 || chunk_size < 1 || top_k < 1)
        return make_error("measure_sparse_attention_prefill: sizes must be positive");
    const std::size_t C = std::size_t(n_head) * cuda::sparse_head_dim;
    const int segment = cuda::segment_rows();
    auto b = bench_buffers(tokens, tokens, segment, n_head, chunk_size, top_k);
    if (!b) return b.error();
    const cuda::SparseAttentionShape& shape = b->shape;

    // The tensor-core path's scratch for the largest call, as the model keeps one.
    std::size_t scratch_bytes = 0;
    for (int p0 = 0; tensor_cores && p0 < tokens; p0 += segment)
        scratch_bytes = std::max(scratch_bytes, cuda::sparse_attention_scratch_bytes(
                                                    std::min(segment, tokens - p0), p0, shape));
    auto scratch_buffer = allocate_scratch(scratch_bytes);
    if (!scratch_buffer) return scratch_buffer.error();
    const cuda::SparseAttentionScratch scratch{scratch_buffer->data(), scratch_bytes};

    auto ms = timed_ms([&]() -> Result<void> {
        int averaged = 0;  // complete chunks whose means exist
        for (int p0 = 0; p0 < tokens; p0 += segment) {
            const int T = std::min(segment, tokens - p0);
            // As the model does: chunks completed by this call's rows are candidates for its
            // later queries, so their means come first.
            const int complete = (p0 + T) / chunk_size;
            if (complete > averaged) {
                LECTERN_TRY(cuda::chunk_means(b->k(), shape, averaged, complete - averaged,
                                              b->m(), nullptr));
                averaged = complete;
            }
            LECTERN_TRY(cuda::sparse_attention(b->queries() + std::size_t(p0) * C, T, p0, b->k(),
                                               b->v(), b->m(), shape, b->selections(), b->out(),
                                               nullptr, scratch));
        }
        return {};
    });
    if (!ms) return ms.error();
    return *ms / 1e3;
}

Result<std::vector<double>> measure_sparse_attention_decode(int context, int n_head,
                                                            int chunk_size, int top_k,
                                                            std::span<const int> splits,
                                                            int calls) {
    if (context < 0 || n_head < 1 || chunk_size < 1 || top_k < 1 || calls < 1)
        return make_error("measure_sparse_attention_decode: sizes must be positive");
    const std::size_t C = std::size_t(n_head) * cuda::sparse_head_dim;
    const int total = context + calls;
    auto b = bench_buffers(total, calls, 1, n_head, chunk_size, top_k);
    if (!b) return b.error();
    const cuda::SparseAttentionShape& shape = b->shape;
    // Every complete chunk's mean up front: a query only selects chunks before its own.
    LECTERN_TRY(cuda::chunk_means(b->k(), shape, 0, total / chunk_size, b->m(), nullptr));
    const std::size_t scratch_bytes = cuda::sparse_attention_scratch_bytes(1, context, shape);
    auto scratch_buffer = allocate_scratch(scratch_bytes);
    if (!scratch_buffer) return scratch_buffer.error();
    std::vector<double> seconds;
    for (const int n : splits) {
        const cuda::SparseAttentionScratch scratch{scratch_buffer->data(), scratch_bytes, n};
        // Each call is a query at the next position, as decode is.
        const auto run = [&](int count) -> Result<void> {
            for (int i = 0; i < count; ++i)
                LECTERN_TRY(cuda::sparse_attention(b->queries() + std::size_t(i) * C, 1,
                                                   context + i, b->k(), b->v(), b->m(), shape,
                                                   b->selections(), b->out(), nullptr, scratch));
            return {};
        };
        LECTERN_TRY(run(1));  // warm: the first launches load the kernels
        auto ms = timed_ms([&] { return run(calls); });
        if (!ms) return ms.error();
        seconds.push_back(*ms / 1e3 / calls);
    }
    return seconds;
}

}  // namespace lectern
