// The WKV-7 recurrence for prefill as a scan over 16-token chunks (see lectern/cuda/wkv7.h): each
// chunk's effect on the state is the affine map S -> S P + U, with P and U (64 x 64 per head)
// independent of the state, so they are computed for every chunk at once; only S P + U is left
// sequential (one 64 x 64 product per chunk, every state row at once); then every chunk's outputs
// at once from the state it started with. CPU reference: engine/src/cpu/wkv7.cpp; tests:
// tests/kernels/tst_wkv7_chunked_cuda.cpp and tests/emu/tst_wkv7_chunked_emu.cpp (the `scan` calls).
//
// Why: the chunked kernel (wkv7_chunked.cu) runs every chunk's per-row work one chunk after
// another on two blocks per head, ~7.5 us per chunk on an H200 with its pre-pass (session 16),
// latency-bound. Here the sequential part is a 64-step dot product per state element.
//
// The algebra, per head, with the pre-pass's quantities (wkv7_chunked.cu's file comment: ã, r̃,
// b̂, k̂, e^{c_L}, the strictly lower A_ab, A_ak and the lower A_rb, A_rk; v_τ[i] is token τ's v
// for state row i, s0 a state row at the chunk's start):
//   sa = (I - A_ab)^{-1} (ã s0ᵀ + A_ak v) = M_a s0ᵀ + M_v v     (sa_t[i] = s_{t-1}[i] · a_t)
//   s_L = e^{c_L} ⊙ (s0 + Σ_τ sa_τ b̂_τ + v_τ k̂_τ) = s0 P + vᵀ Q
//   P[k][j] = e^{c_L}[j] (δ_kj + Σ_t M_a[t][k] b̂_t[j]),  Q[τ][j] = e^{c_L}[j] (k̂_τ[j] + Σ_t M_v[t][τ] b̂_t[j])
//   U = Vᵀ Q (U[i][j] = Σ_τ v_τ[i] Q[τ][j]),  y_t[i] = s0[i] · r̃_t + Σ_{τ<=t} A_rb[t][τ] sa_τ[i] + A_rk[t][τ] v_τ[i]
// A chunk the pre-pass flags (some |c_t| too large for the factored form) runs token by token in
// the scan from the raw inputs, which also writes its outputs.
#include "lectern/cuda/wkv7.h"

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "cuda_check.cuh"
#include "wkv7_prep.cuh"

