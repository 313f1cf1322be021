// Stage 2 of native sparse attention for prefill on tensor cores, with the queries grouped by the
// chunk they selected. The per-query kernels (sparse_attention_prefill.cu) read a selected chunk's
// 2 x B rows once per query and head: at 128K tokens of the 3.6B shape that is 2 MB per (query,
// head) and the attention core took 19.6 s on an H200 against 1.5 s for cuDNN's dense attention.
// Here each (head, chunk) gets the list of the call's queries that selected it, and a block
// attends 64 of them at once to the chunk's rows (attend_rows_mma), so those rows are read once
// per 64 queries and the products run on tensor cores. Each (query, head, selected chunk) leaves
// a partial softmax (max, sum, weighted value sum) in the scratch; then one block per (64-query
// tile, head) attends its own chunk causally the same way and merges in its queries' partials.
// Launches, in stream order (sparse_attention_scratch_bytes sizes the scratch):
//   1. clear_kernel (counts <- 0), list_kernel<false>: per (head, chunk) list, how many queries
//      selected that chunk;
//   2. plan_kernel (one block): list offsets (prefix sums) and 64-query tile descriptors;
//   3. list_kernel<true>: each (query, head, pick) into its list (atomics: the order within a list
//      varies, the results do not: every row of a tile is computed independently);
//   4. selected_kernel: one block per tile descriptor (an upper bound of blocks, extra ones
//      return at once); 5. own_kernel: own chunk, merge, y.
// Usable when 64 divides B (a 64-query tile lies in one chunk; a chunk is whole 64-key tiles).
// CPU twin: native_attention (engine/src/attention/native_attention.cpp); tests:
// tests/kernels/tst_sparse_attention_cuda.cpp, tests/emu/tst_sparse_attention_emu.cpp.
#include <cuda_runtime.h>

#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "sparse_attention_mma.cuh"

