// The tensor-core step shared by the grouped prefill kernels of native sparse attention
// (sparse_attention_grouped.cu): 64 query rows of one head, already in shared memory, attend to a
// run of consecutive key rows of one chunk, 64 keys at a time, with an online softmax per row.
// Scores and the weighted value sums are products of IEEE half tiles on the tensor cores (wmma
// m16n16k16) with float32 accumulation; the softmax itself (max, exp, sums) is float32.
// Why half: K and V rows are read once per 64 queries instead of once per query, so the kernel is
// bound by the products, which tensor cores do 16x faster than float32 CUDA cores on an H100.
// What it costs in accuracy: q / 8, k, v and the softmax weights are rounded to 11-bit
// significands (relative 2^-11 each); a document store's f16 cache rounds k and v so already. The
// weights' row sums are taken over the rounded weights, so each row's output is a convex
// combination of its (rounded) value rows. Tolerances: tst_sparse_attention_cuda.cpp.
// Layout: 4 warps, warp w owns query rows 16w .. 16w + 15 for the whole run (their scores, their
// softmax state, their output), so the softmax needs no block barrier; the block shares the K/V
// tiles. Lane l of a warp keeps row 16w + l / 2, channels (or keys) 32 (l % 2) .. + 31.
// Test: tests/kernels/tst_sparse_attention_cuda.cpp (grouped cases); on the CPU emulator
// tests/emu/tst_sparse_attention_emu.cpp.
#pragma once

#include <cuda_fp16.h>
#include <mma.h>

#include <climits>
#include <cstddef>
#include <cstring>

#include "sparse_attention_internal.cuh"

