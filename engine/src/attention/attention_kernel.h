// Inner loops shared by the attention modes: a 64-float dot product, an online-softmax
// accumulator for one (query, head) that reads f32 / f16 / int8 rows in place, a small top-k
// selector, and a thread-pool helper. Shapes: head size N = 64.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "attention/kv_chunk_store.h"

namespace lectern {

class ThreadPool;

// Eight independent partial sums: the compiler vectorises this without -ffast-math, and the
// summation order is fixed, so the same inputs always give the same bits.
inline float kv_dot64(const float* a, const float* b) {
    float s[8] = {};
    for (int i = 0; i < kv_head_dim; i += 8)
        for (int j = 0; j < 8; ++j) s[j] += a[i + j] * b[i + j];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

// softmax(q·Kᵀ/8)·V over any number of row sets, one set at a time (online softmax: a running
// max and sum, the accumulator rescaled when the max grows). The result is independent of how
// keys are grouped into sets, up to float summation order.
class HeadAttention {
public:
    explicit HeadAttention(const float* q);  // q[64], unscaled
    void add(const KvRows& rows);            // all rows.count rows
    void finish(float* y) const;             // y[64]; zeros when no key was added
    // Running max and sum of exp(score - max) so far (provenance weights are derived from them).
    float max() const { return m_state.max; }
    float sum() const { return m_state.sum; }

    struct State {
        float q[kv_head_dim];  // q / 8 (exact: a power of two)
        float acc[kv_head_dim];
        float max;
        float sum = 0.0f;
    };

private:
    State m_state;
};

// The k largest scores pushed so far, in descending order. Ties keep the earlier pushed index
// (pushing in ascending chunk order therefore prefers the lower chunk); NaN scores never win.
class TopK {
public:
    static constexpr int max_k = 64;
    explicit TopK(int k) : m_k(k) {}
    void push(int index, float score);
    int size() const { return m_n; }
    int index(int i) const { return m_index[i]; }
    float score(int i) const { return m_score[i]; }

private:
    int m_k;
    int m_n = 0;
    int m_index[max_k];
    float m_score[max_k];
};

// Tests and benchmarks: force the baseline (SSE2) or the AVX2 + F16C inner loop (default: the
// best the CPU has). False when the CPU lacks it. Not thread-safe; both give the same bits.
bool attention_use_avx2(bool avx2);

// pool->parallel_for, or a serial loop when there is no pool.
void attention_parallel_for(ThreadPool* pool, std::size_t n, std::size_t grain,
                            const std::function<void(std::size_t, std::size_t)>& fn);

}  // namespace lectern