namespace lectern::cuda::sparse_detail {
namespace {

constexpr int plan_threads = 256;
constexpr int list_threads = 256;  // threads per block of clear_kernel and list_kernel

// A block's work in selected_kernel: entries first .. first + count - 1 of list `list`.
struct TileDesc {
    int list, first, count, unused;
};

// Where each part of the scratch lies (byte offsets, 256-aligned), for T queries at p0.
struct GroupedLayout {
    long long pairs = 0, entries = 0, lists = 0, max_tiles = 0;
    int n_chunks = 0;
    std::size_t counts = 0, cursor = 0, n_tiles = 0, tiles = 0, entry_ids = 0, ml = 0, acc = 0;
    std::size_t bytes = 0;
};

std::size_t align_256(std::size_t n) {
    return (n + 255) / 256 * 256;
}

GroupedLayout grouped_layout(int T, int p0, const SparseAttentionShape& shape) {
    GroupedLayout g;
    const int n_select = shape.top_k - 1;
    g.pairs = (long long)T * shape.n_head;
    g.entries = g.pairs * n_select;
    g.n_chunks =
        T > 0 ? (p0 + T - 1) / shape.chunk_size : 0;  // complete chunks before the last query
    g.lists = (long long)shape.n_head * g.n_chunks;
    // sum over lists of ceil(n / 64) <= (entries + 63 * lists) / 64
    g.max_tiles = (g.entries + 63 * g.lists) / mma_rows;
    std::size_t at = 0;
    const auto take = [&at](std::size_t bytes) {
        const std::size_t here = at;
        at += align_256(bytes);
        return here;
    };
    g.counts = take(std::size_t(g.lists) * sizeof(int));
    g.cursor = take(std::size_t(g.lists) * sizeof(int));
    g.n_tiles = take(sizeof(int));
    g.tiles = take(std::size_t(g.max_tiles) * sizeof(TileDesc));
    g.entry_ids = take(std::size_t(g.entries) * sizeof(int));
    g.ml = take(std::size_t(g.entries) * sizeof(float2));
    g.acc = take(std::size_t(g.entries) * head_dim * sizeof(float));
    g.bytes = at;
    return g;
}

// LECTERN_CUDA_ATTN=tiled keeps prefill on the per-query float32 kernels (a same-process A/B).
bool grouped_disabled() {
    static const bool disabled = [] {
        const char* v = std::getenv("LECTERN_CUDA_ATTN");
        return v && std::strcmp(v, "tiled") == 0;
    }();
    return disabled;
}

// counts[0 .. n) = 0 (a kernel rather than cudaMemsetAsync: the launchers take any pointer the
// kernels can read, and the emulated tests pass host memory).
__global__ void clear_kernel(int* __restrict__ counts, int n) {
    const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) counts[i] = 0;
}

// One thread per (query, head) pair, over its picks up to the first -1. Fill = false counts
// each pick in its list (lists = counts); Fill = true writes its entry id (pair * n_select + pick)
// at its list's cursor and advances it (lists = cursor).
template <bool Fill>
__global__ void list_kernel(const int* __restrict__ selected, long long pairs, int H, int n_select,
                            int n_chunks, int* __restrict__ lists, int* __restrict__ entry_ids) {
    const long long pair = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (pair >= pairs) return;
    const int h = int(pair % H);
    for (int k = 0; k < n_select; ++k) {
        const int chunk = selected[pair * n_select + k];
        if (chunk < 0) break;
        if (chunk >= n_chunks) continue;
        const int at = atomicAdd(&lists[h * n_chunks + chunk], 1);
        if constexpr (Fill) entry_ids[at] = int(pair * n_select + k);
    }
}

// One block: thread i takes a contiguous run of lists; a block-wide exclusive scan of the runs'
// entry and tile counts gives each list its first entry (cursor) and its tiles.
__global__ void __launch_bounds__(plan_threads)
    plan_kernel(const int* __restrict__ counts, int n_lists, int* __restrict__ cursor,
                TileDesc* __restrict__ tiles, int* __restrict__ n_tiles) {
    __shared__ int warp_entries[plan_threads / 32];
    __shared__ int warp_tiles[plan_threads / 32];
    const int tid = int(threadIdx.x);
    const int lane = tid % 32;
    const int warp = tid / 32;
    const int per = (n_lists + plan_threads - 1) / plan_threads;
    const int begin = min(n_lists, tid * per);
    const int end = min(n_lists, begin + per);
    int entries = 0, n = 0;
    for (int l = begin; l < end; ++l) {
        entries += counts[l];
        n += (counts[l] + mma_rows - 1) / mma_rows;
    }
    // Inclusive scan within the warp, then across the warps' totals.
    int e_incl = entries, t_incl = n;
    for (int d = 1; d < 32; d *= 2) {
        const int e = __shfl_sync(mma_full_mask, e_incl, lane - d);
        const int t = __shfl_sync(mma_full_mask, t_incl, lane - d);
        if (lane >= d) {
            e_incl += e;
            t_incl += t;
        }
    }
    if (lane == 31) {
        warp_entries[warp] = e_incl;
        warp_tiles[warp] = t_incl;
    }
    __syncthreads();
    int e_at = e_incl - entries, t_at = t_incl - n, total_tiles = 0;
    for (int w = 0; w < plan_threads / 32; ++w) {
        if (w < warp) {
            e_at += warp_entries[w];
            t_at += warp_tiles[w];
        }
        total_tiles += warp_tiles[w];
    }
    for (int l = begin; l < end; ++l) {
        const int count = counts[l];
        cursor[l] = e_at;
        for (int first = 0; first < count; first += mma_rows)
            tiles[t_at++] = TileDesc{l, e_at + first, min(mma_rows, count - first), 0};
        e_at += count;
    }
    if (tid == 0) *n_tiles = total_tiles;
}

// Block x: tile x of the plan (if it exists): its queries against all B rows of the list's chunk.
// Leaves each entry's partial softmax: ml[e] = (max, sum), acc[e][64] = weighted value sum.
__global__ void __launch_bounds__(mma_threads)
    selected_kernel(const float* __restrict__ q, const float* __restrict__ keys,
                    const float* __restrict__ values, const int* __restrict__ page, int H, int B,
                    int n_select, int n_chunks, const TileDesc* __restrict__ tiles,
                    const int* __restrict__ n_tiles, const int* __restrict__ entry_ids,
                    float2* __restrict__ ml, float* __restrict__ acc) {
    __shared__ __align__(32) MmaShared sh;
    if (int(blockIdx.x) >= *n_tiles) return;  // block-uniform, before any barrier
    const TileDesc d = tiles[blockIdx.x];
    const int h = d.list / n_chunks;
    const int chunk = d.list % n_chunks;
    const std::size_t C = std::size_t(H) * head_dim;
    const std::size_t head_offset = std::size_t(h) * head_dim;
    const long long per_query = (long long)H * n_select;  // entries per query position
    for (int i = int(threadIdx.x); i < mma_rows * head_dim / 4; i += mma_threads) {
        const int r = i / (head_dim / 4);
        const float* from = nullptr;
        if (r < d.count) {
            const long long t = entry_ids[d.first + r] / per_query;
            from = q + std::size_t(t) * C + head_offset;
        }
        stage_query_row(sh, r, i % (head_dim / 4), from);
    }
    if (threadIdx.x < mma_rows) sh.row_pos[threadIdx.x] = int(threadIdx.x) < d.count ? INT_MAX : -1;
    __syncthreads();

    RowState st;
    attend_rows_mma(sh, keys, values, C, head_offset, chunk_base_row(page, chunk, B), B, 0, st);

    const int lane = int(threadIdx.x % 32);
    const int row = 16 * int(threadIdx.x / 32) + lane / 2;
    if (row >= d.count) return;
    const int e = entry_ids[d.first + row];
    float4* out = reinterpret_cast<float4*>(acc + std::size_t(e) * head_dim + 32 * (lane % 2));
#pragma unroll
    for (int i = 0; i < 8; ++i)
        out[i] = make_float4(st.o[4 * i], st.o[4 * i + 1], st.o[4 * i + 2], st.o[4 * i + 3]);
    if (lane % 2 == 0) ml[e] = make_float2(st.m, st.l);
}

// Block (x, h): query positions (p0 / 64 + x) * 64 .. + 63 within the call, head h. Own chunk
// causally (every query sees at least its own key, so its max is finite), then the partials of
// its picks up to the first -1, then y.
__global__ void __launch_bounds__(mma_threads)
    own_kernel(const float* __restrict__ q, int T, int p0, const float* __restrict__ keys,
               const float* __restrict__ values, const int* __restrict__ page,
               const int* __restrict__ selected, int H, int B, int n_select, int n_chunks,
               const float2* __restrict__ ml, const float* __restrict__ acc,
               float* __restrict__ y) {
    __shared__ __align__(32) MmaShared sh;
    const int h = int(blockIdx.y);
    const std::size_t C = std::size_t(H) * head_dim;
    const std::size_t head_offset = std::size_t(h) * head_dim;
    const QueryTile tile = query_tile(int(blockIdx.x), mma_rows, p0, T, B);  // 64 divides B
    const int tile_start = tile.start, first = tile.first, last = tile.last;
    const int own_start = tile.own_start;
    for (int i = int(threadIdx.x); i < mma_rows * head_dim / 4; i += mma_threads) {
        const int s = tile_start + i / (head_dim / 4);
        const float* from =
            (s >= first && s <= last) ? q + std::size_t(s - p0) * C + head_offset : nullptr;
        stage_query_row(sh, i / (head_dim / 4), i % (head_dim / 4), from);
    }
    if (threadIdx.x < mma_rows) {
        const int s = tile_start + int(threadIdx.x);
        sh.row_pos[threadIdx.x] = (s >= first && s <= last) ? s : -1;
    }
    __syncthreads();

    RowState st;
    attend_rows_mma(sh, keys, values, C, head_offset, chunk_base_row(page, tile_start / B, B),
                    last - own_start + 1, own_start, st);

    const int lane = int(threadIdx.x % 32);
    const int side = lane % 2;
    const int s = tile_start + 16 * int(threadIdx.x / 32) + lane / 2;
    if (s < first || s > last) return;
    const long long pair = (long long)(s - p0) * H + h;
    float m = st.m;
    for (int k = 0; k < n_select; ++k) {
        const int chunk = selected[pair * n_select + k];
        if (chunk < 0) break;
        if (chunk < n_chunks) m = fmaxf(m, ml[pair * n_select + k].x);
    }
    const float own_w = expf(st.m - m);
    float l = st.l * own_w;
    float* o = st.o;  // merged in place
#pragma unroll
    for (int i = 0; i < 32; ++i) o[i] *= own_w;
    for (int k = 0; k < n_select; ++k) {
        const long long e = pair * n_select + k;
        const int chunk = selected[e];
        if (chunk < 0) break;
        if (chunk >= n_chunks) continue;
        const float2 part = ml[e];
        const float w = expf(part.x - m);
        l += part.y * w;
        const float4* a =
            reinterpret_cast<const float4*>(acc + std::size_t(e) * head_dim + 32 * side);
#pragma unroll
        for (int i = 0; i < 8; ++i) {
            const float4 v = a[i];
            o[4 * i] += v.x * w;
            o[4 * i + 1] += v.y * w;
            o[4 * i + 2] += v.z * w;
            o[4 * i + 3] += v.w * w;
        }
    }
    float4* out = reinterpret_cast<float4*>(y + std::size_t(s - p0) * C + head_offset + 32 * side);
#pragma unroll
    for (int i = 0; i < 8; ++i)
        out[i] = make_float4(o[4 * i] / l, o[4 * i + 1] / l, o[4 * i + 2] / l, o[4 * i + 3] / l);
}

}  // namespace

