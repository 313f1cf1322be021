// Stage 2 of native sparse attention on the GPU: for each (query t at position s, head h), one
// softmax (scale 1/8) over the own chunk's rows floor(s/B)*B .. s and the B rows of each selected
// chunk, over a dense or a paged KV cache (sparse_attention_attend_paged in the header).
// CPU twin: native_attention (engine/src/attention/native_attention.cpp); test:
// tests/kernels/tst_sparse_attention_cuda.cpp.
// Dispatch (launch_attend):
// - attend_block_kernel when T * H <= 1024 (use_block_per_pair; decode): one block of 16 warps per
//   pair, where one warp walking up to 3 x 2048 keys serially was latency bound; warp w takes key
//   tiles w, w + 16, ... with its own online softmax state, merged in shared memory at the end.
//   Given scratch, each pair's keys are split among several blocks (decode_splits) and
//   combine_splits_kernel merges their parts: the pairs alone do not fill the GPU;
// - else, given the caller's scratch, when 64 divides B: the tensor-core kernels of
//   sparse_attention_grouped.cu (queries grouped by selected chunk; can_use_grouped_prefill);
// - else attend_tiled_kernel (sparse_attention_prefill.cu) when 32 divides B: query tiles sharing
//   their own chunk's K/V through shared memory;
// - else attend_warp_kernel: one warp per pair (prefill with small chunks, e.g. B = 16).
// The float32 kernels use the same 32-key tile step (attend_tile in sparse_attention_tile.cuh).
// Dense and paged layouts share the code: the page lookup happens once per chunk when the key set
// is described (load_key_set), never per key.
#include <algorithm>
#include <cstddef>
#include <cstdlib>

#include "sparse_attention_tile.cuh"