namespace lectern::cuda {
namespace {

using namespace wkv7_chunk;
constexpr int kThreads = 256;
constexpr int kScanRows = 16;  // state rows per scan block: four blocks per head

// Per (head, chunk), after the chunk's Prep: the transition and the solves the outputs need.
struct Trans {
    static constexpr int p = 0;                 // P [N][N]
    static constexpr int u = p + kN * kN;       // U [N][N] (row i, column j)
    static constexpr int ma = u + kN * kN;      // M_a [L][N]
    static constexpr int mv = ma + kL * kN;     // M_v [L][L] (entries c < t; others 0)
    static constexpr int total = mv + kL * kL;  // whole float4s
};

// Entry [t][tau] of a strictly lower L x L matrix of the pre-pass (the entries on and above the
// diagonal were never written).
__device__ float strictly_lower(const float* m, int t, int tau)
{
    return tau < t ? m[t * kL + tau] : 0.0f;
}

// Shared memory of the transition kernel, in floats.
struct TransShared {
    static constexpr int prep = 0;                      // the chunk's Prep
    static constexpr int v = prep + Prep::total;        // v [L][N] (token, row)
    static constexpr int ma = v + kL * kN;              // M_a [L][N]
    static constexpr int mv = ma + kL * kN;             // M_v [L][L]
    static constexpr int q = mv + kL * kL;              // Q [L][N]
    static constexpr int total = q + kL * kN;
};

// grid (H, chunks), block kThreads: chunk n's P, U, M_a and M_v from its Prep and its v.
__global__ void __launch_bounds__(kThreads)
    wkv7_transition_kernel(int T, std::size_t C, const float* __restrict__ v,
                           const float* __restrict__ prepared, float* __restrict__ trans)
{
    extern __shared__ __align__(16) float sm[];
    const int head = blockIdx.x, n = blockIdx.y, tid = threadIdx.x;
    const float* prep = prepared + (std::size_t(head) * gridDim.y + n) * Prep::total;
    if (prep[Prep::flag] != 0.0f) return;  // block-uniform: the scan runs it token by token
    for (int i = tid; i < Prep::total; i += kThreads) sm[TransShared::prep + i] = prep[i];
    for (int i = tid; i < kL * kN; i += kThreads) {
        const int t = i / kN, row = i % kN;
        sm[TransShared::v + i] =
            n * kL + t < T ? v[std::size_t(n * kL + t) * C + std::size_t(head) * kN + row] : 0.0f;
    }
    __syncthreads();
    const float* hat = sm + TransShared::prep + Prep::hat;
    const float* mat = sm + TransShared::prep + Prep::mat;
    const float* ecl = sm + TransShared::prep + Prep::ecl;
    const float* a_ab = mat + mat_ab * kL * kL;
    float* ma = sm + TransShared::ma;
    float* mv = sm + TransShared::mv;
    // Forward substitution, a column per thread: X_t = B_t + Σ_{τ<t} A_ab[t][τ] X_τ.
    if (tid < kN) {
        const int j = tid;
        for (int t = 0; t < kL; ++t) {
            float x = hat[(hat_a * kL + t) * kStride + j];
            for (int tau = 0; tau < t; ++tau) x = fmaf(a_ab[t * kL + tau], ma[tau * kN + j], x);
            ma[t * kN + j] = x;
        }
    } else if (tid < kN + kL) {
        const int c = tid - kN;
        const float* a_ak = mat + mat_ak * kL * kL;
        for (int t = 0; t < kL; ++t) {
            float x = strictly_lower(a_ak, t, c);
            for (int tau = 0; tau < t; ++tau) x = fmaf(a_ab[t * kL + tau], mv[tau * kL + c], x);
            mv[t * kL + c] = x;
        }
    }
    __syncthreads();
    float* out = trans + (std::size_t(head) * gridDim.y + n) * Trans::total;
    // Q [L][N], and P [N][N] straight to global memory.
    for (int e = tid; e < kL * kN; e += kThreads) {
        const int tau = e / kN, j = e % kN;
        float x = hat[(hat_k * kL + tau) * kStride + j];
        for (int t = tau + 1; t < kL; ++t)
            x = fmaf(mv[t * kL + tau], hat[(hat_b * kL + t) * kStride + j], x);
        sm[TransShared::q + e] = ecl[j] * x;
    }
    for (int e = tid; e < kN * kN; e += kThreads) {
        const int row = e / kN, j = e % kN;
        float x = row == j ? 1.0f : 0.0f;
        for (int t = 0; t < kL; ++t) x = fmaf(ma[t * kN + row], hat[(hat_b * kL + t) * kStride + j], x);
        out[Trans::p + e] = ecl[j] * x;
    }
    for (int e = tid; e < kL * kN; e += kThreads) out[Trans::ma + e] = ma[e];
    for (int e = tid; e < kL * kL; e += kThreads) out[Trans::mv + e] = mv[e];
    __syncthreads();
    // U [N][N]: row i of vᵀ Q.
    for (int e = tid; e < kN * kN; e += kThreads) {
        const int row = e / kN, j = e % kN;
        float x = 0.0f;
        for (int tau = 0; tau < kL; ++tau)
            x = fmaf(sm[TransShared::v + tau * kN + row], sm[TransShared::q + tau * kN + j], x);
        out[Trans::u + e] = x;
    }
}

// Sum over the 16 lanes of a state row (a half warp): every one of them gets the total.
__device__ float row_sum16(float x)
{
    for (int m = 1; m < 16; m *= 2) x += __shfl_xor_sync(0xffffffffu, x, m);
    return x;
}

// grid (H, N / kScanRows), block kThreads: thread (row, part) keeps S[row0 + row][4 part .. +3].
// Writes each chunk's starting rows to `starts` ([head][chunk][N][N]), the final state to
// `state`, and the outputs of the chunks run token by token.
__global__ void __launch_bounds__(kThreads)
    wkv7_scan_kernel(int T, std::size_t C, const float* __restrict__ r,
                     const float* __restrict__ w, const float* __restrict__ k,
                     const float* __restrict__ v, const float* __restrict__ a,
                     const float* __restrict__ b, float* __restrict__ state, float* __restrict__ y,
                     const float* __restrict__ prepared, const float* __restrict__ trans,
                     float* __restrict__ starts)
{
    __shared__ __align__(16) float p_sm[kN * kN];
    __shared__ __align__(16) float s_sm[kScanRows * kN];
    const int head = blockIdx.x, tid = threadIdx.x;
    const int row = tid / 16, part = tid % 16, i = blockIdx.y * kScanRows + row;
    const int n_chunks = (T + kL - 1) / kL;
    float* srow = state + (std::size_t(head) * kN + i) * kN + 4 * part;
    float4 s = *reinterpret_cast<const float4*>(srow);
    const auto chunk_trans = [&](int n) {
        return trans + (std::size_t(head) * n_chunks + n) * Trans::total;
    };
    float4 p_next[4], u_next;
    const auto fetch = [&](int n) {
        const float4* p = reinterpret_cast<const float4*>(chunk_trans(n) + Trans::p);
#pragma unroll
        for (int q = 0; q < 4; ++q) p_next[q] = p[tid + q * kThreads];
        u_next = *reinterpret_cast<const float4*>(chunk_trans(n) + Trans::u + i * kN + 4 * part);
    };
    fetch(0);
    for (int n = 0; n < n_chunks; ++n) {
        *reinterpret_cast<float4*>(starts + ((std::size_t(head) * n_chunks + n) * kN + i) * kN +
                                   4 * part) = s;
        __syncthreads();  // every thread is done with the previous chunk's P and S
#pragma unroll
        for (int q = 0; q < 4; ++q) reinterpret_cast<float4*>(p_sm)[tid + q * kThreads] = p_next[q];
        *reinterpret_cast<float4*>(s_sm + row * kN + 4 * part) = s;
        const float4 u = u_next;
        __syncthreads();
        if (n + 1 < n_chunks) fetch(n + 1);
        const float* prep = prepared + (std::size_t(head) * n_chunks + n) * Prep::total;
        if (prep[Prep::flag] != 0.0f) {
            // Token by token from the raw inputs, as wkv7.cu does it (block-uniform branch).
            for (int t = n * kL; t < n * kL + kL && t < T; ++t) {
                const std::size_t o = std::size_t(t) * C + std::size_t(head) * kN + 4 * part;
                const float4 wt = *reinterpret_cast<const float4*>(w + o);
                const float4 kt = *reinterpret_cast<const float4*>(k + o);
                const float4 at = *reinterpret_cast<const float4*>(a + o);
                const float4 bt = *reinterpret_cast<const float4*>(b + o);
                const float4 rt = *reinterpret_cast<const float4*>(r + o);
                const float vi = v[std::size_t(t) * C + std::size_t(head) * kN + i];
                const float sa = row_sum16(s.x * at.x + s.y * at.y + s.z * at.z + s.w * at.w);
                s.x = fmaf(s.x, wt.x, fmaf(sa, bt.x, vi * kt.x));
                s.y = fmaf(s.y, wt.y, fmaf(sa, bt.y, vi * kt.y));
                s.z = fmaf(s.z, wt.z, fmaf(sa, bt.z, vi * kt.z));
                s.w = fmaf(s.w, wt.w, fmaf(sa, bt.w, vi * kt.w));
                const float yt = row_sum16(s.x * rt.x + s.y * rt.y + s.z * rt.z + s.w * rt.w);
                if (part == 0) y[std::size_t(t) * C + std::size_t(head) * kN + i] = yt;
            }
            continue;
        }
        // S_row P + U_row for this thread's four columns.
        float4 x = u;
        const float* srow_sm = s_sm + row * kN;
#pragma unroll 16
        for (int m = 0; m < kN; ++m) {
            const float sm_m = srow_sm[m];
            const float4 pm = reinterpret_cast<const float4*>(p_sm + m * kN)[part];
            x.x = fmaf(sm_m, pm.x, x.x);
            x.y = fmaf(sm_m, pm.y, x.y);
            x.z = fmaf(sm_m, pm.z, x.z);
            x.w = fmaf(sm_m, pm.w, x.w);
        }
        s = x;
    }
    *reinterpret_cast<float4*>(srow) = s;
}

// grid (H, chunks), block kThreads: the outputs of chunk n from the state rows it started with.
__global__ void __launch_bounds__(kThreads)
    wkv7_scan_outputs_kernel(int T, std::size_t C, const float* __restrict__ v,
                             const float* __restrict__ prepared, const float* __restrict__ trans,
                             const float* __restrict__ starts, float* __restrict__ y)
{
    __shared__ __align__(16) float s0[kN * (kN + 1)];  // padded: threads read down its columns
    __shared__ float vv[kL * kN];
    __shared__ float sa[kL * kN];
    const int head = blockIdx.x, n = blockIdx.y, tid = threadIdx.x;
    const std::size_t hn = std::size_t(head) * gridDim.y + n;
    const float* prep = prepared + hn * Prep::total;
    if (prep[Prep::flag] != 0.0f) return;  // the scan wrote these
    const float* tr = trans + hn * Trans::total;
    const float* start = starts + hn * kN * kN;
    for (int e = tid; e < kN * kN; e += kThreads) s0[(e / kN) * (kN + 1) + e % kN] = start[e];
    for (int e = tid; e < kL * kN; e += kThreads) {
        const int t = e / kN, row = e % kN;
        vv[e] = n * kL + t < T ? v[std::size_t(n * kL + t) * C + std::size_t(head) * kN + row]
                               : 0.0f;
    }
    __syncthreads();
    const float* ma = tr + Trans::ma;
    const float* mv = tr + Trans::mv;
    // sa[t][i] = M_a[t] · s0[i] + Σ_{c<t} M_v[t][c] v_c[i]
    for (int e = tid; e < kL * kN; e += kThreads) {
        const int t = e / kN, row = e % kN;
        float x = 0.0f;
        for (int j = 0; j < kN; ++j) x = fmaf(ma[t * kN + j], s0[row * (kN + 1) + j], x);
        for (int c = 0; c < t; ++c) x = fmaf(mv[t * kL + c], vv[c * kN + row], x);
        sa[e] = x;
    }
    __syncthreads();
    const float* hat = prep + Prep::hat;
    const float* a_rb = prep + Prep::mat + mat_rb * kL * kL;
    const float* a_rk = prep + Prep::mat + mat_rk * kL * kL;
    for (int e = tid; e < kL * kN; e += kThreads) {
        const int t = e / kN, row = e % kN;
        if (n * kL + t >= T) continue;
        float x = 0.0f;
        for (int j = 0; j < kN; ++j)
            x = fmaf(hat[(hat_r * kL + t) * kStride + j], s0[row * (kN + 1) + j], x);
        for (int tau = 0; tau <= t; ++tau) {
            x = fmaf(a_rb[t * kL + tau], sa[tau * kN + row], x);
            x = fmaf(a_rk[t * kL + tau], vv[tau * kN + row], x);
        }
        y[std::size_t(n * kL + t) * C + std::size_t(head) * kN + row] = x;
    }
}

bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

}  // namespace

std::size_t wkv7_scan_scratch_floats(int T, int H)
{
    if (T <= 0 || H <= 0) return 0;
    const std::size_t per_chunk = std::size_t(Prep::total) + Trans::total + std::size_t(kN) * kN;
    return std::size_t((T + kL - 1) / kL) * std::size_t(H) * per_chunk;
}

Result<void> wkv7_forward_scan(int T, int H, int N, const float* r, const float* w,
                               const float* k, const float* v, const float* a, const float* b,
                               float* state, float* y, cuda_stream stream, float* scratch)
{
    if (std::string why = wkv7_chunk::shape_error("wkv7_forward_scan", T, H, N); !why.empty())
        return make_error(why);
    if (T == 0 || H == 0) return {};
    if (!r || !w || !k || !v || !a || !b || !state || !y || !scratch)
        return make_error("wkv7_forward_scan: null device pointer");
    const unsigned chunks = unsigned((T + kL - 1) / kL);
    if (!wkv7_chunked_supported(N, r, w, k, v, a, b) || !aligned16(scratch) ||
        !aligned16(state) || chunks > 65535u)
        return make_error("wkv7_forward_scan: inputs, state or scratch not 16-byte aligned, or "
                          "more than 65535 chunks");
    const std::size_t C = std::size_t(H) * N;
    float* prepared = scratch;
    float* trans = prepared + std::size_t(chunks) * H * Prep::total;
    float* starts = trans + std::size_t(chunks) * H * Trans::total;
    static_assert(TransShared::total * sizeof(float) <= 48 * 1024, "no opt-in for more shared memory");
    LECTERN_CUDA_TRY(wkv7_chunk::launch_wkv7_prep(T, H, r, w, k, v, a, b, prepared, stream));
    wkv7_transition_kernel<<<dim3(unsigned(H), chunks), kThreads,
                             TransShared::total * sizeof(float), stream>>>(T, C, v, prepared,
                                                                           trans);
    LECTERN_CUDA_TRY(cudaGetLastError());
    wkv7_scan_kernel<<<dim3(unsigned(H), unsigned(kN / kScanRows)), kThreads, 0, stream>>>(
        T, C, r, w, k, v, a, b, state, y, prepared, trans, starts);
    LECTERN_CUDA_TRY(cudaGetLastError());
    wkv7_scan_outputs_kernel<<<dim3(unsigned(H), chunks), kThreads, 0, stream>>>(
        T, C, v, prepared, trans, starts, y);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
