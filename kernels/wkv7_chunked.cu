// The WKV-7 recurrence for prefill in chunks of 16 tokens (see lectern/cuda/wkv7.h): the same
// result as the sequential kernel (wkv7.cu) up to fp32 rounding, with the per-token dependency
// chain replaced by small dense products. CPU reference: engine/src/cpu/wkv7.cpp; tests:
// tests/kernels/tst_wkv7_chunked_cuda.cpp (GPU) and tests/emu (the same checks on the CPU emulator).
//
// Why it is faster: the sequential kernel gives each state row one thread that walks 64 columns
// twice per token (two dependent chains of 64 FMAs, one barrier), so 4,096 tokens take 4,096 of
// those steps per layer. Here a chunk of L tokens costs a fixed number of independent products,
// done by 4 threads per row, so a token costs a few dozen FMAs per thread and no long chains.
//
// The algebra, per head, for a state row s (i fixed; S[i][.] as a row vector), chunk tokens
// t = 1..L, c_t[j] = Σ_{m<=t} log w_m[j] (c_0 = 0):
//   s_t      = s_0 e^{c_t} + Σ_{τ<=t} (sa_τ b_τ + v_τ k_τ) e^{c_t - c_τ}           (elementwise in j)
//   sa_t     = s_{t-1}·a_t = s_0·ã_t + Σ_{τ<t} (A_ab[t][τ] sa_τ + A_ak[t][τ] v_τ)
//   y_t      = s_t·r_t     = s_0·r̃_t + Σ_{τ<=t} (A_rb[t][τ] sa_τ + A_rk[t][τ] v_τ)
//   s_L      = e^{c_L} (s_0 + Σ_τ (sa_τ b̂_τ + v_τ k̂_τ))
// with ã_t = a_t e^{c_{t-1}}, r̃_t = r_t e^{c_t}, b̂_τ = b_τ e^{-c_τ}, k̂_τ = k_τ e^{-c_τ},
// A_ab[t][τ] = ã_t·b̂_τ, A_ak = ã_t·k̂_τ, A_rb = r̃_t·b̂_τ, A_rk = r̃_t·k̂_τ (shared by all rows).
// Each product ã_t[j] b̂_τ[j] equals a_t[j] b_τ[j] e^{c_{t-1}[j] - c_τ[j]} to a rounding, so the
// factored form loses nothing as long as e^{±c} stays finite and normal: a chunk where some |c_t|
// exceeds 60 (w below e^{-3.75} on average; a real model's w is above 0.545, |c_L| < 9.7) is
// run token by token instead, from the same registers. sa_t is a triangular solve, done per row
// in registers (L = 16 steps of one FMA each on the critical path).
//
// With scratch (wkv7_forward_chunked's last argument) the chunk's decays, hats and matrices, which
// do not depend on the state, come from wkv7_prep_kernel, run for every chunk at once before the
// sequential kernel; without it, each chunk computes them in the loop (the same functions, the
// same bits), where they cost most of a chunk's time: about one warp per scheduler walks them with
// nothing to hide its latencies (docs/performance.md). The loop copies each prepared chunk into
// shared memory, loading the next one into registers while it works on this one. On an H200
// (session 16; 40 heads, 1,024 tokens): 0.48 ms per launch so, 0.64 ms without the pre-pass, and
// 1.30 ms when the loop read the prepared chunks from global memory where it used them.
#include "lectern/cuda/wkv7.h"

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda_check.cuh"
#include "wkv7_prep.cuh"

