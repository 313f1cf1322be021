// The matmul kernels, written once over an instruction-set "traits" type and instantiated by
// each ISA file (matmul_scalar.cpp, matmul_avx2.cpp, matmul_avx512.cpp) with its own vector type.
// Shapes: x [T][K] float32, w [N][K] stored dtype, y [T][N]. Test: tests/cpu/tst_matmul.cpp.
//
// Everything here sits in an anonymous namespace on purpose: each ISA file gets a private copy
// compiled with its own flags (see matmul_kernels.h for why nothing may be shared inline).
//
// Traits interface (all static): V (vector of L floats); zero, load, load_n (first n lanes,
// rest zero), store, set1, fma(a, b, c) = a * b + c, reduce (horizontal sum); load_w<W> /
// load_w_n<W> (L weights of type W widened to float32); MR, NV: the prefill micro-tile is MR
// weight rows x NV vectors of tokens; dot_rows(nt): weight rows per dot-product group.
//
// Accumulation order differs from matmul_reference: float32 sums, one per vector lane (dot path)
// or in k order per token (prefill path), so results agree to ~1e-6 of sum_k |x_k * w_k|.
#pragma once

#include <cstddef>

#include "cpu/matmul_kernels.h"

// GCC and clang both read "GCC unroll"; MSVC has no unroll-count pragma (an unknown pragma is
// warning C4068), so there the loops are left to its optimiser.
#if defined(__GNUC__) || defined(__clang__)
#define LECTERN_UNROLL _Pragma("GCC unroll 16")
#else
#define LECTERN_UNROLL
#endif
#if defined(__GNUC__) || defined(__clang__)
#define LECTERN_PREFETCH_L2(p) __builtin_prefetch((p), 0, 1)  // prefetcht2 on x86
#else
#define LECTERN_PREFETCH_L2(p) ((void)(p))
#endif

