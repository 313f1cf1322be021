// Device code shared by the stage-2 kernels of native sparse attention
// (sparse_attention_attend.cu: warp and block per pair; sparse_attention_prefill.cu: query tiles):
// the key set of a (query, head) over a dense or paged cache, the online-softmax state and step,
// and the 32-key tile step over global memory. Included by .cu files only; everything is internal
// to each including file. CPU twin: engine/src/attention/native_attention.cpp; test:
// tests/kernels/tst_sparse_attention_cuda.cpp.
#pragma once

#include <cstddef>

#include "sparse_attention_internal.cuh"

namespace lectern::cuda::sparse_detail {
namespace {

constexpr unsigned full_mask = 0xffffffffu;

// The keys of one (query, head), in order: i < n_own is the own chunk's row i (pool row
// base[0] + i); then selected chunk k's row r (pool row base[1 + k] + r). base[] is the pool row
// of each chunk's row 0: chunk * B dense, page[chunk] * B paged (64-bit: rows * C overflows int).
struct KeySet {
    long long base[max_select + 1];
    int n_own;
    int n_keys;
};

// Fills `set` for query position s of `pair`; one thread calls it (the result goes to shared
// memory and is published by the caller's barrier).
__device__ void load_key_set(const int* __restrict__ selected, long long pair, int n_select,
                             const int* __restrict__ page, int s, int B, KeySet& set) {
    const int own = s / B;
    set.base[0] = chunk_base_row(page, own, B);
    set.n_own = s - own * B + 1;
    int n = 0;  // the selected chunks up to the first -1 (fewer complete chunks than K-1)
    while (n < n_select) {
        const int chunk = selected[pair * n_select + n];
        if (chunk < 0) break;
        set.base[1 + n] = chunk_base_row(page, chunk, B);
        ++n;
    }
    set.n_keys = set.n_own + n * B;
}

__device__ long long key_row(const KeySet& set, int i, int B) {
    if (i < set.n_own) return set.base[0] + i;
    const int k = i - set.n_own;
    return set.base[1 + k / B] + k % B;
}

// Online-softmax state of one warp: running max m, running sum l (both warp-uniform), and
// acc = the weighted value sum of channels 4*(lane%16) .. +3 over the tile keys of parity lane/16.
struct SoftmaxState {
    float m = -INFINITY;
    float l = 0.0f;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
};

// One online-softmax step of a warp: lane j offers `score` (ignored unless `valid`) of key j of
// the tile. Folds the tile's max and sum into st (rescaling acc) and returns this lane's weight
// exp(score - m), 0 when not valid. All 32 lanes must call it.
__device__ float online_update(SoftmaxState& st, float score, bool valid) {
    float tile_max = valid ? score : -INFINITY;
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
        tile_max = fmaxf(tile_max, __shfl_xor_sync(full_mask, tile_max, offset));
    const float new_m = fmaxf(st.m, tile_max);
    // Guards keep -inf - -inf (only possible with infinite inputs) from turning into NaN.
    const float correction = st.m == -INFINITY ? 0.0f : expf(st.m - new_m);
    const float p = (valid && new_m != -INFINITY) ? expf(score - new_m) : 0.0f;
    float p_sum = p;
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
        p_sum += __shfl_xor_sync(full_mask, p_sum, offset);
    st.l = st.l * correction + p_sum;
    st.acc.x *= correction;
    st.acc.y *= correction;
    st.acc.z *= correction;
    st.acc.w *= correction;
    st.m = new_m;
    return p;
}

// Keys first .. first + 31 (those < n_keys) into the warp's state. All 32 lanes call it with the
// same `first`. Lane j scores key first + j; then each half-warp reads one value row per step with
// 16 float4 loads (coalesced 256 bytes), the two halves taking the even and the odd keys.
__device__ void attend_tile(const float* __restrict__ q_shared, const float* __restrict__ keys,
                            const float* __restrict__ values, std::size_t C,
                            std::size_t head_offset, const KeySet& set, int B, int first, int lane,
                            SoftmaxState& st) {
    const int i = first + lane;
    long long row = 0;
    float score = -INFINITY;
    if (i < set.n_keys) {
        row = key_row(set, i, B);
        score = dot_head(q_shared, keys + std::size_t(row) * C + head_offset) * score_scale;
    }
    const float p = online_update(st, score, i < set.n_keys);

    const int n_tile = min(32, set.n_keys - first);
    const int half = lane / 16;
    const int sub = lane % 16;
#pragma unroll
    for (int step = 0; step < 16; ++step) {
        const int j = 2 * step + half;
        const float pj = __shfl_sync(full_mask, p, j);
        const long long row_j = __shfl_sync(full_mask, row, j);
        if (j < n_tile) {
            const float4 v =
                reinterpret_cast<const float4*>(values + std::size_t(row_j) * C + head_offset)[sub];
            st.acc.x = fmaf(pj, v.x, st.acc.x);
            st.acc.y = fmaf(pj, v.y, st.acc.y);
            st.acc.z = fmaf(pj, v.z, st.acc.z);
            st.acc.w = fmaf(pj, v.w, st.acc.w);
        }
    }
}

// Adds the odd-key half into the even-key half: lanes 0..15 then hold channels 4*lane .. +3.
__device__ float4 combine_halves(float4 a) {
    a.x += __shfl_xor_sync(full_mask, a.x, 16);
    a.y += __shfl_xor_sync(full_mask, a.y, 16);
    a.z += __shfl_xor_sync(full_mask, a.z, 16);
    a.w += __shfl_xor_sync(full_mask, a.w, 16);
    return a;
}

}  // namespace
}  // namespace lectern::cuda::sparse_detail