namespace lectern::cuda {
namespace {

using wkv7_chunk::hat_a;
using wkv7_chunk::hat_b;
using wkv7_chunk::hat_k;
using wkv7_chunk::hat_r;
using wkv7_chunk::kL;
using wkv7_chunk::kN;
using wkv7_chunk::kStride;
using wkv7_chunk::mat_ab;
using wkv7_chunk::mat_ak;
using wkv7_chunk::mat_rb;
using wkv7_chunk::mat_rk;
using wkv7_chunk::Prep;
constexpr int kRows = 32;       // state rows per block: two blocks per head
constexpr int kParts = 4;       // threads per row; thread part p owns columns 16p .. 16p+15
constexpr int kCols = kN / kParts;
constexpr int kThreads = kRows * kParts;
constexpr float kMaxLogDecay = 60.0f;

// Shared memory, in floats.
struct Layout {
    static constexpr int raw = 0;                          // r, w, k, a, b as loaded [5][L][kStride]
    static constexpr int hat = raw + 5 * kL * kStride;     // ã, r̃, b̂, k̂ [4][L][kStride]
    static constexpr int v = hat + 4 * kL * kStride;       // v of this block's rows [L][kRows]
    static constexpr int ecl = v + kL * kRows;              // e^{c_L} [N]
    static constexpr int mat = ecl + kN;                    // A_ab, A_ak, A_rb, A_rk [4][L][L]
    static constexpr int flags = mat + 4 * kL * kL;        // two int flags (chunk parity)
    static constexpr int total = flags + 2;
};
enum Raw { raw_r, raw_w, raw_k, raw_a, raw_b };

// The five [T][C] inputs this block reads in a chunk, as float4 (16 per token and head), and v.
struct Prefetch {
    float4 x[5][2];
    float4 v;
};
// A prepared chunk (Prep::total floats) and v, as float4: what the loop reads with a pre-pass.
constexpr int kPrepVec = Prep::total / 4;
constexpr int kPrepPerThread = (kPrepVec + kThreads - 1) / kThreads;
static_assert(Prep::total <= Layout::v, "a prepared chunk fits below v in shared memory");
struct PreparedFetch {
    float4 x[kPrepPerThread];
    float4 v;
};

// v of this block's rows for chunk [t0, t0 + L) (zero past T): 16 tokens x 8 float4.
__device__ float4 load_v(const float* vsrc, int t0, int T, std::size_t C, int head, int row0,
                         int tid)
{
    const int t = t0 + tid / 8;
    const std::size_t o = std::size_t(t) * C + std::size_t(head) * kN + row0 + (tid % 8) * 4;
    return t < T ? *reinterpret_cast<const float4*>(vsrc + o) : make_float4(0, 0, 0, 0);
}

// Loads chunk [t0, t0 + L) into registers; tokens at or past T read as the identity token
// (w = 1, everything else 0), which leaves the state alone and contributes nothing.
__device__ void load_chunk(Prefetch& p, const float* const in[5], const float* vsrc, int t0,
                           int T, std::size_t C, int head, int row0, int tid)
{
#pragma unroll
    for (int q = 0; q < 2; ++q) {
        const int idx = tid + q * kThreads;  // 0..255: token idx / 16, float4 column idx % 16
        const int t = t0 + idx / 16;
        const std::size_t o = std::size_t(t) * C + std::size_t(head) * kN + (idx % 16) * 4;
#pragma unroll
        for (int s = 0; s < 5; ++s) {
            const float fill = s == raw_w ? 1.0f : 0.0f;
            p.x[s][q] = t < T ? *reinterpret_cast<const float4*>(in[s] + o)
                              : make_float4(fill, fill, fill, fill);
        }
    }
    p.v = load_v(vsrc, t0, T, C, head, row0, tid);
}

__device__ void load_prepared(PreparedFetch& p, const float* chunk, const float* vsrc, int t0,
                              int T, std::size_t C, int head, int row0, int tid)
{
    const auto* src = reinterpret_cast<const float4*>(chunk);
#pragma unroll
    for (int q = 0; q < kPrepPerThread; ++q) {
        const int idx = tid + q * kThreads;
        if (idx < kPrepVec) p.x[q] = src[idx];
    }
    p.v = load_v(vsrc, t0, T, C, head, row0, tid);
}

__device__ void store_prepared(const PreparedFetch& p, float* sm, int tid)
{
    auto* dst = reinterpret_cast<float4*>(sm);
#pragma unroll
    for (int q = 0; q < kPrepPerThread; ++q) {
        const int idx = tid + q * kThreads;
        if (idx < kPrepVec) dst[idx] = p.x[q];
    }
    *reinterpret_cast<float4*>(sm + Layout::v + (tid / 8) * kRows + (tid % 8) * 4) = p.v;
}

__device__ void store_chunk(const Prefetch& p, float* sm, int tid)
{
#pragma unroll
    for (int q = 0; q < 2; ++q) {
        const int idx = tid + q * kThreads;
        const int t = idx / 16, j = (idx % 16) * 4;
#pragma unroll
        for (int s = 0; s < 5; ++s)
            *reinterpret_cast<float4*>(sm + Layout::raw + (s * kL + t) * kStride + j) = p.x[s][q];
    }
    *reinterpret_cast<float4*>(sm + Layout::v + (tid / 8) * kRows + (tid % 8) * 4) = p.v;
}

// Columns 16p .. 16p+15 of a [L][kStride] row (shared or global memory, 16-byte aligned) as
// four float4: thread part p's share of the row.
__device__ void load_cols(const float* row, int part, float out[kCols])
{
#pragma unroll
    for (int q = 0; q < kCols / 4; ++q) {
        const float4 x = *reinterpret_cast<const float4*>(row + part * kCols + 4 * q);
        out[4 * q] = x.x;
        out[4 * q + 1] = x.y;
        out[4 * q + 2] = x.z;
        out[4 * q + 3] = x.w;
    }
}

// Entries [0, n) of a row of an L x L matrix (16-byte aligned) as float4s; with n a constant
// after unrolling, the loads past it are dropped.
__device__ void load_prefix(const float* row, int n, float out[kL])
{
#pragma unroll
    for (int q = 0; q < kL / 4; ++q) {
        if (4 * q >= n) continue;
        const float4 x = *reinterpret_cast<const float4*>(row + 4 * q);
        out[4 * q] = x.x;
        out[4 * q + 1] = x.y;
        out[4 * q + 2] = x.z;
        out[4 * q + 3] = x.w;
    }
}

// Partial dot product of this thread's state columns with its share of `row`.
__device__ float dot_cols(const float s[kCols], const float* row, int part)
{
    float x[kCols];
    load_cols(row, part, x);
    float acc = 0.0f;
#pragma unroll
    for (int m = 0; m < kCols; ++m) acc = fmaf(s[m], x[m], acc);
    return acc;
}

// Sum over the 4 threads of a row (adjacent lanes): every one of them gets the total.
__device__ float row_sum(float x)
{
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    x += __shfl_xor_sync(0xffffffffu, x, 2);
    return x;
}

// The decays of the chunk for column j: ã, r̃, b̂, k̂ and e^{c_L}; false if some |c_t| is too
// large for the factored form (or not a number). Two threads per column: half 0 writes ã and r̃,
// half 1 b̂, k̂ and e^{c_L} (both walk the cumulative sum).
__device__ bool chunk_decays(float* sm, int j, int half)
{
    const float* raw = sm + Layout::raw;
    float* hat = sm + Layout::hat;
    float c = 0.0f;
    bool ok = true;
    for (int t = 0; t < kL; ++t) {
        const int e = t * kStride + j;
        const float c_prev = c;
        c += logf(raw[raw_w * kL * kStride + e]);
        ok = ok && fabsf(c) <= kMaxLogDecay;  // also false for NaN
        if (half == 0) {
            hat[hat_a * kL * kStride + e] = raw[raw_a * kL * kStride + e] * expf(c_prev);
            hat[hat_r * kL * kStride + e] = raw[raw_r * kL * kStride + e] * expf(c);
        } else {
            const float inv = expf(-c);
            hat[hat_b * kL * kStride + e] = raw[raw_b * kL * kStride + e] * inv;
            hat[hat_k * kL * kStride + e] = raw[raw_k * kL * kStride + e] * inv;
        }
    }
    if (half == 1) sm[Layout::ecl + j] = expf(c);
    return ok;
}

// The four L x L matrices, in one round of 4 dot products per thread: threads 0..119 take the
// 120 pairs τ < t (all four products), threads 120..127 the 16 diagonal pairs τ = t, two each
// (A_rb and A_rk only: sa_t reads the state before token t, so A_ab and A_ak are strictly lower
// triangular). Nothing reads the entries above the diagonal, nor A_ab, A_ak on it.
constexpr int kStrictPairs = kL * (kL - 1) / 2;
static_assert(kStrictPairs + kL / 2 == kThreads, "one round: a strict pair or two diagonal ones");

__device__ void chunk_matrices(float* sm, int tid)
{
    const float* hat = sm + Layout::hat;
    float* mat = sm + Layout::mat;
    const auto row = [&](int which, int t) { return hat + (which * kL + t) * kStride; };
    if (tid < kStrictPairs) {
        int t = 1;
        while (t * (t + 1) / 2 <= tid) ++t;
        const int tau = tid - t * (t - 1) / 2;
        const float *at = row(hat_a, t), *rt = row(hat_r, t);
        const float *bt = row(hat_b, tau), *kt = row(hat_k, tau);
        float ab = 0.0f, ak = 0.0f, rb = 0.0f, rk = 0.0f;
#pragma unroll 8
        for (int j = 0; j < kN; ++j) {
            ab = fmaf(at[j], bt[j], ab);
            ak = fmaf(at[j], kt[j], ak);
            rb = fmaf(rt[j], bt[j], rb);
            rk = fmaf(rt[j], kt[j], rk);
        }
        const int e = t * kL + tau;
        mat[mat_ab * kL * kL + e] = ab;
        mat[mat_ak * kL * kL + e] = ak;
        mat[mat_rb * kL * kL + e] = rb;
        mat[mat_rk * kL * kL + e] = rk;
    } else {
        const int t0 = 2 * (tid - kStrictPairs), t1 = t0 + 1;
        const float *r0 = row(hat_r, t0), *b0 = row(hat_b, t0), *k0 = row(hat_k, t0);
        const float *r1 = row(hat_r, t1), *b1 = row(hat_b, t1), *k1 = row(hat_k, t1);
        float rb0 = 0.0f, rk0 = 0.0f, rb1 = 0.0f, rk1 = 0.0f;
#pragma unroll 8
        for (int j = 0; j < kN; ++j) {
            rb0 = fmaf(r0[j], b0[j], rb0);
            rk0 = fmaf(r0[j], k0[j], rk0);
            rb1 = fmaf(r1[j], b1[j], rb1);
            rk1 = fmaf(r1[j], k1[j], rk1);
        }
        mat[mat_rb * kL * kL + t0 * kL + t0] = rb0;
        mat[mat_rk * kL * kL + t0 * kL + t0] = rk0;
        mat[mat_rb * kL * kL + t1 * kL + t1] = rb1;
        mat[mat_rk * kL * kL + t1 * kL + t1] = rk1;
    }
}

// grid (H, N / kRows), block kThreads. Thread (row, part) keeps S[head][row0 + row][16 part + m],
// m = 0..15, in registers for the whole call. Prepared: `prepared` holds every chunk's decays and
// matrices (wkv7_prep_kernel); otherwise the loop computes them.
template <bool Prepared>
__global__ void __launch_bounds__(kThreads)
    wkv7_chunked_kernel(int T, std::size_t C, const float* __restrict__ r,
                        const float* __restrict__ w, const float* __restrict__ k,
                        const float* __restrict__ v, const float* __restrict__ a,
                        const float* __restrict__ b, float* __restrict__ state,
                        float* __restrict__ y, const float* __restrict__ prepared)
{
    extern __shared__ __align__(16) float sm[];
    const int head = blockIdx.x;
    const int row0 = blockIdx.y * kRows;
    const int n_chunks = (T + kL - 1) / kL;
    const int tid = threadIdx.x;
    const int row = tid / kParts, part = tid % kParts;
    const int i = row0 + row;  // this thread's state row within the head
    const float* const in[5] = {r, w, k, a, b};
    int* flags = reinterpret_cast<int*>(sm + Layout::flags);

    float* srow = state + (std::size_t(head) * kN + i) * kN;
    float s[kCols];
#pragma unroll
    for (int m = 0; m < kCols; ++m) s[m] = srow[part * kCols + m];
    if (tid < 2) flags[tid] = 0;

    // The next chunk, in registers while the loop works on this one: the raw inputs, or (Prepared)
    // the prepared chunk, which then lies at the start of shared memory.
    const auto prepared_chunk = [&](int n) {
        return prepared + (std::size_t(head) * n_chunks + n) * Prep::total;
    };
    Prefetch next_raw;
    PreparedFetch next_prepared;
    if constexpr (Prepared)
        load_prepared(next_prepared, prepared_chunk(0), v, 0, T, C, head, row0, tid);
    else
        load_chunk(next_raw, in, v, 0, T, C, head, row0, tid);
    const std::size_t ybase = std::size_t(head) * kN + i;
    for (int t0 = 0, n = 0; t0 < T; t0 += kL, ++n) {
        __syncthreads();  // the previous chunk is done with the shared arrays (and flags reset)
        if constexpr (Prepared)
            store_prepared(next_prepared, sm, tid);
        else
            store_chunk(next_raw, sm, tid);
        __syncthreads();
        if (t0 + kL < T) {
            if constexpr (Prepared)
                load_prepared(next_prepared, prepared_chunk(n + 1), v, t0 + kL, T, C, head, row0,
                              tid);
            else
                load_chunk(next_raw, in, v, t0 + kL, T, C, head, row0, tid);
        }

        // The chunk's decays and matrices: from the pre-pass, or computed here.
        bool token_by_token;
        if constexpr (Prepared) {
            token_by_token = sm[Prep::flag] != 0.0f;
        } else {
            int* flag = flags + (n & 1);
            if (tid < 2 * kN && !chunk_decays(sm, tid % kN, tid / kN)) *flag = 1;
            __syncthreads();
            token_by_token = *flag != 0;
            if (tid == 0) flags[(n + 1) & 1] = 0;  // read by nobody until the next chunk's barriers
        }
        const float* vs = sm + Layout::v;

        if (token_by_token) {
            // The sequential recurrence on the raw inputs (same registers, no barriers needed):
            // from shared memory, or with a pre-pass (which leaves them out) from global memory.
            for (int t = 0; t < kL && t0 + t < T; ++t) {
                const float* row_of[5];
#pragma unroll
                for (int q = 0; q < 5; ++q)
                    row_of[q] = Prepared ? in[q] + std::size_t(t0 + t) * C + std::size_t(head) * kN
                                         : sm + Layout::raw + (q * kL + t) * kStride;
                const float *rt = row_of[raw_r], *wt = row_of[raw_w], *kt = row_of[raw_k];
                const float *at = row_of[raw_a], *bt = row_of[raw_b];
                const float sa = row_sum(dot_cols(s, at, part));
                const float vi = vs[t * kRows + row];
                float acc = 0.0f;
#pragma unroll
                for (int m = 0; m < kCols; ++m) {
                    const int j = part * kCols + m;
                    s[m] = fmaf(s[m], wt[j], fmaf(sa, bt[j], vi * kt[j]));
                    acc = fmaf(s[m], rt[j], acc);
                }
                acc = row_sum(acc);
                if (part == 0) y[std::size_t(t0 + t) * C + ybase] = acc;
            }
            continue;
        }

        if constexpr (!Prepared) {
            chunk_matrices(sm, tid);
            __syncthreads();
        }
        const float* hat = sm + (Prepared ? Prep::hat : Layout::hat);
        const float* mat = sm + (Prepared ? Prep::mat : Layout::mat);
        const float* ecl = sm + (Prepared ? Prep::ecl : Layout::ecl);
        // s_0·ã_t and s_0·r̃_t for every t: partial sums over this thread's columns, then the row's.
        float pa[kL], pr[kL];
#pragma unroll
        for (int t = 0; t < kL; ++t) {
            pa[t] = row_sum(dot_cols(s, hat + (hat_a * kL + t) * kStride, part));
            pr[t] = row_sum(dot_cols(s, hat + (hat_r * kL + t) * kStride, part));
        }
        float vv[kL], sa[kL];
#pragma unroll
        for (int t = 0; t < kL; ++t) vv[t] = vs[t * kRows + row];
        // The triangular solve for sa (every thread of the row does it: the values stay in
        // registers), then y_t for the tokens t with t % 4 == part.
#pragma unroll
        for (int t = 0; t < kL; ++t) {
            float ak[kL], ab[kL];
            load_prefix(mat + mat_ak * kL * kL + t * kL, t, ak);
            load_prefix(mat + mat_ab * kL * kL + t * kL, t, ab);
            float x = pa[t];
#pragma unroll
            for (int tau = 0; tau < t; ++tau) {
                x = fmaf(ak[tau], vv[tau], x);
                x = fmaf(ab[tau], sa[tau], x);
            }
            sa[t] = x;
        }
#pragma unroll
        for (int t = 0; t < kL; ++t) {
            if ((t % kParts) != part || t0 + t >= T) continue;
            float rb[kL], rk[kL];
            load_prefix(mat + mat_rb * kL * kL + t * kL, t + 1, rb);
            load_prefix(mat + mat_rk * kL * kL + t * kL, t + 1, rk);
            float x = pr[t];
#pragma unroll
            for (int tau = 0; tau <= t; ++tau) {
                x = fmaf(rb[tau], sa[tau], x);
                x = fmaf(rk[tau], vv[tau], x);
            }
            y[std::size_t(t0 + t) * C + ybase] = x;
        }
        // s_L = e^{c_L} (s_0 + Σ_τ sa_τ b̂_τ + v_τ k̂_τ)
#pragma unroll
        for (int tau = 0; tau < kL; ++tau) {
            float bh[kCols], kh[kCols];
            load_cols(hat + (hat_b * kL + tau) * kStride, part, bh);
            load_cols(hat + (hat_k * kL + tau) * kStride, part, kh);
#pragma unroll
            for (int m = 0; m < kCols; ++m) s[m] = fmaf(vv[tau], kh[m], fmaf(sa[tau], bh[m], s[m]));
        }
        float e[kCols];
        load_cols(ecl, part, e);
#pragma unroll
        for (int m = 0; m < kCols; ++m) s[m] *= e[m];
    }
#pragma unroll
    for (int m = 0; m < kCols; ++m) srow[part * kCols + m] = s[m];
}

// grid (H, chunks), block kThreads: chunk n of head `head` prepared exactly as the main kernel
// prepares it in shared memory (the same functions on the same inputs, so the same bits), into
// prepared. Every chunk at once: this is the work of the main loop that does not depend on the
// state, which there runs chunk after chunk on about one warp per scheduler (latency-bound).
__global__ void __launch_bounds__(kThreads)
    wkv7_prep_kernel(int T, std::size_t C, const float* __restrict__ r,
                     const float* __restrict__ w, const float* __restrict__ k,
                     const float* __restrict__ v, const float* __restrict__ a,
                     const float* __restrict__ b, float* __restrict__ prepared)
{
    extern __shared__ __align__(16) float sm[];
    const int head = blockIdx.x;
    const int n = blockIdx.y;
    const int tid = threadIdx.x;
    const float* const in[5] = {r, w, k, a, b};
    int* flag = reinterpret_cast<int*>(sm + Layout::flags);
    if (tid == 0) *flag = 0;
    Prefetch chunk;
    load_chunk(chunk, in, v, n * kL, T, C, head, 0, tid);
    store_chunk(chunk, sm, tid);
    __syncthreads();
    if (tid < 2 * kN && !chunk_decays(sm, tid % kN, tid / kN)) *flag = 1;
    __syncthreads();
    const bool token_by_token = *flag != 0;
    float* out = prepared + (std::size_t(head) * gridDim.y + n) * Prep::total;
    if (tid == 0) out[Prep::flag] = token_by_token ? 1.0f : 0.0f;
    if (token_by_token) return;  // block-uniform; the main kernel reads the raw inputs
    chunk_matrices(sm, tid);
    __syncthreads();
    for (int i = tid; i < 4 * kL * kStride; i += kThreads) out[Prep::hat + i] = sm[Layout::hat + i];
    for (int i = tid; i < kN; i += kThreads) out[Prep::ecl + i] = sm[Layout::ecl + i];
    // Only the entries chunk_matrices writes (the main kernel reads no other).
    for (int i = tid; i < 4 * kL * kL; i += kThreads) {
        const int t = (i / kL) % kL, tau = i % kL, which = i / (kL * kL);
        const bool diagonal_ok = which == mat_rb || which == mat_rk;
        if (tau < t || (tau == t && diagonal_ok)) out[Prep::mat + i] = sm[Layout::mat + i];
    }
}

bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

}  // namespace

cudaError_t wkv7_chunk::launch_wkv7_prep(int T, int H, const float* r, const float* w,
                                         const float* k, const float* v, const float* a,
                                         const float* b, float* prepared, cudaStream_t stream)
{
    const std::size_t C = std::size_t(H) * kN;
    const unsigned chunks = unsigned((T + kL - 1) / kL);
    wkv7_prep_kernel<<<dim3(unsigned(H), chunks), kThreads, Layout::total * sizeof(float),
                       stream>>>(T, C, r, w, k, v, a, b, prepared);
    return cudaGetLastError();
}

std::string wkv7_chunk::shape_error(const char* who, int T, int H, int N)
{
    if (T < 0 || H < 0)
        return std::string(who) + ": negative T (" + std::to_string(T) + ") or H (" +
               std::to_string(H) + ")";
    if (N != kN)
        return std::string(who) + ": head size " + std::to_string(N) +
               " (only 64; wkv7_forward takes any)";
    return {};
}

bool wkv7_chunked_supported(int N, const float* r, const float* w, const float* k,
                            const float* v, const float* a, const float* b)
{
    return N == kN && aligned16(r) && aligned16(w) && aligned16(k) && aligned16(v) &&
           aligned16(a) && aligned16(b);
}

std::size_t wkv7_chunked_scratch_floats(int T, int H)
{
    if (T <= 0 || H <= 0) return 0;
    return std::size_t((T + kL - 1) / kL) * std::size_t(H) * std::size_t(Prep::total);
}

Result<void> wkv7_forward_chunked(int T, int H, int N, const float* r, const float* w,
                                  const float* k, const float* v, const float* a, const float* b,
                                  float* state, float* y, cuda_stream stream, float* scratch)
{
    if (std::string why = wkv7_chunk::shape_error("wkv7_forward_chunked", T, H, N); !why.empty())
        return make_error(why);
    if (T == 0 || H == 0) return {};
    if (!r || !w || !k || !v || !a || !b || !state || !y)
        return make_error("wkv7_forward_chunked: null device pointer");
    if (!wkv7_chunked_supported(N, r, w, k, v, a, b))
        return make_error("wkv7_forward_chunked: inputs not 16-byte aligned");
    const std::size_t C = std::size_t(H) * N;
    const std::size_t shared_bytes = std::size_t(Layout::total) * sizeof(float);  // ~44 KiB
    static_assert(Layout::total * sizeof(float) <= 48 * 1024, "no opt-in for more shared memory");
    const unsigned chunks = unsigned((T + kL - 1) / kL);
    if (scratch && (chunks > 65535u || !aligned16(scratch)))
        return make_error("wkv7_forward_chunked: more than 65535 chunks, or scratch not 16-byte "
                          "aligned");
    const dim3 grid(unsigned(H), unsigned(kN / kRows));
    if (scratch) {
        LECTERN_CUDA_TRY(wkv7_chunk::launch_wkv7_prep(T, H, r, w, k, v, a, b, scratch, stream));
        wkv7_chunked_kernel<true><<<grid, kThreads, shared_bytes, stream>>>(T, C, r, w, k, v, a,
                                                                          b, state, y, scratch);
    } else {
        wkv7_chunked_kernel<false><<<grid, kThreads, shared_bytes, stream>>>(T, C, r, w, k, v, a,
                                                                           b, state, y, nullptr);
    }
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
