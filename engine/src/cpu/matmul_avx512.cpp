// AVX-512 (F, BW, VL) matmul kernels: 16 float lanes, masked loads for row tails, f16 widened
// with vcvtph2ps and bf16 with a 16-bit shift; all arithmetic is float32 FMA. (vdpbf16ps is not
// used: it rounds the activations to bf16, and the engine must match fp32 references.)
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -mf16c (engine/CMakeLists.txt) and
// only called after __builtin_cpu_supports says so.
#if defined(LECTERN_MATMUL_X86)
// GCC 12's AVX-512 intrinsics initialise "undefined" vectors from themselves (__Y = __Y), which
// -Wuninitialized reports at every use; the pattern is intended and harmless.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "cpu/matmul_kernel_impl.h"

namespace lectern::matmul_detail {
namespace {

struct Avx512 {
    using V = __m512;
    static constexpr std::size_t L = 16;
    static constexpr int MR = 8;  // 8 rows x 2 vectors = 16 of the 32 zmm registers
    static constexpr int NV = 2;
    static constexpr int dot_rows(int nt) { return nt == 1 ? 8 : 4; }

    static __mmask16 mask(std::size_t n) { return __mmask16((1u << n) - 1u); }
    static V zero() { return _mm512_setzero_ps(); }
    static V load(const float* p) { return _mm512_loadu_ps(p); }
    static V load_n(const float* p, std::size_t n) { return _mm512_maskz_loadu_ps(mask(n), p); }
    static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
    static V set1(float f) { return _mm512_set1_ps(f); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static float reduce(V v) { return _mm512_reduce_add_ps(v); }

    static V widen(__m256i h, int type) {
        if (type == w_f16) return _mm512_cvtph_ps(h);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    template <int W>
    static V load_w(const void* w, std::size_t off) {
        if constexpr (W == w_f32) return load(static_cast<const float*>(w) + off);
        else return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                              static_cast<const std::uint16_t*>(w) + off)), W);
    }
    template <int W>
    static V load_w_n(const void* w, std::size_t off, std::size_t n) {
        if constexpr (W == w_f32) return load_n(static_cast<const float*>(w) + off, n);
        else return widen(_mm256_maskz_loadu_epi16(mask(n), static_cast<const std::uint16_t*>(w) + off), W);
    }
    static float scalar_w(const void* w, std::size_t off, int type) {
        return _mm512_cvtss_f32(type == w_f32 ? load_w_n<w_f32>(w, off, 1)
                                : type == w_f16 ? load_w_n<w_f16>(w, off, 1)
                                                : load_w_n<w_bf16>(w, off, 1));
    }
};

}  // namespace

const MatmulKernels avx512_kernels = make_kernels<Avx512>("avx512");

}  // namespace lectern::matmul_detail

#endif  // LECTERN_MATMUL_X86