bool can_use_grouped_prefill(int T, const SparseAttentionShape& shape) {
    const long long entries = (long long)T * shape.n_head * (shape.top_k - 1);
    return !grouped_disabled() && !use_block_per_pair(T, shape.n_head) &&
           shape.chunk_size % mma_rows == 0 && entries <= INT_MAX && shape.n_head <= 65535;
}

std::size_t grouped_scratch_bytes(int T, int p0, const SparseAttentionShape& shape) {
    const GroupedLayout g = grouped_layout(T, p0, shape);
    // List ids and tile indices are ints in the kernels.
    if (g.lists > INT_MAX || g.max_tiles > INT_MAX) return 0;
    return g.bytes;
}

cudaError_t launch_attend_grouped(const float* q, int T, int p0, const float* key_pool,
                                  const float* value_pool, const int* page, const int* selected,
                                  const SparseAttentionShape& shape, void* scratch, float* y,
                                  cudaStream_t stream) {
    const GroupedLayout g = grouped_layout(T, p0, shape);
    auto* base = static_cast<unsigned char*>(scratch);
    const auto* ml = reinterpret_cast<float2*>(base + g.ml);
    const auto* acc = reinterpret_cast<float*>(base + g.acc);
    const int H = shape.n_head, B = shape.chunk_size, n_select = shape.top_k - 1;
    if (n_select > 0 && g.lists > 0) {
        int* counts = reinterpret_cast<int*>(base + g.counts);
        int* cursor = reinterpret_cast<int*>(base + g.cursor);
        int* n_tiles = reinterpret_cast<int*>(base + g.n_tiles);
        auto* tiles = reinterpret_cast<TileDesc*>(base + g.tiles);
        int* entry_ids = reinterpret_cast<int*>(base + g.entry_ids);
        const unsigned list_blocks = unsigned((g.lists + list_threads - 1) / list_threads);
        clear_kernel<<<list_blocks, list_threads, 0, stream>>>(counts, int(g.lists));
        const unsigned pair_blocks = unsigned((g.pairs + list_threads - 1) / list_threads);
        list_kernel<false><<<pair_blocks, list_threads, 0, stream>>>(selected, g.pairs, H, n_select,
                                                                     g.n_chunks, counts, nullptr);
        plan_kernel<<<1, plan_threads, 0, stream>>>(counts, int(g.lists), cursor, tiles, n_tiles);
        list_kernel<true><<<pair_blocks, list_threads, 0, stream>>>(selected, g.pairs, H, n_select,
                                                                    g.n_chunks, cursor, entry_ids);
        if (g.max_tiles > 0)
            selected_kernel<<<unsigned(g.max_tiles), mma_threads, 0, stream>>>(
                q, key_pool, value_pool, page, H, B, n_select, g.n_chunks, tiles, n_tiles,
                entry_ids, reinterpret_cast<float2*>(base + g.ml),
                reinterpret_cast<float*>(base + g.acc));
    }
    const int own_tiles = (p0 + T - 1) / mma_rows - p0 / mma_rows + 1;
    own_kernel<<<dim3(unsigned(own_tiles), unsigned(H)), mma_threads, 0, stream>>>(
        q, T, p0, key_pool, value_pool, page, selected, H, B, n_select, g.n_chunks, ml, acc, y);
    return cudaGetLastError();
}

}  // namespace lectern::cuda::sparse_detail
