// Stage 1 of native sparse attention on the GPU: for each (query t, head h), the top (K-1) complete
// earlier chunks by q_{t,h} · mean_{c,h}, best first, ties to the lower chunk, NaN scores ranked as
// -inf, -1 for missing entries. CPU twin: native_attention (engine/src/attention/
// native_attention.cpp); test: tests/kernels/tst_sparse_attention_cuda.cpp.
// Two kernels, one ranking (sparse_detail::use_block_per_pair picks):
// - select_warp_kernel: one warp per pair, for prefill (many pairs, few candidates each);
// - select_block_kernel: one block per pair, for decode, where a 1M-token context has 512
//   candidates per pair at B = 2048 (65536 at B = 16): the 256 threads split them.
// Both build per-lane best lists and merge them with the same warp arg-max (warp_merge).
#include <cstddef>

#include "sparse_attention_internal.cuh"

namespace lectern::cuda::sparse_detail {
namespace {

constexpr int select_warps = 4;        // warps per block of select_warp_kernel
constexpr int select_block_warps = 8;  // warps per block of select_block_kernel
constexpr unsigned full_mask = 0xffffffffu;

// Ranking of candidate chunks: higher score first, equal scores to the lower chunk; chunk < 0 is
// "no candidate" and loses to every real one. Scores are never NaN here (mapped to -inf).
__device__ bool ranks_before(float score_a, int chunk_a, float score_b, int chunk_b) {
    if (chunk_a < 0) return false;
    if (chunk_b < 0) return true;
    return score_a > score_b || (score_a == score_b && chunk_a < chunk_b);
}

// One thread's best n_select candidates, sorted best first (local memory: n_select is a runtime
// value, so the arrays are indexed dynamically).
struct BestList {
    float score[max_select];
    int chunk[max_select];
};

__device__ void list_clear(BestList& list, int n_select) {
    for (int i = 0; i < n_select; ++i) {
        list.score[i] = -INFINITY;
        list.chunk[i] = -1;
    }
}

// Callers offer chunks in increasing order, so a later equal score never displaces an earlier one:
// strict > keeps the lower chunk on ties.
__device__ void list_offer(BestList& list, int n_select, float score, int chunk) {
    if (isnan(score)) score = -INFINITY;
    const int last = n_select - 1;
    if (list.chunk[last] >= 0 && !(score > list.score[last])) return;
    int j = last;
    while (j > 0 && (list.chunk[j - 1] < 0 || score > list.score[j - 1])) {
        list.score[j] = list.score[j - 1];
        list.chunk[j] = list.chunk[j - 1];
        --j;
    }
    list.score[j] = score;
    list.chunk[j] = chunk;
}

// Merges the 32 lanes' lists into the warp's best n_select by n_select rounds of a butterfly
// arg-max (a total order: chunks are distinct across lanes, so every lane ends with the same
// winner and exactly one lane owns it). Lane 0 writes round i's winner to out_chunk[i] and, when
// out_score is not null, out_score[i]. All 32 lanes must call it.
__device__ void warp_merge(const BestList& list, int n_select, int lane, int* out_chunk,
                           float* out_score) {
    int head = 0;  // next unused entry of this lane's list
    for (int i = 0; i < n_select; ++i) {
        float score = head < n_select ? list.score[head] : -INFINITY;
        int chunk = head < n_select ? list.chunk[head] : -1;
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2) {
            const float other_score = __shfl_xor_sync(full_mask, score, offset);
            const int other_chunk = __shfl_xor_sync(full_mask, chunk, offset);
            if (ranks_before(other_score, other_chunk, score, chunk)) {
                score = other_score;
                chunk = other_chunk;
            }
        }
        if (chunk >= 0 && head < n_select && list.chunk[head] == chunk) ++head;
        if (lane == 0) {
            out_chunk[i] = chunk;
            if (out_score) out_score[i] = score;
        }
    }
}

// One warp per (query t, head h); lane j scores chunks j, j + 32, ...
__global__ void select_warp_kernel(const float* __restrict__ q, int T, int p0,
                                   const float* __restrict__ means, int H, int B, int n_select,
                                   int* __restrict__ selected) {
    __shared__ float q_shared[select_warps][head_dim];
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const long long pair = (long long)blockIdx.x * select_warps + warp;
    if (pair >= (long long)T * H) return;  // uniform per warp; no block-wide barrier follows
    const WarpPair p = warp_pair(pair, H);
    const int own_chunk = (p0 + p.t) / B;  // candidates: chunks 0 .. own_chunk - 1

    stage_query(q, p, lane, q_shared[warp]);
    __syncwarp();

    BestList list;
    list_clear(list, n_select);
    for (int c = lane; c < own_chunk; c += 32)
        list_offer(list, n_select,
                   dot_head(q_shared[warp], means + std::size_t(c) * p.C + p.head_offset), c);
    warp_merge(list, n_select, lane, selected + pair * n_select, nullptr);
}

// One block per (query t = blockIdx.x / H, head h); thread j scores chunks j, j + 256, ...; each
// warp merges its lanes' lists into shared memory, then warp 0 merges the warps' lists (lane w
// holding warp w's list, the other lanes empty) with the same arg-max.
// (Minimum 1 block per SM: only T * H <= 1024 blocks run, so ptxas may keep all of a mean row's
// loads in flight instead of trading them for occupancy.)
__global__ void __launch_bounds__(select_block_warps * 32, 1)
    select_block_kernel(const float* __restrict__ q, int p0, const float* __restrict__ means, int H,
                        int B, int n_select, int* __restrict__ selected) {
    __shared__ float q_shared[head_dim];
    __shared__ float warp_score[select_block_warps][max_select];
    __shared__ int warp_chunk[select_block_warps][max_select];
    const long long pair = blockIdx.x;
    const int t = int(pair / H);
    const int h = int(pair % H);
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const std::size_t C = std::size_t(H) * head_dim;
    const int own_chunk = (p0 + t) / B;

    if (threadIdx.x < head_dim)
        q_shared[threadIdx.x] = q[std::size_t(t) * C + std::size_t(h) * head_dim + threadIdx.x];
    __syncthreads();

    BestList list;
    list_clear(list, n_select);
    for (int c = int(threadIdx.x); c < own_chunk; c += select_block_warps * 32)
        list_offer(list, n_select,
                   dot_head(q_shared, means + std::size_t(c) * C + std::size_t(h) * head_dim), c);
    warp_merge(list, n_select, lane, warp_chunk[warp], warp_score[warp]);
    __syncthreads();

    if (warp != 0) return;  // warp-uniform; no barrier follows
    list_clear(list, n_select);
    if (lane < select_block_warps)
        for (int i = 0; i < n_select; ++i) {
            list.score[i] = warp_score[lane][i];
            list.chunk[i] = warp_chunk[lane][i];
        }
    warp_merge(list, n_select, lane, selected + pair * n_select, nullptr);
}

}  // namespace

cudaError_t launch_select(const float* q, int T, int p0, const float* means,
                          const SparseAttentionShape& shape, int* selected, cudaStream_t stream) {
    const int H = shape.n_head;
    const int n_select = shape.top_k - 1;
    if (use_block_per_pair(T, H)) {
        select_block_kernel<<<unsigned(T * H), select_block_warps * 32, 0, stream>>>(
            q, p0, means, H, shape.chunk_size, n_select, selected);
    } else {
        const long long pairs = (long long)T * H;
        const unsigned blocks = unsigned((pairs + select_warps - 1) / select_warps);
        select_warp_kernel<<<blocks, select_warps * 32, 0, stream>>>(
            q, T, p0, means, H, shape.chunk_size, n_select, selected);
    }
    return cudaGetLastError();
}

}  // namespace lectern::cuda::sparse_detail
