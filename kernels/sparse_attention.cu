// Native sparse attention on the GPU: chunk means, per-(query, head) top-(K-1) chunk selection, and
// an online-softmax attention over the own chunk (causal) plus the selected chunks.
// CPU twin: native_attention (engine/src/attention/native_attention.cpp); test:
// tests/kernels/tst_sparse_attention_cuda.cpp. One warp per (query, head) in both stages: simple,
// and every warp reads only the chunks it needs (decode touches K chunks, not the whole cache).
#include "lectern/cuda/sparse_attention.h"

#include <cstddef>
#include <cstdint>

#include "cuda_check.cuh"

namespace lectern::cuda {
namespace {

constexpr int warps_per_block = 4;
constexpr int block_threads = warps_per_block * 32;
constexpr int head_dim = sparse_head_dim;
constexpr int max_select = sparse_max_top_k - 1;

// keys[row][C] averaged over the B rows of each chunk; one thread per (chunk, channel).
__global__ void chunk_means_kernel(const float* __restrict__ keys, int C, int B, int first,
                                   int count, float* __restrict__ means) {
    const int c = first + int(blockIdx.x);
    const int col = int(blockIdx.y * blockDim.x + threadIdx.x);
    if (col >= C) return;
    const float* src = keys + std::size_t(c) * std::size_t(B) * std::size_t(C) + col;
    float sum = 0.0f;
    for (int r = 0; r < B; ++r) sum += src[std::size_t(r) * std::size_t(C)];
    means[std::size_t(c) * std::size_t(C) + col] = sum / float(B);
}

// q_h · row_h for one 64-float head row (16-byte aligned), q from shared memory.
__device__ float dot_head(const float* __restrict__ q_shared, const float* __restrict__ row) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    float d = 0.0f;
#pragma unroll
    for (int i = 0; i < head_dim / 4; ++i) {
        const float4 r = r4[i];
        d = fmaf(q_shared[4 * i + 0], r.x, d);
        d = fmaf(q_shared[4 * i + 1], r.y, d);
        d = fmaf(q_shared[4 * i + 2], r.z, d);
        d = fmaf(q_shared[4 * i + 3], r.w, d);
    }
    return d;
}

// Ranking of candidate chunks: higher score first, equal scores to the lower chunk; chunk < 0 is
// "no candidate" and loses to every real one. Scores are never NaN here (mapped to -inf).
__device__ bool ranks_before(float score_a, int chunk_a, float score_b, int chunk_b) {
    if (chunk_a < 0) return false;
    if (chunk_b < 0) return true;
    return score_a > score_b || (score_a == score_b && chunk_a < chunk_b);
}

// One warp per (query t, head h). Each lane keeps its own best n_select of the chunks it scores
// (sorted, in registers/local memory); the warp then merges the 32 lists by n_select rounds of
// a warp-wide arg-max.
__global__ void select_kernel(const float* __restrict__ q, int T, int p0,
                              const float* __restrict__ means, int H, int B, int n_select,
                              int* __restrict__ selected) {
    __shared__ float q_shared[warps_per_block][head_dim];
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const long long pair = (long long)blockIdx.x * warps_per_block + warp;
    if (pair >= (long long)T * H) return;  // uniform per warp; no block-wide barrier follows
    const int t = int(pair / H);
    const int h = int(pair % H);
    const std::size_t C = std::size_t(H) * head_dim;
    const int own_chunk = (p0 + t) / B;  // candidates: chunks 0 .. own_chunk - 1

    const float* qh = q + std::size_t(t) * C + std::size_t(h) * head_dim;
    q_shared[warp][lane] = qh[lane];
    q_shared[warp][lane + 32] = qh[lane + 32];
    __syncwarp();

    float best_score[max_select];
    int best_chunk[max_select];
    for (int i = 0; i < n_select; ++i) {
        best_score[i] = -INFINITY;
        best_chunk[i] = -1;
    }
    // A lane visits chunks in increasing order, so a later equal score never displaces an earlier
    // one: strict > gives the lower chunk on ties.
    for (int c = lane; c < own_chunk; c += 32) {
        float score =
            dot_head(q_shared[warp], means + std::size_t(c) * C + std::size_t(h) * head_dim);
        if (isnan(score)) score = -INFINITY;
        const int last = n_select - 1;
        if (best_chunk[last] >= 0 && !(score > best_score[last])) continue;
        int j = last;
        while (j > 0 && (best_chunk[j - 1] < 0 || score > best_score[j - 1])) {
            best_score[j] = best_score[j - 1];
            best_chunk[j] = best_chunk[j - 1];
            --j;
        }
        best_score[j] = score;
        best_chunk[j] = c;
    }

    int* out = selected + pair * n_select;
    int head = 0;  // next unused entry of this lane's list
    for (int i = 0; i < n_select; ++i) {
        float score = head < n_select ? best_score[head] : -INFINITY;
        int chunk = head < n_select ? best_chunk[head] : -1;
        // Butterfly arg-max: a total order (chunks are distinct), so every lane ends with the same.
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2) {
            const float other_score = __shfl_xor_sync(0xffffffffu, score, offset);
            const int other_chunk = __shfl_xor_sync(0xffffffffu, chunk, offset);
            if (ranks_before(other_score, other_chunk, score, chunk)) {
                score = other_score;
                chunk = other_chunk;
            }
        }
        if (chunk >= 0 && head < n_select && best_chunk[head] == chunk)
            ++head;  // only the owner of the winning chunk holds it
        if (lane == 0) out[i] = chunk;
    }
}