namespace lectern::cuda::sparse_detail {
namespace {

constexpr int warp_kernel_warps = 4;    // warps per block of attend_warp_kernel (one pair each)
constexpr int block_kernel_warps = 16;  // warps per block of attend_block_kernel (one pair)

// One warp per (query t, head h), all keys of the pair in tiles of 32.
__global__ void __launch_bounds__(warp_kernel_warps * 32)
    attend_warp_kernel(const float* __restrict__ q, int T, int p0, const float* __restrict__ keys,
                       const float* __restrict__ values, const int* __restrict__ page,
                       const int* __restrict__ selected, int H, int B, int n_select,
                       float* __restrict__ y) {
    __shared__ float q_shared[warp_kernel_warps][head_dim];
    __shared__ KeySet sets[warp_kernel_warps];
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const long long pair = (long long)blockIdx.x * warp_kernel_warps + warp;
    if (pair >= (long long)T * H) return;  // uniform per warp; no block-wide barrier follows
    const WarpPair p = warp_pair(pair, H);
    const int t = p.t;
    const std::size_t C = p.C;
    const std::size_t head_offset = p.head_offset;

    stage_query(q, p, lane, q_shared[warp]);
    if (lane == 0) load_key_set(selected, pair, n_select, page, p0 + t, B, sets[warp]);
    __syncwarp();

    const KeySet& set = sets[warp];
    SoftmaxState st;
    for (int first = 0; first < set.n_keys; first += 32)
        attend_tile(q_shared[warp], keys, values, C, head_offset, set, B, first, lane, st);
    const float4 acc = combine_halves(st.acc);
    if (lane < 16) {
        const float4 out = make_float4(acc.x / st.l, acc.y / st.l, acc.z / st.l, acc.w / st.l);
        reinterpret_cast<float4*>(y + std::size_t(t) * C + head_offset)[lane] = out;
    }
}

// One block per (query t, head h) and split: blockIdx.x = pair * splits + split. The pair's keys
// are cut into `splits` runs of whole 32-key tiles; warp w of a block takes its run's tiles w,
// w + 16, ...; the warps' states are merged by rescaling with exp(m_w - max_w m_w). With one
// split the block writes y; with more, its unnormalised part (max, sum, weighted values) goes to
// `parts` for combine_splits_kernel. The minimum of 1 block per SM in the launch bounds lets ptxas
// use ~100 registers and keep a key row's 16 loads in flight together (without it, it interleaved
// them with the FMAs, 3 at a time): decode launches only T * H * splits blocks, so occupancy is
// not what limits it.
__global__ void __launch_bounds__(block_kernel_warps * 32, 1)
    attend_block_kernel(const float* __restrict__ q, int p0, const float* __restrict__ keys,
                        const float* __restrict__ values, const int* __restrict__ page,
                        const int* __restrict__ selected, int H, int B, int n_select, int splits,
                        float* __restrict__ y, SplitParts parts) {
    __shared__ float q_shared[head_dim];
    __shared__ KeySet set;
    __shared__ float part_m[block_kernel_warps];
    __shared__ float part_l[block_kernel_warps];
    __shared__ float4 part_acc[block_kernel_warps][head_dim / 4];
    const long long pair = blockIdx.x / splits;
    const int split = int(blockIdx.x % splits);
    const int t = int(pair / H);
    const int h = int(pair % H);
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const std::size_t C = std::size_t(H) * head_dim;
    const std::size_t head_offset = std::size_t(h) * head_dim;

    if (threadIdx.x < head_dim)
        q_shared[threadIdx.x] = q[std::size_t(t) * C + head_offset + threadIdx.x];
    if (threadIdx.x == head_dim)  // another warp than the q loaders
        load_key_set(selected, pair, n_select, page, p0 + int(t), B, set);
    __syncthreads();

    // This split's keys: whole tiles, so no tile crosses into the next split's run.
    const int tiles = (set.n_keys + 31) / 32;
    const int run = (tiles + splits - 1) / splits;
    const int begin = split * run * 32;
    const int end = min(set.n_keys, begin + run * 32);
    SoftmaxState st;
    for (int first = begin + warp * 32; first < end; first += block_kernel_warps * 32)
        attend_tile(q_shared, keys, values, C, head_offset, set, B, first, lane, st);
    const float4 acc = combine_halves(st.acc);
    if (lane < 16) part_acc[warp][lane] = acc;
    if (lane == 0) {
        part_m[warp] = st.m;
        part_l[warp] = st.l;
    }
    __syncthreads();

    if (threadIdx.x < head_dim) {
        const int ch = int(threadIdx.x);
        float m_max = -INFINITY;
        for (int w = 0; w < block_kernel_warps; ++w) m_max = fmaxf(m_max, part_m[w]);
        float l = 0.0f, a = 0.0f;
        for (int w = 0; w < block_kernel_warps; ++w) {
            // A warp without keys (m = -inf, l = acc = 0) weighs 0; the guard avoids -inf - -inf.
            const float weight = part_m[w] == -INFINITY ? 0.0f : expf(part_m[w] - m_max);
            const float4 pa = part_acc[w][ch / 4];
            const float v = ch % 4 == 0 ? pa.x : ch % 4 == 1 ? pa.y : ch % 4 == 2 ? pa.z : pa.w;
            l = fmaf(weight, part_l[w], l);
            a = fmaf(weight, v, a);
        }
        if (splits == 1) {
            y[std::size_t(t) * C + head_offset + ch] = a / l;
        } else {
            const std::size_t at = std::size_t(blockIdx.x);
            parts.acc[at * head_dim + ch] = a;
            if (ch == 0) {
                parts.m[at] = m_max;  // -inf for a split without keys (then l = a = 0)
                parts.l[at] = l;
            }
        }
    }
}

// y of each (query t, head h) = blockIdx.x from its `splits` parts, merged in split order as
// the block merges its warps. Every pair has a key (the query's own row), so l > 0.
__global__ void combine_splits_kernel(SplitParts parts, int H, int splits,
                                      float* __restrict__ y) {
    const long long pair = blockIdx.x;
    const int ch = int(threadIdx.x);
    const std::size_t first = std::size_t(pair) * std::size_t(splits);
    float m_max = -INFINITY;
    for (int s = 0; s < splits; ++s) m_max = fmaxf(m_max, parts.m[first + s]);
    float l = 0.0f, a = 0.0f;
    for (int s = 0; s < splits; ++s) {
        const float m = parts.m[first + s];
        const float weight = m == -INFINITY ? 0.0f : expf(m - m_max);
        l = fmaf(weight, parts.l[first + s], l);
        a = fmaf(weight, parts.acc[(first + s) * head_dim + ch], a);
    }
    const std::size_t C = std::size_t(H) * head_dim;
    const int t = int(pair / H);
    const int h = int(pair % H);
    y[std::size_t(t) * C + std::size_t(h) * head_dim + ch] = a / l;
}

// The parts of `pairs` pairs at `splits` each in scratch: acc [n][64], then m [n] and l [n].
SplitParts split_parts(void* scratch, int pairs, int splits) {
    float* base = static_cast<float*>(scratch);
    const std::size_t n = std::size_t(pairs) * std::size_t(splits);
    return SplitParts{base + n * head_dim, base + n * head_dim + n, base};
}

}  // namespace

std::size_t split_scratch_bytes(int pairs) {
    // acc [n][64], then m [n] and l [n], n = pairs * max_decode_splits.
    return std::size_t(pairs) * max_decode_splits * (head_dim + 2) * sizeof(float);
}

int decode_splits(int pairs, const SparseAttentionShape& shape, int requested) {
    static const int from_environment = [] {
        const char* v = std::getenv("LECTERN_CUDA_ATTN_SPLITS");
        return v ? std::atoi(v) : 0;
    }();
    static const int sm_count = [] {
        cudaDeviceProp p;
        return cudaGetDeviceProperties(&p, 0) == cudaSuccess ? p.multiProcessorCount : 1;
    }();
    int n = requested > 0 ? requested : from_environment;
    if (n <= 0) {
        const long long most_keys = (long long)shape.top_k * shape.chunk_size;
        const long long per_tile_per_warp = block_kernel_warps * 32;
        const long long worth = (most_keys + per_tile_per_warp - 1) / per_tile_per_warp;
        n = int(std::min<long long>(sm_count / std::max(pairs, 1), worth));
    }
    return std::clamp(n, 1, max_decode_splits);
}

cudaError_t launch_attend(const float* q, int T, int p0, const float* key_pool,
                          const float* value_pool, const int* page, const int* selected,
                          const SparseAttentionShape& shape, void* scratch, int splits, float* y,
                          cudaStream_t stream) {
    const int H = shape.n_head;
    const int n_select = shape.top_k - 1;
    if (use_block_per_pair(T, H)) {
        const int pairs = T * H;
        const int n = scratch ? decode_splits(pairs, shape, splits) : 1;
        const SplitParts parts = n > 1 ? split_parts(scratch, pairs, n) : SplitParts{};
        attend_block_kernel<<<unsigned(pairs * n), block_kernel_warps * 32, 0, stream>>>(
            q, p0, key_pool, value_pool, page, selected, H, shape.chunk_size, n_select, n, y,
            parts);
        if (n > 1) {
            if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
            combine_splits_kernel<<<unsigned(pairs), head_dim, 0, stream>>>(parts, H, n, y);
        }
    } else if (scratch && can_use_grouped_prefill(T, shape)) {
        return launch_attend_grouped(q, T, p0, key_pool, value_pool, page, selected, shape, scratch,
                                     y, stream);
    } else if (can_use_tiled_prefill(shape)) {
        return launch_attend_tiled(q, T, p0, key_pool, value_pool, page, selected, shape, y,
                                   stream);
    } else {
        const long long pairs = (long long)T * H;
        const unsigned blocks = unsigned((pairs + warp_kernel_warps - 1) / warp_kernel_warps);
        attend_warp_kernel<<<blocks, warp_kernel_warps * 32, 0, stream>>>(
            q, T, p0, key_pool, value_pool, page, selected, H, shape.chunk_size, n_select, y);
    }
    return cudaGetLastError();
}

}  // namespace lectern::cuda::sparse_detail
