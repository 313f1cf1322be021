// The WKV-7 recurrence of the CPU backend (see wkv7.h).
#include "cpu/wkv7.h"

#include <cstddef>

#include "cpu/thread_pool.h"

namespace lectern {
namespace {

constexpr int kLanes = 8;

// Dot product with kLanes independent float accumulators: each lane is a separate chain, so the
// compiler may vectorise it without reassociating (no -ffast-math needed); the summation order
// is as good as a BLAS float32 dot product.
inline float dot(const float* __restrict x, const float* __restrict y, int n) {
    float acc[kLanes] = {};
    int j = 0;
    for (; j + kLanes <= n; j += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += x[j + l] * y[j + l];
    float tail = 0.0f;
    for (; j < n; ++j) tail += x[j] * y[j];
    float s = 0.0f;
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    return s + tail;
}

// One token of one head: S [N][N], vectors [N].
inline void head_token(int N, const float* __restrict r, const float* __restrict w,
                       const float* __restrict k, const float* __restrict v,
                       const float* __restrict a, const float* __restrict b,
                       float* __restrict S, float* __restrict y) {
    for (int i = 0; i < N; ++i) {
        float* row = S + std::size_t(i) * N;
        const float sa = dot(a, row, N);
        const float vi = v[i];
        // Same association as the reference: (S·w + S·(αβᵀ)) + v kᵀ.
        for (int j = 0; j < N; ++j) row[j] = (row[j] * w[j] + sa * b[j]) + vi * k[j];
        y[i] = dot(row, r, N);
    }
}

void heads_range(int T, int H, int N, const float* r, const float* w, const float* k,
                 const float* v, const float* a, const float* b, float* state, float* y,
                 std::size_t h0, std::size_t h1) {
    const std::size_t C = std::size_t(H) * N;
    for (std::size_t h = h0; h < h1; ++h) {
        float* S = state + h * N * N;
        for (int t = 0; t < T; ++t) {
            const std::size_t o = std::size_t(t) * C + h * N;
            head_token(N, r + o, w + o, k + o, v + o, a + o, b + o, S, y + o);
        }
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
    // A head's step is N² multiply-adds (4096): split over threads only when there are enough
    // heads for the hand-off to pay.
    if (!pool || H < 8) {
        heads_range(1, H, N, r, w, k, v, a, b, state, y, 0, std::size_t(H));
        return;
    }
    pool->parallel_for(std::size_t(H), 4, [&](std::size_t h0, std::size_t h1) {
        heads_range(1, H, N, r, w, k, v, a, b, state, y, h0, h1);
    });
}

}  // namespace lectern