// One warp per (query t, head h): tiles of 32 keys, lane j scores key j of the tile; online
// softmax (running max m, running sum l); each lane accumulates output channels 2*lane, 2*lane+1.
__global__ void attend_kernel(const float* __restrict__ q, int T, int p0,
                              const float* __restrict__ keys, const float* __restrict__ values,
                              const int* __restrict__ selected, int H, int B, int n_select,
                              float* __restrict__ y) {
    __shared__ float q_shared[warps_per_block][head_dim];
    __shared__ int chunks[warps_per_block][max_select + 1];
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const long long pair = (long long)blockIdx.x * warps_per_block + warp;
    if (pair >= (long long)T * H) return;
    const int t = int(pair / H);
    const int h = int(pair % H);
    const std::size_t C = std::size_t(H) * head_dim;
    const int s = p0 + t;
    const int own_start = (s / B) * B;
    const int n_own = s - own_start + 1;

    const float* qh = q + std::size_t(t) * C + std::size_t(h) * head_dim;
    q_shared[warp][lane] = qh[lane];
    q_shared[warp][lane + 32] = qh[lane + 32];
    // The selected chunks up to the first -1 (fewer complete chunks than K-1).
    int n_chunks = 0;
    if (lane == 0) {
        while (n_chunks < n_select && selected[pair * n_select + n_chunks] >= 0) {
            chunks[warp][n_chunks] = selected[pair * n_select + n_chunks];
            ++n_chunks;
        }
    }
    n_chunks = __shfl_sync(0xffffffffu, n_chunks, 0);
    __syncwarp();
    const int n_keys = n_own + n_chunks * B;
    const std::size_t head_offset = std::size_t(h) * head_dim;

    float m = -INFINITY, l = 0.0f, acc0 = 0.0f, acc1 = 0.0f;
    for (int base = 0; base < n_keys; base += 32) {
        const int i = base + lane;
        int row = 0;
        float score = -INFINITY;
        if (i < n_keys) {
            // Key order: the own chunk's rows first, then each selected chunk's B rows.
            if (i < n_own) {
                row = own_start + i;
            } else {
                const int k = i - n_own;
                row = chunks[warp][k / B] * B + k % B;
            }
            score = dot_head(q_shared[warp], keys + std::size_t(row) * C + head_offset) * 0.125f;
        }
        float tile_max = score;
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2)
            tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, offset));
        const float new_m = fmaxf(m, tile_max);
        // Guards keep -inf - -inf (only possible with infinite inputs) from turning into NaN.
        const float correction = m == -INFINITY ? 0.0f : expf(m - new_m);
        const float p = (i < n_keys && new_m != -INFINITY) ? expf(score - new_m) : 0.0f;
        float p_sum = p;
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2)
            p_sum += __shfl_xor_sync(0xffffffffu, p_sum, offset);
        l = l * correction + p_sum;
        acc0 *= correction;
        acc1 *= correction;
        const int n_tile = min(32, n_keys - base);
        for (int j = 0; j < n_tile; ++j) {
            const float pj = __shfl_sync(0xffffffffu, p, j);
            const int row_j = __shfl_sync(0xffffffffu, row, j);
            const float2 v = reinterpret_cast<const float2*>(values + std::size_t(row_j) * C +
                                                             head_offset)[lane];
            acc0 = fmaf(pj, v.x, acc0);
            acc1 = fmaf(pj, v.y, acc1);
        }
        m = new_m;
    }
    float2 out;
    out.x = acc0 / l;
    out.y = acc1 / l;
    reinterpret_cast<float2*>(y + std::size_t(t) * C + head_offset)[lane] = out;
}