namespace lectern::cuda::sparse_detail {
namespace {

constexpr int mma_rows = 64;                 // query rows per block
constexpr int mma_warps = 4;                 // warps per block, 16 rows each
constexpr int mma_threads = mma_warps * 32;  // threads per block
constexpr int mma_keys = 64;                 // keys per shared K/V tile
constexpr int half_ld = head_dim + 8;        // halves per shared row (144 bytes: 32-byte steps)
constexpr int float_ld = mma_keys + 4;       // floats per row of a warp's score strip
constexpr unsigned mma_full_mask = 0xffffffffu;
constexpr float kLog2e = 1.44269504088896341f;  // exp(x) = exp2(x * log2(e))
static_assert(mma_rows == mma_warps * 16 && mma_keys == head_dim, "one strip layout for both");
static_assert(mma_keys * head_dim / 4 % mma_threads == 0, "whole K/V staging steps per thread");

struct alignas(8) Half4 {
    __half a, b, c, d;
};

// 45,056 bytes: under the 48 KiB a block gets without an opt-in. k doubles as the query staging
// area before the key loop.
struct MmaShared {
    __half k[mma_keys][half_ld];
    __half v[mma_keys][half_ld];
    float strip[mma_warps][16][float_ld];  // a warp's scores, then its tile of weighted values
    __half p[mma_warps][16][half_ld];      // a warp's softmax weights
    int row_pos[mma_rows];  // query position per row (INT_MAX: no causal limit), -1: no query
};

// One lane's share of its row's online softmax and output: row m and l (equal in both lanes of the
// row) and 32 channels of the unnormalised weighted value sum.
struct RowState {
    float m = -INFINITY;
    float l = 0.0f;
    float o[32];
};

__device__ inline void store_half4(__half* to, float4 v) {
    *reinterpret_cast<Half4*>(to) = Half4{__float2half_rn(v.x), __float2half_rn(v.y),
                                          __float2half_rn(v.z), __float2half_rn(v.w)};
}

// Row r of the query staging area: 64 floats (16-byte aligned) times 1/8, or zeros (from == null).
// Called by every thread for the (row, float4) pairs it owns.
__device__ inline void stage_query_row(MmaShared& sh, int r, int c4, const float* from) {
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (from) {
        v = reinterpret_cast<const float4*>(from)[c4];
        v = make_float4(v.x * score_scale, v.y * score_scale, v.z * score_scale, v.w * score_scale);
    }
    store_half4(&sh.k[r][4 * c4], v);
}

// Runs the 64 staged query rows (sh.k, with sh.row_pos) against key rows base_row .. base_row +
// n_keys - 1 of the pools ([rows][C], head at head_offset); key i sits at position key_pos0 + i
// (a row sees keys at positions <= its row_pos). Every thread calls it (barriers inside) after a
// __syncthreads that published the staging; st is the lane's row state.
__device__ void attend_rows_mma(MmaShared& sh, const float* __restrict__ keys,
                                const float* __restrict__ values, std::size_t C,
                                std::size_t head_offset, long long base_row, int n_keys,
                                int key_pos0, RowState& st) {
    using namespace nvcuda;
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const int row = 16 * warp + lane / 2;  // this lane's query row
    const int side = lane % 2;             // its half of the keys, then of the channels
    const int row_pos = sh.row_pos[row];
    const bool warp_active = __any_sync(mma_full_mask, row_pos >= 0);  // warp-uniform

    // The warp's 16 query rows as four 16 x 16 fragments (head channels 0-15, ..., 48-63).
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> q_frag[4];
#pragma unroll
    for (int d = 0; d < 4; ++d)
        wmma::load_matrix_sync(q_frag[d], &sh.k[16 * warp][16 * d], half_ld);
    for (int i = 0; i < 32; ++i) st.o[i] = 0.0f;
    __syncthreads();  // the staging area becomes the key tile

    for (int kt = 0; kt < n_keys; kt += mma_keys) {
        // K and V rows of the tile as halves; rows past n_keys are zeros (they may not exist).
        // Every load is issued before the first store, unconditionally (a row past n_keys reads
        // the run's first row instead and is zeroed after): loads under a branch were each
        // followed by their stores, one memory latency per step of the loop.
        constexpr int steps = mma_keys * head_dim / 4 / mma_threads;
        float4 kv[steps], vv[steps];
#pragma unroll
        for (int u = 0; u < steps; ++u) {
            const int i = int(threadIdx.x) + u * mma_threads;
            const int r = i / (head_dim / 4);
            const int c4 = i % (head_dim / 4);
            const int at_row = kt + r < n_keys ? kt + r : 0;
            const std::size_t at = std::size_t(base_row + at_row) * C + head_offset;
            kv[u] = reinterpret_cast<const float4*>(keys + at)[c4];
            vv[u] = reinterpret_cast<const float4*>(values + at)[c4];
        }
#pragma unroll
        for (int u = 0; u < steps; ++u) {
            const int i = int(threadIdx.x) + u * mma_threads;
            const int r = i / (head_dim / 4);
            const int c4 = i % (head_dim / 4);
            const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            store_half4(&sh.k[r][4 * c4], kt + r < n_keys ? kv[u] : zero);
            store_half4(&sh.v[r][4 * c4], kt + r < n_keys ? vv[u] : zero);
        }
        __syncthreads();

        // A warp whose 16 rows hold no query (a list's last tile is rarely full: at 1,024
        // queries a call, a (head, chunk) list averages ~32 of them) skips the products and
        // the softmax; it still stages its share of the tile and meets every barrier.
        if (warp_active) {
            // Scores of the warp's rows against the 64 keys, into its strip.
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
#pragma unroll
            for (int n = 0; n < 4; ++n) {
                wmma::fill_fragment(acc, 0.0f);
#pragma unroll
                for (int d = 0; d < 4; ++d) {
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> k_frag;
                    wmma::load_matrix_sync(k_frag, &sh.k[16 * n][16 * d], half_ld);
                    wmma::mma_sync(acc, q_frag[d], k_frag, acc);
                }
                wmma::store_matrix_sync(&sh.strip[warp][0][16 * n], acc, float_ld,
                                        wmma::mem_row_major);
            }
            __syncwarp();

            // Online softmax of the row over its keys: this lane's 32, its partner's 32. The kernel
            // is bound by this scalar work, not by the products: scores are read as float4s, keys
            // are checked only in a tile that reaches past n_keys or the row's position (the causal
            // diagonal), exp is exp2 of a product with log2(e), and the weights are written as
            // halves eight at a time.
            const float* s = &sh.strip[warp][lane / 2][32 * side];
            const int first_key = kt + 32 * side;
            const bool all_valid =
                kt + mma_keys <= n_keys && key_pos0 + kt + mma_keys - 1 <= row_pos;
            float tile_max = -INFINITY;
            if (all_valid) {
                const float4* s4 = reinterpret_cast<const float4*>(s);
#pragma unroll
                for (int q = 0; q < 8; ++q) {
                    const float4 v = s4[q];
                    tile_max = fmaxf(tile_max, fmaxf(fmaxf(v.x, v.y), fmaxf(v.z, v.w)));
                }
            } else if (row_pos >= 0) {  // a row without a query has no valid key
#pragma unroll 1
                for (int j = 0; j < 32; ++j)
                    if (first_key + j < n_keys && key_pos0 + first_key + j <= row_pos)
                        tile_max = fmaxf(tile_max, s[j]);
            }
            tile_max = fmaxf(tile_max, __shfl_xor_sync(mma_full_mask, tile_max, 1));
            const float new_m = fmaxf(st.m, tile_max);
            // Guards keep -inf - -inf (a row with no valid key yet) from turning into NaN.
            const float correction = st.m == -INFINITY ? 0.0f : expf(st.m - new_m);
            __half* p = &sh.p[warp][lane / 2][32 * side];
            float p_sum = 0.0f;
            if (all_valid && new_m != -INFINITY) {
                const float4* s4 = reinterpret_cast<const float4*>(s);
#pragma unroll
                for (int q = 0; q < 4; ++q) {
                    const float4 a = s4[2 * q], b = s4[2 * q + 1];
                    const float x[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
                    __half w[8];
#pragma unroll
                    for (int j = 0; j < 8; ++j) {
                        w[j] = __float2half_rn(exp2f((x[j] - new_m) * kLog2e));
                        p_sum +=
                            __half2float(w[j]);  // the rounded weights, as the products use them
                    }
                    uint4 packed;
                    memcpy(&packed, w, sizeof(packed));
                    reinterpret_cast<uint4*>(p)[q] = packed;
                }
            } else if (new_m == -INFINITY) {
                // No valid key so far (a row without a query, or before its first key): zeros.
                const uint4 zero = {0u, 0u, 0u, 0u};
#pragma unroll
                for (int q = 0; q < 4; ++q) reinterpret_cast<uint4*>(p)[q] = zero;
            } else {
#pragma unroll 1
                for (int j = 0; j < 32; ++j) {
                    const bool valid =
                        first_key + j < n_keys && key_pos0 + first_key + j <= row_pos;
                    const __half w = __float2half_rn(
                        valid && new_m != -INFINITY ? exp2f((s[j] - new_m) * kLog2e) : 0.0f);
                    p[j] = w;
                    p_sum += __half2float(w);
                }
            }
            p_sum += __shfl_xor_sync(mma_full_mask, p_sum, 1);
            st.l = st.l * correction + p_sum;
            st.m = new_m;
            __syncwarp();

            // The tile's weighted value sums of the warp's rows, into its strip (scores are
            // consumed).
#pragma unroll
            for (int n = 0; n < 4; ++n) {
                wmma::fill_fragment(acc, 0.0f);
#pragma unroll
                for (int kk = 0; kk < 4; ++kk) {
                    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> p_frag;
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> v_frag;
                    wmma::load_matrix_sync(p_frag, &sh.p[warp][0][16 * kk], half_ld);
                    wmma::load_matrix_sync(v_frag, &sh.v[16 * kk][16 * n], half_ld);
                    wmma::mma_sync(acc, p_frag, v_frag, acc);
                }
                wmma::store_matrix_sync(&sh.strip[warp][0][16 * n], acc, float_ld,
                                        wmma::mem_row_major);
            }
            __syncwarp();
            const float4* tile =
                reinterpret_cast<const float4*>(&sh.strip[warp][lane / 2][32 * side]);
#pragma unroll
            for (int q = 0; q < 8; ++q) {
                const float4 t = tile[q];
                st.o[4 * q] = st.o[4 * q] * correction + t.x;
                st.o[4 * q + 1] = st.o[4 * q + 1] * correction + t.y;
                st.o[4 * q + 2] = st.o[4 * q + 2] * correction + t.z;
                st.o[4 * q + 3] = st.o[4 * q + 3] * correction + t.w;
            }
        }
        __syncthreads();  // the next tile overwrites k, v and every strip
    }
}

}  // namespace
}  // namespace lectern::cuda::sparse_detail
