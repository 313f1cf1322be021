// Stage 2 of native sparse attention for prefill (many queries): one block per (tile of 32
// consecutive query positions, head). The tile's queries share their own chunk (32 divides B), so
// its K/V rows are read from memory once per tile into shared memory, not once per query; each
// query masks the keys after its own position (causal). The selected chunks differ per query and
// are read from global memory per query, as in the other kernels (attend_tile), continuing the same
// online softmax. Dense or paged cache as in sparse_attention_attend.cu.
// CPU twin: native_attention (engine/src/attention/native_attention.cpp); test:
// tests/kernels/tst_sparse_attention_cuda.cpp (prefill cases with B = 128 / 2048).
#include <cstddef>

#include "sparse_attention_tile.cuh"

namespace lectern::cuda::sparse_detail {
namespace {

constexpr int tile_queries = 32;                          // query positions per block
constexpr int tiled_warps = 8;                            // warps per block
constexpr int warp_queries = tile_queries / tiled_warps;  // queries per warp (4)
constexpr int key_tile = 32;                              // own-chunk keys per shared tile
constexpr int padded_row = head_dim + 4;                  // floats per shared K/V row
constexpr int tile_float4s = key_tile * head_dim / 4;     // float4s per K (or V) tile
static_assert(tile_float4s % (tiled_warps * 32) == 0, "each thread loads whole float4s");

// Block (x = tile, y = head h). Tile x covers the positions (p0 / 32 + x) * 32 .. + 31 that lie in
// p0 .. p0 + T - 1; warp w owns the tile's positions 4w .. 4w + 3.
// Shared K rows are padded to 68 floats: lane j reads row j with float4 loads, and a stride of 17
// float4s puts 8 consecutive lanes in 8 different 16-byte bank groups (no conflicts).
__global__ void __launch_bounds__(tiled_warps * 32)
    attend_tiled_kernel(const float* __restrict__ q, int T, int p0, const float* __restrict__ keys,
                        const float* __restrict__ values, const int* __restrict__ page,
                        const int* __restrict__ selected, int H, int B, int n_select,
                        float* __restrict__ y) {
    __shared__ __align__(16) float q_shared[tile_queries][head_dim];
    __shared__ __align__(16) float k_shared[key_tile][padded_row];
    __shared__ __align__(16) float v_shared[key_tile][padded_row];
    __shared__ KeySet chosen[tile_queries];  // each query's selected chunks only (n_own = 0)
    const int h = int(blockIdx.y);
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const std::size_t C = std::size_t(H) * head_dim;
    const std::size_t head_offset = std::size_t(h) * head_dim;
    const QueryTile tile = query_tile(int(blockIdx.x), tile_queries, p0, T, B);  // 32 divides B
    const int tile_start = tile.start, first = tile.first, last = tile.last;
    const int own_start = tile.own_start;

    // Queries (zeros for positions outside the call) and their selected chunks.
    for (int i = int(threadIdx.x); i < tile_queries * head_dim; i += tiled_warps * 32) {
        const int s = tile_start + i / head_dim;
        q_shared[i / head_dim][i % head_dim] =
            (s >= first && s <= last)
                ? q[std::size_t(s - p0) * C + head_offset + std::size_t(i % head_dim)]
                : 0.0f;
    }
    if (threadIdx.x < tile_queries) {
        const int s = tile_start + int(threadIdx.x);
        KeySet& set = chosen[threadIdx.x];
        if (s >= first && s <= last) {
            load_key_set(selected, (long long)(s - p0) * H + h, n_select, page, s, B, set);
            set.n_keys -= set.n_own;  // the own chunk comes from shared memory instead
            set.n_own = 0;
        } else {
            set.n_own = 0;
            set.n_keys = 0;
        }
    }
    const long long own_base = chunk_base_row(page, tile_start / B, B);  // page lookup hoisted
    __syncthreads();

    int pos[warp_queries];  // this warp's query positions; -1 for positions outside the call
    SoftmaxState st[warp_queries];
#pragma unroll
    for (int j = 0; j < warp_queries; ++j) {
        const int s = tile_start + warp * warp_queries + j;
        pos[j] = (s >= first && s <= last) ? s : -1;
    }

    // Own-chunk keys own_start .. last in shared tiles of 32 (a block-uniform loop: barriers ok).
    const int n_own = last - own_start + 1;
    for (int kt = 0; kt < n_own; kt += key_tile) {
        for (int i = int(threadIdx.x); i < tile_float4s; i += tiled_warps * 32) {
            const int r = i / (head_dim / 4);
            const int c4 = i % (head_dim / 4);
            float4 kv = make_float4(0.0f, 0.0f, 0.0f, 0.0f), vv = kv;
            if (kt + r < n_own) {  // rows after `last` may not exist (dense cache ends there)
                const std::size_t at = std::size_t(own_base + kt + r) * C + head_offset;
                kv = reinterpret_cast<const float4*>(keys + at)[c4];
                vv = reinterpret_cast<const float4*>(values + at)[c4];
            }
            reinterpret_cast<float4*>(&k_shared[r][0])[c4] = kv;
            reinterpret_cast<float4*>(&v_shared[r][0])[c4] = vv;
        }
        __syncthreads();

        // Lane j scores key kt + j (position own_start + kt + j) against the warp's 4 queries.
        float score[warp_queries] = {};
        const float4* k_row = reinterpret_cast<const float4*>(&k_shared[lane][0]);
#pragma unroll
        for (int c4 = 0; c4 < head_dim / 4; ++c4) {
            const float4 k4 = k_row[c4];
#pragma unroll
            for (int j = 0; j < warp_queries; ++j) {
                const float* qj = &q_shared[warp * warp_queries + j][4 * c4];
                score[j] = fmaf(qj[0], k4.x, score[j]);
                score[j] = fmaf(qj[1], k4.y, score[j]);
                score[j] = fmaf(qj[2], k4.z, score[j]);
                score[j] = fmaf(qj[3], k4.w, score[j]);
            }
        }
        const int key_pos = own_start + kt + lane;
        float p[warp_queries];
#pragma unroll
        for (int j = 0; j < warp_queries; ++j)
            p[j] = online_update(st[j], score[j] * score_scale, pos[j] >= 0 && key_pos <= pos[j]);

        // Values: half-warp `half` takes the keys of its parity, one padded row per step.
        const int half = lane / 16;
        const int sub = lane % 16;
#pragma unroll
        for (int step = 0; step < key_tile / 2; ++step) {
            const int r = 2 * step + half;
            const float4 v = reinterpret_cast<const float4*>(&v_shared[r][0])[sub];
#pragma unroll
            for (int j = 0; j < warp_queries; ++j) {
                const float pj = __shfl_sync(full_mask, p[j], r);
                st[j].acc.x = fmaf(pj, v.x, st[j].acc.x);
                st[j].acc.y = fmaf(pj, v.y, st[j].acc.y);
                st[j].acc.z = fmaf(pj, v.z, st[j].acc.z);
                st[j].acc.w = fmaf(pj, v.w, st[j].acc.w);
            }
        }
        __syncthreads();  // the next tile overwrites k_shared / v_shared
    }

    // Each query's selected chunks from global memory, then its output row.
#pragma unroll
    for (int j = 0; j < warp_queries; ++j) {
        if (pos[j] < 0) continue;  // warp-uniform; no barrier follows
        const int slot = warp * warp_queries + j;
        const KeySet& set = chosen[slot];
        for (int k = 0; k < set.n_keys; k += 32)
            attend_tile(q_shared[slot], keys, values, C, head_offset, set, B, k, lane, st[j]);
        const float4 acc = combine_halves(st[j].acc);
        if (lane < 16) {
            const float l = st[j].l;
            reinterpret_cast<float4*>(y + std::size_t(pos[j] - p0) * C + head_offset)[lane] =
                make_float4(acc.x / l, acc.y / l, acc.z / l, acc.w / l);
        }
    }
}

}  // namespace

bool can_use_tiled_prefill(const SparseAttentionShape& shape) {
    return shape.chunk_size % tile_queries == 0 && shape.n_head <= 65535;  // gridDim.y limit
}

cudaError_t launch_attend_tiled(const float* q, int T, int p0, const float* key_pool,
                                const float* value_pool, const int* page, const int* selected,
                                const SparseAttentionShape& shape, float* y, cudaStream_t stream) {
    const int tiles = (p0 + T - 1) / tile_queries - p0 / tile_queries + 1;
    const dim3 grid(unsigned(tiles), unsigned(shape.n_head));
    attend_tiled_kernel<<<grid, tiled_warps * 32, 0, stream>>>(
        q, T, p0, key_pool, value_pool, page, selected, shape.n_head, shape.chunk_size,
        shape.top_k - 1, y);
    return cudaGetLastError();
}

}  // namespace lectern::cuda::sparse_detail