Result<void> check_shape(const SparseAttentionShape& shape) {
    if (shape.n_head < 1 || shape.chunk_size < 1)
        return make_error("sparse attention: n_head and chunk_size must be >= 1");
    if (shape.top_k < 1 || shape.top_k > sparse_max_top_k)
        return make_error("sparse attention: top_k must be in 1 .. 16");
    return {};
}

bool aligned(const void* p, std::size_t bytes) {
    return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

unsigned pair_blocks(int T, int H) {
    return unsigned(((long long)T * H + warps_per_block - 1) / warps_per_block);
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
    chunk_means_kernel<<<grid, threads, 0, stream>>>(keys, C, shape.chunk_size, first, count,
                                                     means);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> sparse_attention_select(const float* q, int T, int p0, const float* means,
                                     const SparseAttentionShape& shape, int* selected,
                                     cuda_stream stream) {
    if (auto r = check_shape(shape); !r) return r;
    if (T < 0 || p0 < 0) return make_error("sparse_attention_select: negative T or p0");
    const int n_select = shape.top_k - 1;
    if (T == 0 || n_select == 0) return {};
    if (!aligned(means, 16))
        return make_error("sparse_attention_select: means must be 16-byte aligned");
    select_kernel<<<pair_blocks(T, shape.n_head), block_threads, 0, stream>>>(
        q, T, p0, means, shape.n_head, shape.chunk_size, n_select, selected);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> sparse_attention_attend(const float* q, int T, int p0, const float* keys,
                                     const float* values, const int* selected,
                                     const SparseAttentionShape& shape, float* y,
                                     cuda_stream stream) {
    if (auto r = check_shape(shape); !r) return r;
    if (T < 0 || p0 < 0) return make_error("sparse_attention_attend: negative T or p0");
    if (T == 0) return {};
    const int n_select = shape.top_k - 1;
    if (n_select > 0 && !selected)
        return make_error("sparse_attention_attend: no selection for top_k > 1");
    if (!aligned(keys, 16) || !aligned(values, 8) || !aligned(y, 8))
        return make_error(
            "sparse_attention_attend: keys need 16-byte, values and y 8-byte alignment");
    attend_kernel<<<pair_blocks(T, shape.n_head), block_threads, 0, stream>>>(
        q, T, p0, keys, values, selected, shape.n_head, shape.chunk_size, n_select, y);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> sparse_attention(const float* q, int T, int p0, const float* keys, const float* values,
                              const float* means, const SparseAttentionShape& shape,
                              int* selected_scratch, float* y, cuda_stream stream) {
    if (auto r = sparse_attention_select(q, T, p0, means, shape, selected_scratch, stream); !r)
        return r;
    return sparse_attention_attend(q, T, p0, keys, values, selected_scratch, shape, y, stream);
}

}  // namespace lectern::cuda
