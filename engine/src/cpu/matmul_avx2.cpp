// AVX2 + FMA + F16C matmul kernels: 8 float lanes, f16 widened with vcvtph2ps, bf16 with a
// 16-bit shift, float32 FMA. Row tails go through a small zero-padded copy.
// Compiled with -mavx2 -mfma -mf16c (engine/CMakeLists.txt) and only called after
// __builtin_cpu_supports says so.
#if defined(LECTERN_MATMUL_X86)
#include <immintrin.h>

#include "cpu/matmul_kernel_impl.h"

namespace lectern::matmul_detail {
namespace {

struct Avx2 {
    using V = __m256;
    static constexpr std::size_t L = 8;
    static constexpr int MR = 6;  // 6 rows x 2 vectors = 12 accumulators of the 16 ymm registers
    static constexpr int NV = 2;
    static constexpr int dot_rows(int nt) { return nt <= 2 ? 4 : 2; }

    static V zero() { return _mm256_setzero_ps(); }
    static V load(const float* p) { return _mm256_loadu_ps(p); }
    static V load_n(const float* p, std::size_t n) {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), lane));
    }
    static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
    static V set1(float f) { return _mm256_set1_ps(f); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static float reduce(V v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }

    static V widen(__m128i h, int type) {
        if (type == w_f16) return _mm256_cvtph_ps(h);
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    template <int W>
    static V load_w(const void* w, std::size_t off) {
        if constexpr (W == w_f32) return load(static_cast<const float*>(w) + off);
        else return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(
                              static_cast<const std::uint16_t*>(w) + off)), W);
    }
    template <int W>
    static V load_w_n(const void* w, std::size_t off, std::size_t n) {
        if constexpr (W == w_f32) {
            return load_n(static_cast<const float*>(w) + off, n);
        } else {
            alignas(16) std::uint16_t tail[8] = {};
            const std::uint16_t* src = static_cast<const std::uint16_t*>(w) + off;
            for (std::size_t i = 0; i < n; ++i) tail[i] = src[i];
            return widen(_mm_load_si128(reinterpret_cast<const __m128i*>(tail)), W);
        }
    }
    static float scalar_w(const void* w, std::size_t off, int type) {
        return _mm256_cvtss_f32(type == w_f32 ? load_w_n<w_f32>(w, off, 1)
                                : type == w_f16 ? load_w_n<w_f16>(w, off, 1)
                                                : load_w_n<w_bf16>(w, off, 1));
    }
};

}  // namespace

const MatmulKernels avx2_kernels = make_kernels<Avx2>("avx2");

}  // namespace lectern::matmul_detail

#endif  // LECTERN_MATMUL_X86
