// Internals shared by the native sparse attention files: sparse_attention.cu (host API, argument
// checks, chunk means), sparse_attention_select.cu (stage 1), sparse_attention_attend.cu and
// sparse_attention_prefill.cu, sparse_attention_grouped.cu (stage 2; their common device code is
// sparse_attention_tile.cuh and, for the tensor-core kernels, sparse_attention_mma.cuh):
// the dispatch rule, the head-row dot product and the stage launchers.
// CPU twin: engine/src/attention/native_attention.cpp; test:
// tests/kernels/tst_sparse_attention_cuda.cpp.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "lectern/cuda/sparse_attention.h"

namespace lectern::cuda::sparse_detail {

constexpr int head_dim = sparse_head_dim;
constexpr int max_select = sparse_max_top_k - 1;

// Dispatch rule shared by both stages. With few (query, head) pairs (decode: T * n_head = 40 for
// the 3.6B model) one warp per pair leaves most of the GPU idle and each warp walks its thousands
// of keys serially (latency bound), so each pair gets a whole block whose warps split the work.
// With many pairs (prefill) one warp per pair (or per 4 queries of a tile in stage 2) already
// fills every SM. 1024 pairs x 16 warps is about two waves of a 132-SM H100.
constexpr long long few_pairs = 1024;

inline bool use_block_per_pair(int T, int n_head) {
    return (long long)T * n_head <= few_pairs;
}

constexpr float score_scale = 0.125f;  // 1 / sqrt(64)

// The pool row of chunk `chunk`'s row 0: chunk * B dense, page[chunk] * B paged (64-bit: rows * C
// overflows int).
__device__ inline long long chunk_base_row(const int* __restrict__ page, int chunk, int B) {
    return (long long)(page ? page[chunk] : chunk) * B;
}

// Tile x of a prefill kernel's tiles of `size` consecutive query positions (the first one holds
// p0): its positions start .. start + size - 1, the first and last of them within the call
// (p0 .. p0 + T - 1), and where its own chunk starts (the same chunk for the whole tile when
// size divides B).
struct QueryTile {
    int start, first, last, own_start;
};

__device__ inline QueryTile query_tile(int x, int size, int p0, int T, int B) {
    const int start = (p0 / size + x) * size;
    return QueryTile{start, max(start, p0), min(start + size - 1, p0 + T - 1), (start / B) * B};
}

// q_h · row_h for one 64-float head row (16-byte aligned), q from shared memory. Written as the 16
// loads first, then the FMAs: decode is latency bound, so the row's loads should be in flight
// together. ptxas keeps them so only when it may spend the registers (the decode kernels' launch
// bounds ask for 1 block per SM; with the default it interleaved them, 3 loads at a time).
__device__ inline float dot_head(const float* __restrict__ q_shared,
                                 const float* __restrict__ row) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    float4 rows[head_dim / 4];
#pragma unroll
    for (int i = 0; i < head_dim / 4; ++i) rows[i] = __ldg(r4 + i);
    float d = 0.0f;
#pragma unroll
    for (int i = 0; i < head_dim / 4; ++i) {
        const float4 r = rows[i];
        d = fmaf(q_shared[4 * i + 0], r.x, d);
        d = fmaf(q_shared[4 * i + 1], r.y, d);
        d = fmaf(q_shared[4 * i + 2], r.z, d);
        d = fmaf(q_shared[4 * i + 3], r.w, d);
    }
    return d;
}

// The (query t, head h) pair of a warp-per-pair kernel (pair = t * n_head + h) and where its head
// sits in a [rows][C] array.
struct WarpPair {
    int t, h;
    std::size_t C, head_offset;
};

__device__ inline WarpPair warp_pair(long long pair, int n_head) {
    const int t = int(pair / n_head);
    const int h = int(pair % n_head);
    const std::size_t C = std::size_t(n_head) * head_dim;
    return WarpPair{t, h, C, std::size_t(h) * head_dim};
}

// The pair's 64 query values into the warp's shared row (two per lane); the caller syncs the warp.
__device__ inline void stage_query(const float* __restrict__ q, const WarpPair& p, int lane,
                                   float* __restrict__ q_shared) {
    const float* qh = q + std::size_t(p.t) * p.C + p.head_offset;
    q_shared[lane] = qh[lane];
    q_shared[lane + 32] = qh[lane + 32];
}

// Stage launchers (arguments already checked by sparse_attention.cu). They return the launch status
// (cudaGetLastError) for the caller to turn into an error value.
cudaError_t launch_select(const float* q, int T, int p0, const float* means,
                          const SparseAttentionShape& shape, int* selected, cudaStream_t stream);

// Decode (one block per pair) with each pair's keys split among several blocks, as
// flash-decoding does: a one-token call of the 3.6B shape has 40 pairs, and 40 blocks leave most
// of an H100's 132 SMs idle while each walks up to 3 x 2048 keys. A split's part of the softmax:
// its max m, its sum l and its weighted value sums acc[64], unnormalised; one per (pair, split),
// at index pair * splits + split. The parts live in the caller's scratch.
constexpr int max_decode_splits = 16;
struct SplitParts {
    float* m;
    float* l;
    float* acc;
};
// Scratch bytes for the parts of `pairs` pairs at the most splits.
std::size_t split_scratch_bytes(int pairs);
// How many splits a decode launch of `pairs` pairs uses: `requested` when > 0; else
// LECTERN_CUDA_ATTN_SPLITS when set (an A/B: 1 is one block per pair); else enough to fill the
// device's SMs once, each split with at least a tile per warp at the most keys a pair can have
// (top_k * B). In 1 .. max_decode_splits.
int decode_splits(int pairs, const SparseAttentionShape& shape, int requested);

// `scratch`: for the tensor-core prefill grouped_scratch_bytes(T, p0, shape) bytes, for decode
// split_scratch_bytes(T * n_head) (`splits` as decode_splits takes it); or null (the float32
// kernels, one block per pair in decode).
cudaError_t launch_attend(const float* q, int T, int p0, const float* key_pool,
                          const float* value_pool, const int* page, const int* selected,
                          const SparseAttentionShape& shape, void* scratch, int splits, float* y,
                          cudaStream_t stream);

// Prefill over query tiles (sparse_attention_prefill.cu): usable when a 32-query tile never spans
// two chunks (32 divides B); launch_attend picks it for many pairs.
bool can_use_tiled_prefill(const SparseAttentionShape& shape);

// Prefill on tensor cores with queries grouped by selected chunk (sparse_attention_grouped.cu):
// usable for many pairs when 64 divides B (and not turned off by LECTERN_CUDA_ATTN=tiled); it
// needs grouped_scratch_bytes of device scratch (0: the call cannot take this path).
bool can_use_grouped_prefill(int T, const SparseAttentionShape& shape);
std::size_t grouped_scratch_bytes(int T, int p0, const SparseAttentionShape& shape);
cudaError_t launch_attend_grouped(const float* q, int T, int p0, const float* key_pool,
                                  const float* value_pool, const int* page, const int* selected,
                                  const SparseAttentionShape& shape, void* scratch, float* y,
                                  cudaStream_t stream);

cudaError_t launch_attend_tiled(const float* q, int T, int p0, const float* key_pool,
                                const float* value_pool, const int* page, const int* selected,
                                const SparseAttentionShape& shape, float* y, cudaStream_t stream);

}  // namespace lectern::cuda::sparse_detail
