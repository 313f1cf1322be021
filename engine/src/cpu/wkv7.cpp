// The WKV-7 recurrence of the CPU backend (see wkv7.h).
//
// Each head runs on its transposed state ST[j][i] = S[i][j] (a thread-local copy, transposed
// back after the call): then sa = S·a, the update and y = S·r are all loops over i with one
// accumulator per i, which vectorise without horizontal sums and without reassociating any
// sum. The row layout needed two N-long dot products (horizontal sums) per row and token.
// The kernel is compiled for AVX-512, AVX2+FMA and the baseline (target_clones.h).
#include "cpu/wkv7.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "core/compiler.h"
#include "cpu/target_clones.h"
#include "cpu/thread_pool.h"


namespace lectern {
namespace {

// T tokens of one head on ST [N][N]; `stride` is the row length C of the [T][C] inputs, already
// offset to the head; sa, acc [N] are scratch. NC = N when known at compile time (64, every
// RWKV-7 model), so the loops over i become a few full vectors with sa and acc in registers;
// NC = 0 for any other head size.
template <int NC>
LECTERN_ALWAYS_INLINE inline void head_tokens_body(
    int T, int n_runtime, std::size_t stride, const float* __restrict r, const float* __restrict w,
    const float* __restrict k, const float* __restrict v, const float* __restrict a,
    const float* __restrict b, float* __restrict ST, float* __restrict sa,
    float* __restrict acc, float* __restrict y) {
    const int N = NC ? NC : n_runtime;
    for (int t = 0; t < T; ++t) {
        const std::size_t o = std::size_t(t) * stride;
        const float* vt = v + o;
        for (int i = 0; i < N; ++i) sa[i] = 0.0f;
        for (int j = 0; j < N; ++j) {
            const float aj = a[o + j];
            const float* col = ST + std::size_t(j) * N;
            for (int i = 0; i < N; ++i) sa[i] += aj * col[i];
        }
        for (int i = 0; i < N; ++i) acc[i] = 0.0f;
        for (int j = 0; j < N; ++j) {
            const float wj = w[o + j], bj = b[o + j], kj = k[o + j], rj = r[o + j];
            float* col = ST + std::size_t(j) * N;
            for (int i = 0; i < N; ++i) {
                // Same association as the reference: (S·w + S·(αβᵀ)) + v kᵀ.
                const float s = (col[i] * wj + sa[i] * bj) + vt[i] * kj;
                col[i] = s;
                acc[i] += s * rj;
            }
        }
        for (int i = 0; i < N; ++i) y[o + i] = acc[i];
    }
}

LECTERN_CLONES
void head_tokens(int T, int N, std::size_t stride, const float* r, const float* w,
                 const float* k, const float* v, const float* a, const float* b, float* ST,
                 float* sa, float* acc, float* y) {
    if (N == 64)
        head_tokens_body<64>(T, N, stride, r, w, k, v, a, b, ST, sa, acc, y);
    else
        head_tokens_body<0>(T, N, stride, r, w, k, v, a, b, ST, sa, acc, y);
}

// In 16 x 16 tiles: S and ST together fill a 32 KiB L1, so a row-by-column walk would miss.
void transpose(int N, const float* __restrict src, float* __restrict dst) {
    constexpr int tile = 16;
    for (int i0 = 0; i0 < N; i0 += tile)
        for (int j0 = 0; j0 < N; j0 += tile)
            for (int j = j0; j < std::min(N, j0 + tile); ++j)
                for (int i = i0; i < std::min(N, i0 + tile); ++i)
                    dst[std::size_t(j) * N + i] = src[std::size_t(i) * N + j];
}

void heads_range(int T, int H, int N, const float* r, const float* w, const float* k,
                 const float* v, const float* a, const float* b, float* state, float* y,
                 std::size_t h0, std::size_t h1) {
    const std::size_t C = std::size_t(H) * N;
    thread_local std::vector<float> scratch;
    scratch.resize(std::size_t(N) * N + 2 * std::size_t(N));
    float* ST = scratch.data();
    float* sa = ST + std::size_t(N) * N;
    float* acc = sa + N;
    for (std::size_t h = h0; h < h1; ++h) {
        float* S = state + h * N * N;
        const std::size_t o = h * N;
        transpose(N, S, ST);
        head_tokens(T, N, C, r + o, w + o, k + o, v + o, a + o, b + o, ST, sa, acc, y + o);
        transpose(N, ST, S);
    }
}

}  // namespace

void wkv7_forward(int T, int H, int N, const float* r, const float* w, const float* k,
                  const float* v, const float* a, const float* b, float* state, float* y,
                  ThreadPool* pool) {
    if (!pool || H == 1) {
        heads_range(T, H, N, r, w, k, v, a, b, state, y, 0, std::size_t(H));
        return;
    }
    pool->parallel_for(std::size_t(H), 1, [&](std::size_t h0, std::size_t h1) {
        heads_range(T, H, N, r, w, k, v, a, b, state, y, h0, h1);
    });
}

void wkv7_step(int H, int N, const float* r, const float* w, const float* k, const float* v,
               const float* a, const float* b, float* state, float* y, ThreadPool* pool) {
    // A head's step is ~4 N² flops plus two N x N transposes (~3 µs): split over threads only
    // when there are enough heads for the hand-off to pay (12-16 heads at 0.1B-0.4B).
    if (!pool || H < 8) {
        heads_range(1, H, N, r, w, k, v, a, b, state, y, 0, std::size_t(H));
        return;
    }
    pool->parallel_for(std::size_t(H), 4, [&](std::size_t h0, std::size_t h1) {
        heads_range(1, H, N, r, w, k, v, a, b, state, y, h0, h1);
    });
}

}  // namespace lectern
