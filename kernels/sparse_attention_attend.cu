// Stage 2 of native sparse attention on the GPU: for each (query t at position s, head h), one
// softmax (scale 1/8) over the own chunk's rows floor(s/B)*B .. s and the B rows of each selected
// chunk, over a dense or a paged KV cache (sparse_attention_attend_paged in the header).
// CPU twin: native_attention (engine/src/attention/native_attention.cpp); test:
// tests/kernels/tst_sparse_attention_cuda.cpp.
// Dispatch (launch_attend):
// - attend_block_kernel when T * H <= 1024 (use_block_per_pair; decode): one block of 16 warps per
//   pair, where one warp walking up to 3 x 2048 keys serially was latency bound; warp w takes key
//   tiles w, w + 16, ... with its own online softmax state, merged in shared memory at the end;
// - else, given the caller's scratch, when 64 divides B: the tensor-core kernels of
//   sparse_attention_grouped.cu (queries grouped by selected chunk; can_use_grouped_prefill);
// - else attend_tiled_kernel (sparse_attention_prefill.cu) when 32 divides B: query tiles sharing
//   their own chunk's K/V through shared memory;
// - else attend_warp_kernel: one warp per pair (prefill with small chunks, e.g. B = 16).
// The float32 kernels use the same 32-key tile step (attend_tile in sparse_attention_tile.cuh).
// Dense and paged layouts share the code: the page lookup happens once per chunk when the key set
// is described (load_key_set), never per key.
#include <cstddef>

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

// One block per (query t = blockIdx.x / H, head h). Warp w takes the tiles w, w + 16, ...; the
// warps' states are merged by rescaling with exp(m_w - max_w m_w). The minimum of 1 block per SM
// in the launch bounds lets ptxas use ~100 registers and keep a key row's 16 loads in flight
// together (without it, it interleaved them with the FMAs, 3 at a time): decode launches only
// T * H blocks, so occupancy is not what limits it.
__global__ void __launch_bounds__(block_kernel_warps * 32, 1)
    attend_block_kernel(const float* __restrict__ q, int p0, const float* __restrict__ keys,
                        const float* __restrict__ values, const int* __restrict__ page,
                        const int* __restrict__ selected, int H, int B, int n_select,
                        float* __restrict__ y) {
    __shared__ float q_shared[head_dim];
    __shared__ KeySet set;
    __shared__ float part_m[block_kernel_warps];
    __shared__ float part_l[block_kernel_warps];
    __shared__ float4 part_acc[block_kernel_warps][head_dim / 4];
    const long long pair = blockIdx.x;
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

    SoftmaxState st;
    for (int first = warp * 32; first < set.n_keys; first += block_kernel_warps * 32)
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
        y[std::size_t(t) * C + head_offset + ch] = a / l;
    }
}

}  // namespace

cudaError_t launch_attend(const float* q, int T, int p0, const float* key_pool,
                          const float* value_pool, const int* page, const int* selected,
                          const SparseAttentionShape& shape, void* scratch, float* y,
                          cudaStream_t stream) {
    const int H = shape.n_head;
    const int n_select = shape.top_k - 1;
    if (scratch && can_use_grouped_prefill(T, shape)) {
        return launch_attend_grouped(q, T, p0, key_pool, value_pool, page, selected, shape, scratch,
                                     y, stream);
    } else if (use_block_per_pair(T, H)) {
        attend_block_kernel<<<unsigned(T * H), block_kernel_warps * 32, 0, stream>>>(
            q, p0, key_pool, value_pool, page, selected, H, shape.chunk_size, n_select, y);
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
