// Online-softmax attention of one query head over rows stored as f32, f16 or int8, read in place
// (no whole-chunk conversion), plus the top-k selector used for chunk selection.
#include "attention/attention_kernel.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/compiler.h"
#include "core/cpu_features.h"
#include "cpu/thread_pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace lectern {

namespace {

constexpr int block_rows = 32;  // scores computed per rescale step

// exp(x) for the softmax weights, x = score - running max <= 0: Cody-Waite reduction
// x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor polynomial for e^r (truncation < 6e-9 relative),
// 2^n built in the exponent bits. Plain arithmetic and bit casts, so it vectorises, and the
// bits do not depend on the libm or the instruction set. Below -87 it returns ~1e-38, not 0.
// The clamp compares bit patterns (for x <= 0 a larger magnitude is a larger unsigned pattern):
// a float compare could trap, which stops GCC from vectorising without -ffast-math.
LECTERN_ALWAYS_INLINE inline float exp_nonpositive(float x) {
    x = std::bit_cast<float>(std::min(std::bit_cast<std::uint32_t>(x), 0xc2ae0000u));  // -87
    const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    const float t = x * 1.44269504088896341f + shifter;
    const float n = t - shifter;
    const float r = (x - n * 0.693145751953125f) - n * 1.42860676533018700e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const std::int32_t e = std::bit_cast<std::int32_t>(t) - 0x4b400000;  // n as an integer
    return p * std::bit_cast<float>((e + 127) << 23);
}

// n rows of 64 stored elements (contiguous: chunks keep their rows 64 apart) widened to float32
// in one flat loop that vectorises.
template <KvDType D>
LECTERN_ALWAYS_INLINE inline void widen_rows(const void* base, std::size_t n, float* out) {
    if constexpr (D == KvDType::f16) {
        const auto* p = static_cast<const std::uint16_t*>(base);
        for (std::size_t i = 0; i < n * kv_head_dim; ++i) out[i] = kv_half_to_float(p[i]);
    } else if constexpr (D == KvDType::int8) {
        const auto* p = static_cast<const std::int8_t*>(base);
        for (std::size_t i = 0; i < n * kv_head_dim; ++i) out[i] = float(p[i]);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define LECTERN_ATTENTION_X86 1
// F16C converts 8 halves per instruction; exact, so the same bits as widen_rows<f16>.
[[gnu::target("avx2,f16c")]] void widen_f16_f16c(const void* base, std::size_t n, float* out) {
    const auto* p = static_cast<const std::uint16_t*>(base);
    for (std::size_t i = 0; i < n * kv_head_dim; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    }
}
#endif

// The online-softmax update over all rows of `rows`, block_rows keys at a time: scores, one
// rescale when the max grows, weights, weighted sum of values. int8: the per-head scale factors
// out of the dot products and of the weighted sum.
template <KvDType D, bool F16C>
LECTERN_ALWAYS_INLINE inline void widen(const void* base, std::size_t n, float* out) {
#ifdef LECTERN_ATTENTION_X86
    if constexpr (F16C && D == KvDType::f16) return widen_f16_f16c(base, n, out);
#endif
    widen_rows<D>(base, n, out);
}

template <KvDType D, bool F16C>
LECTERN_ALWAYS_INLINE inline void add_rows(HeadAttention::State& st, const KvRows& rows) {
    constexpr bool widened = D != KvDType::f32;
    const float k_scale = D == KvDType::int8 ? rows.k_scale : 1.0f;
    const float v_scale = D == KvDType::int8 ? rows.v_scale : 1.0f;
    const std::size_t elem = kv_dtype_size(D);
    float q[kv_head_dim], acc[kv_head_dim];  // locals: no aliasing with the rows read
    for (int d = 0; d < kv_head_dim; ++d) {
        q[d] = st.q[d];
        acc[d] = st.acc[d];
    }
    float max = st.max, sum = st.sum;
    bool nan_seen = false;  // a NaN key or query must give a NaN output, not vanish in the max
    float s[block_rows];
    alignas(64) float buf[widened ? block_rows * kv_head_dim : 1];
    for (int i0 = 0; i0 < rows.count; i0 += block_rows) {
        const int n = std::min(block_rows, rows.count - i0);
        const std::size_t first = std::size_t(i0) * rows.stride;
        const float* k = static_cast<const float*>(rows.k) + (widened ? 0 : first);
        std::size_t stride = rows.stride;
        if constexpr (widened) {
            widen<D, F16C>(static_cast<const std::byte*>(rows.k) + first * elem, std::size_t(n),
                           buf);
            k = buf;
            stride = kv_head_dim;
        }
        float block_max = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < n; ++j) {
            s[j] = kv_dot64(q, k + std::size_t(j) * stride) * k_scale;
            block_max = std::max(block_max, s[j]);
            nan_seen |= std::isnan(s[j]);
        }
        if (block_max > max) {
            const float c = exp_nonpositive(max - block_max);  // ~0 on the first block
            sum *= c;
            for (int d = 0; d < kv_head_dim; ++d) acc[d] *= c;
            max = block_max;
        }
        for (int j = 0; j < n; ++j) s[j] = exp_nonpositive(s[j] - max);
        const float* v = static_cast<const float*>(rows.v) + (widened ? 0 : first);
        if constexpr (widened) {
            widen<D, F16C>(static_cast<const std::byte*>(rows.v) + first * elem, std::size_t(n),
                           buf);
            v = buf;
        }
        for (int j = 0; j < n; ++j) {
            sum += s[j];
            const float w = s[j] * v_scale;
            const float* vj = v + std::size_t(j) * stride;
            for (int d = 0; d < kv_head_dim; ++d) acc[d] += w * vj[d];
        }
    }
    for (int d = 0; d < kv_head_dim; ++d) st.acc[d] = acc[d];
    st.max = max;
    st.sum = nan_seen ? std::numeric_limits<float>::quiet_NaN() : sum;
}

template <bool F16C>
LECTERN_ALWAYS_INLINE inline void add_rows_any(HeadAttention::State& st, const KvRows& rows) {
    switch (rows.dtype) {
        case KvDType::f32:
            return add_rows<KvDType::f32, F16C>(st, rows);
        case KvDType::f16:
            return add_rows<KvDType::f16, F16C>(st, rows);
        case KvDType::int8:
            return add_rows<KvDType::int8, F16C>(st, rows);
    }
}

// The same code compiled twice: for the baseline x86-64 (SSE2) and for AVX2 + F16C, picked once
// at run time. ISO C++ mode contracts no multiply-add into an FMA and the conversions are exact,
// so both give the same bits.
void add_rows_baseline(HeadAttention::State& st, const KvRows& rows) {
    add_rows_any<false>(st, rows);
}

#ifdef LECTERN_ATTENTION_X86
[[gnu::target("avx2,f16c")]] void add_rows_avx2(HeadAttention::State& st, const KvRows& rows) {
    add_rows_any<true>(st, rows);
}
#endif

using AddRowsFn = void (*)(HeadAttention::State&, const KvRows&);

AddRowsFn pick_add_rows() {
#ifdef LECTERN_ATTENTION_X86
    if (cpu_has_avx2_fma_f16c()) return add_rows_avx2;
#endif
    return add_rows_baseline;
}

AddRowsFn add_rows_fn = pick_add_rows();

}  // namespace

HeadAttention::HeadAttention(const float* q) {
    m_state.max = -std::numeric_limits<float>::infinity();
    for (int d = 0; d < kv_head_dim; ++d) {
        m_state.q[d] = q[d] * 0.125f;
        m_state.acc[d] = 0.0f;
    }
}

void HeadAttention::add(const KvRows& rows) {
    add_rows_fn(m_state, rows);
}

void HeadAttention::finish(float* y) const {
    // No key at all: zeros. A NaN sum (NaN input) makes every output NaN.
    const float inv = m_state.sum == 0.0f ? 0.0f : 1.0f / m_state.sum;
    for (int d = 0; d < kv_head_dim; ++d) y[d] = m_state.acc[d] * inv;
}

bool attention_use_avx2(bool avx2) {
#ifdef LECTERN_ATTENTION_X86
    if (avx2 && pick_add_rows() != add_rows_avx2) return false;
    add_rows_fn = avx2 ? add_rows_avx2 : add_rows_baseline;
    return true;
#else
    return !avx2;
#endif
}

void TopK::push(int index, float score) {
    if (m_k <= 0 || std::isnan(score)) return;
    if (m_n == m_k && !(score > m_score[m_n - 1])) return;
    // Insert after every kept entry with score >= this one, so earlier pushes win ties.
    int p = std::min(m_n, m_k - 1);
    while (p > 0 && score > m_score[p - 1]) {
        m_score[p] = m_score[p - 1];
        m_index[p] = m_index[p - 1];
        --p;
    }
    m_score[p] = score;
    m_index[p] = index;
    if (m_n < m_k) ++m_n;
}

void attention_parallel_for(ThreadPool* pool, std::size_t n, std::size_t grain,
                            const std::function<void(std::size_t, std::size_t)>& fn) {
    if (n == 0) return;
    if (pool && n > grain)
        pool->parallel_for(n, grain, fn);
    else
        fn(0, n);
}

}  // namespace lectern
