// Trace weights of native sparse attention on the GPU (sparse_attention_chunk_weights in
// lectern/cuda/sparse_attention.h): for each (query, head), the share of the softmax mass of
// sparse_attention_attend_paged's key set that each selected chunk's rows received, as the CPU
// engine reports it in AttentionTrace::weights (mass_share in
// engine/src/attention/native_attention.cpp). Runs only for traced calls (lectern::ForwardTrace),
// so it is written for clarity, not speed: one warp per (query, head), each lane scoring whole
// rows (uncoalesced), per-chunk (max, sum) merged with shuffles. Test:
// tests/kernels/tst_sparse_attention_cuda.cpp, tests/emu/tst_sparse_attention_weights_emu.cpp.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda_check.cuh"
#include "lectern/cuda/sparse_attention.h"
#include "sparse_attention_internal.cuh"

namespace lectern::cuda {
namespace {

using sparse_detail::dot_head;
using sparse_detail::head_dim;
using sparse_detail::max_select;
using sparse_detail::score_scale;  // as in stage 2
using sparse_detail::stage_query;
using sparse_detail::warp_pair;
using sparse_detail::WarpPair;

constexpr int weights_warps = 4;  // warps per block, one (query, head) pair each
constexpr unsigned full_mask = 0xffffffffu;

// Softmax partial over some rows: m = max score, s = sum of exp(score - m); (-inf, 0) when empty.
struct Partial {
    float m = -INFINITY;
    float s = 0.0f;
};

// a and b combined at the larger max. The guards keep -inf - -inf (an empty side) from making NaN.
__device__ Partial merge(Partial a, Partial b) {
    const float m = fmaxf(a.m, b.m);
    if (m == -INFINITY) return Partial{};
    const float sa = a.m == -INFINITY ? 0.0f : a.s * expf(a.m - m);
    const float sb = b.m == -INFINITY ? 0.0f : b.s * expf(b.m - m);
    return Partial{m, sa + sb};
}

// (max, sum) of the scores of `n` consecutive pool rows starting at `first_row`: lane j takes rows
// j, j + 32, ...; the lanes' partials are then merged with xor shuffles, so every lane returns the
// same value.
__device__ Partial chunk_partial(const float* __restrict__ q_shared,
                                 const float* __restrict__ key_pool, std::size_t C,
                                 std::size_t head_offset, long long first_row, int n, int lane) {
    Partial p;
    for (int r = lane; r < n; r += 32) {
        const float score =
            dot_head(q_shared, key_pool + std::size_t(first_row + r) * C + head_offset) *
            score_scale;
        p = merge(p, Partial{score, 1.0f});
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
        const Partial other{__shfl_xor_sync(full_mask, p.m, offset),
                            __shfl_xor_sync(full_mask, p.s, offset)};
        p = merge(p, other);
    }
    return p;
}

// One warp per (query t, head h). Chunk partials: the own chunk's rows up to the query, then each
// selected chunk up to the first -1 (the key set of stage 2's load_key_set). Lane i < n_select
// writes the share of selected slot i.
__global__ void __launch_bounds__(weights_warps * 32)
    chunk_weights_kernel(const float* __restrict__ q, int T, int p0,
                         const float* __restrict__ key_pool, const int* __restrict__ page,
                         const int* __restrict__ selected, int H, int B, int n_select,
                         float* __restrict__ weights) {
    __shared__ float q_shared[weights_warps][head_dim];
    // Per selected chunk (m, s), written by lane 0 and read by lane i (plain floats: a __shared__
    // variable may not have a constructor).
    __shared__ float part_m[weights_warps][max_select];
    __shared__ float part_s[weights_warps][max_select];
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const long long pair = (long long)blockIdx.x * weights_warps + warp;
    if (pair >= (long long)T * H) return;  // uniform per warp; no block-wide barrier follows
    const WarpPair wp = warp_pair(pair, H);
    const int t = wp.t;
    const std::size_t C = wp.C;
    const std::size_t head_offset = wp.head_offset;
    stage_query(q, wp, lane, q_shared[warp]);
    __syncwarp();

    // Pool row of a chunk's row 0 (64-bit: rows * C overflows int), as stage 2 addresses it.
    const auto base_row = [&](int chunk) { return (long long)(page ? page[chunk] : chunk) * B; };
    const int s = p0 + t;
    const int own = s / B;
    Partial total = chunk_partial(q_shared[warp], key_pool, C, head_offset, base_row(own),
                                  s - own * B + 1, lane);
    int n = 0;  // selected chunks in use: those before the first -1
    while (n < n_select) {
        const int chunk = selected[pair * n_select + n];
        if (chunk < 0) break;
        const Partial p =
            chunk_partial(q_shared[warp], key_pool, C, head_offset, base_row(chunk), B, lane);
        if (lane == 0) {
            part_m[warp][n] = p.m;
            part_s[warp][n] = p.s;
        }
        total = merge(total, p);
        ++n;
    }
    __syncwarp();

    // share = s_c exp(m_c - M) / Z with (M, Z) = total; clamped to [0, 1] against rounding.
    if (lane < n_select) {
        float share = 0.0f;
        if (lane < n) {
            const float m = part_m[warp][lane];
            if (m != -INFINITY && total.s > 0.0f) {
                const float x = part_s[warp][lane] * expf(m - total.m) / total.s;
                share = fminf(fmaxf(x, 0.0f), 1.0f);  // fmaxf also maps NaN to 0, as the CPU does
            }
        }
        weights[pair * n_select + lane] = share;
    }
}

bool aligned(const void* p, std::size_t bytes) {
    return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

}  // namespace

Result<void> sparse_attention_chunk_weights(const float* q, int T, int p0, const float* key_pool,
                                            const int* page, const int* selected,
                                            const SparseAttentionShape& shape, float* weights,
                                            cuda_stream stream) {
    // The limits of sparse_attention.cu's launchers, plus top_k >= 2 (no selection, no weights).
    if (shape.n_head < 1 || shape.n_head > 65535 || shape.chunk_size < 1)
        return make_error(
            "sparse_attention_chunk_weights: n_head must be in 1 .. 65535 and "
            "chunk_size >= 1");
    if (shape.top_k < 2 || shape.top_k > sparse_max_top_k)
        return make_error("sparse_attention_chunk_weights: top_k must be in 2 .. 16");
    if (T < 0 || p0 < 0) return make_error("sparse_attention_chunk_weights: negative T or p0");
    if ((long long)p0 + T > (long long)INT32_MAX || (long long)T * shape.n_head > INT32_MAX)
        return make_error("sparse_attention_chunk_weights: p0 + T or T * n_head beyond 2^31 - 1");
    if (T == 0) return {};
    if (!q || !key_pool || !selected || !weights)
        return make_error("sparse_attention_chunk_weights: null q, keys, selected or weights");
    // float4 loads of key head rows (dot_head).
    if (!aligned(key_pool, 16))
        return make_error("sparse_attention_chunk_weights: keys need 16-byte alignment");
    const long long pairs = (long long)T * shape.n_head;
    const unsigned blocks = unsigned((pairs + weights_warps - 1) / weights_warps);
    chunk_weights_kernel<<<blocks, weights_warps * 32, 0, stream>>>(
        q, T, p0, key_pool, page, selected, shape.n_head, shape.chunk_size, shape.top_k - 1,
        weights);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