namespace lectern::matmul_detail {
namespace {

// ---- dot-product path: decode (T == 1) and tiny T ----------------------------------------

// Prefetch distance of the dot path, in weight rows (see dot_group); prefetching past the end
// of the matrix is harmless (a prefetch never faults).
inline constexpr std::size_t dot_prefetch_rows = 32;

// R weight rows x NT tokens: each weight vector is loaded (and widened) once and used for all
// NT tokens; R independent accumulator chains hide the FMA latency.
template <class Tr, int W, int NT, int R>
void dot_group(const float* x, std::size_t K, const void* w, std::size_t r, float* y,
               std::size_t ldy, bool prefetch) {
    using V = typename Tr::V;
    constexpr std::size_t L = Tr::L;
    V acc[R][NT];
    LECTERN_UNROLL for (int i = 0; i < R; ++i)
        LECTERN_UNROLL for (int t = 0; t < NT; ++t) acc[i][t] = Tr::zero();
    // Software prefetch of the rows dot_prefetch_rows ahead, same column: at decode the weights
    // stream from DRAM and the hardware prefetcher alone keeps too few lines in flight per core.
    // Into L2 (locality 1, prefetcht2): on Zen 4 this doubled the bandwidth of one core (11 to
    // 20 GB/s on the 100 MB head); prefetchnta or prefetcht0 (into L1) gained nothing.
    constexpr std::size_t wsize = W == w_f32 ? 4 : 2;
    const char* ahead = static_cast<const char*>(w) + (r + dot_prefetch_rows) * K * wsize;
    std::size_t k = 0;
    for (; k + L <= K; k += L) {
        V xv[NT];
        if (prefetch)
            LECTERN_UNROLL for (int i = 0; i < R; ++i)
                LECTERN_PREFETCH_L2(ahead + (std::size_t(i) * K + k) * wsize);
        LECTERN_UNROLL for (int t = 0; t < NT; ++t) xv[t] = Tr::load(x + std::size_t(t) * K + k);
        LECTERN_UNROLL for (int i = 0; i < R; ++i) {
            const V wv = Tr::template load_w<W>(w, (r + std::size_t(i)) * K + k);
            LECTERN_UNROLL for (int t = 0; t < NT; ++t) acc[i][t] = Tr::fma(wv, xv[t], acc[i][t]);
        }
    }
    if (k < K) {
        const std::size_t n = K - k;
        V xv[NT];
        LECTERN_UNROLL for (int t = 0; t < NT; ++t)
            xv[t] = Tr::load_n(x + std::size_t(t) * K + k, n);
        LECTERN_UNROLL for (int i = 0; i < R; ++i) {
            const V wv = Tr::template load_w_n<W>(w, (r + std::size_t(i)) * K + k, n);
            LECTERN_UNROLL for (int t = 0; t < NT; ++t) acc[i][t] = Tr::fma(wv, xv[t], acc[i][t]);
        }
    }
    LECTERN_UNROLL for (int i = 0; i < R; ++i)
        LECTERN_UNROLL for (int t = 0; t < NT; ++t)
            y[std::size_t(t) * ldy + r + std::size_t(i)] = Tr::reduce(acc[i][t]);
}

template <class Tr, int W, int NT>
void dot_rows_nt(const float* x, const void* w, std::size_t K, float* y, std::size_t ldy,
                 std::size_t r0, std::size_t r1) {
    constexpr int R = Tr::dot_rows(NT);
    // A range starts cold: its first dot_prefetch_rows rows are prefetched here, the rest by
    // the groups before them. Rows past r1 are not prefetched: they belong to another thread
    // (another core's L2). Decode gives each thread one long range, so there is one cold start
    // per thread and product (with 32-64-row chunks, prefetching past r1 was measured slower).
    constexpr std::size_t wsize = W == w_f32 ? 4 : 2;
    const char* base = static_cast<const char*>(w);
    const std::size_t warm_end = r1 < r0 + dot_prefetch_rows ? r1 : r0 + dot_prefetch_rows;
    for (std::size_t b = r0 * K * wsize; b < warm_end * K * wsize; b += 64)
        LECTERN_PREFETCH_L2(base + b);
    std::size_t r = r0;
    for (; r + R <= r1; r += R)
        dot_group<Tr, W, NT, R>(x, K, w, r, y, ldy, r + dot_prefetch_rows + R <= r1);
    for (; r < r1; ++r)
        dot_group<Tr, W, NT, 1>(x, K, w, r, y, ldy, r + dot_prefetch_rows + 1 <= r1);
}

template <class Tr, int W>
void dot_rows(const float* x, std::size_t nt, const void* w, std::size_t K, float* y,
              std::size_t ldy, std::size_t r0, std::size_t r1) {
    static_assert(small_t_max == 4, "dot_rows instantiates NT = 1..4");
    switch (nt) {
    case 1: dot_rows_nt<Tr, W, 1>(x, w, K, y, ldy, r0, r1); break;
    case 2: dot_rows_nt<Tr, W, 2>(x, w, K, y, ldy, r0, r1); break;
    case 3: dot_rows_nt<Tr, W, 3>(x, w, K, y, ldy, r0, r1); break;
    default: dot_rows_nt<Tr, W, 4>(x, w, K, y, ldy, r0, r1); break;
    }
}

// ---- prefill path -----------------------------------------------------------------------

// acc[i][p..] (+)= sum_{k < kc} wt[i][k] * xT[k][p..] for MR rows and NV vectors of tokens:
// a broadcast weight times a vector of tokens, so no horizontal sums are needed.
template <class Tr, int MR, int NV>
void micro_tile(const float* wt, std::size_t ldw, std::size_t kc, const float* xT,
                std::size_t ldx, float* acc, std::size_t lda, bool first) {
    using V = typename Tr::V;
    constexpr std::size_t L = Tr::L;
    V c[MR][NV];
    LECTERN_UNROLL for (int i = 0; i < MR; ++i)
        LECTERN_UNROLL for (int v = 0; v < NV; ++v)
            c[i][v] = first ? Tr::zero() : Tr::load(acc + std::size_t(i) * lda + std::size_t(v) * L);
    for (std::size_t k = 0; k < kc; ++k) {
        V b[NV];
        LECTERN_UNROLL for (int v = 0; v < NV; ++v) b[v] = Tr::load(xT + k * ldx + std::size_t(v) * L);
        LECTERN_UNROLL for (int i = 0; i < MR; ++i) {
            const V a = Tr::set1(wt[std::size_t(i) * ldw + k]);
            LECTERN_UNROLL for (int v = 0; v < NV; ++v) c[i][v] = Tr::fma(a, b[v], c[i][v]);
        }
    }
    LECTERN_UNROLL for (int i = 0; i < MR; ++i)
        LECTERN_UNROLL for (int v = 0; v < NV; ++v)
            Tr::store(acc + std::size_t(i) * lda + std::size_t(v) * L, c[i][v]);
}

// All token vectors of one k block for `MR` rows: full panels of NV vectors, then single vectors.
template <class Tr, int MR>
void micro_row_group(const float* wt, std::size_t ldw, std::size_t kc, const float* xT,
                     std::size_t ldx, float* acc, bool first) {
    constexpr std::size_t L = Tr::L;
    constexpr std::size_t PW = L * Tr::NV;
    std::size_t p = 0;
    for (; p + PW <= ldx; p += PW) micro_tile<Tr, MR, Tr::NV>(wt, ldw, kc, xT + p, ldx, acc + p, ldx, first);
    for (; p < ldx; p += L) micro_tile<Tr, MR, 1>(wt, ldw, kc, xT + p, ldx, acc + p, ldx, first);
}

template <class Tr, int MR>
void micro_dispatch(int mr, const float* wt, std::size_t ldw, std::size_t kc, const float* xT,
                    std::size_t ldx, float* acc, bool first) {
    if constexpr (MR > 0) {
        if (mr == MR) return micro_row_group<Tr, MR>(wt, ldw, kc, xT, ldx, acc, first);
        micro_dispatch<Tr, MR - 1>(mr, wt, ldw, kc, xT, ldx, acc, first);
    }
}

// Widen rows [r, r + mr) x columns [k0, k0 + kc) of w into dst[mr][kc].
template <class Tr, int W>
void widen_tile(const void* w, std::size_t K, std::size_t r, int mr, std::size_t k0,
                std::size_t kc, float* dst) {
    constexpr std::size_t L = Tr::L;
    for (int i = 0; i < mr; ++i) {
        const std::size_t base = (r + std::size_t(i)) * K + k0;
        float* out = dst + std::size_t(i) * kc;
        std::size_t k = 0;
        for (; k + L <= kc; k += L) Tr::store(out + k, Tr::template load_w<W>(w, base + k));
        for (; k < kc; ++k) out[k] = Tr::scalar_w(w, base + k, W);
    }
}

template <class Tr, int W>
void panel_rows(const float* xT, std::size_t ldx, std::size_t nt, const void* w, std::size_t K,
                float* y, std::size_t ldy, std::size_t r0, std::size_t r1) {
    constexpr int MR = Tr::MR;
    static_assert(token_block % token_pad == 0 && token_pad % Tr::L == 0);
    alignas(64) float acc[MR * token_block];  // [MR][ldx] running sums over k blocks
    alignas(64) float wt[MR * k_block];       // widened weight tile (unused for f32 weights)
    for (std::size_t r = r0; r < r1; r += MR) {
        const int mr = int(r1 - r < std::size_t(MR) ? r1 - r : std::size_t(MR));
        for (std::size_t k0 = 0; k0 < K; k0 += k_block) {
            const std::size_t kc = K - k0 < k_block ? K - k0 : k_block;
            const float* tile = wt;
            std::size_t ldw = kc;
            if constexpr (W == w_f32) {
                tile = static_cast<const float*>(w) + r * K + k0;
                ldw = K;
            } else {
                widen_tile<Tr, W>(w, K, r, mr, k0, kc, wt);
            }
            micro_dispatch<Tr, MR>(mr, tile, ldw, kc, xT + k0 * ldx, ldx, acc, k0 == 0);
        }
        // Token-major copy-out: mr contiguous floats per output row. Row-major order would
        // write one float per row of y with a stride of N floats, which for N = 1024 or 3072
        // is a multiple of 4 KiB: every store lands in the same L1 set.
        if (mr == MR) {  // the common case, unrolled
            for (std::size_t t = 0; t < nt; ++t)
                LECTERN_UNROLL for (int i = 0; i < MR; ++i)
                    y[t * ldy + r + std::size_t(i)] = acc[std::size_t(i) * ldx + t];
        } else {
            for (std::size_t t = 0; t < nt; ++t)
                for (int i = 0; i < mr; ++i)
                    y[t * ldy + r + std::size_t(i)] = acc[std::size_t(i) * ldx + t];
        }
    }
}

template <class Tr>
constexpr MatmulKernels make_kernels(const char* name) {
    return MatmulKernels{name,
                         {&dot_rows<Tr, w_f32>, &dot_rows<Tr, w_f16>, &dot_rows<Tr, w_bf16>},
                         {&panel_rows<Tr, w_f32>, &panel_rows<Tr, w_f16>, &panel_rows<Tr, w_bf16>}};
}

}  // namespace
}  // namespace lectern::matmul_detail
