// Portable matmul kernels: "vectors" of 8 floats in plain arrays, which the compiler turns into
// whatever SIMD the baseline target has (SSE2 on x86-64). Always compiled; the fallback when the
// CPU has neither AVX2 nor AVX-512, and the path forced by tests to check the shared kernel code.
#include "cpu/matmul_kernel_impl.h"
#include "lectern/dtype.h"

namespace lectern::matmul_detail {
namespace {

struct Scalar {
    struct V {
        float v[8];
    };
    static constexpr std::size_t L = 8;
    static constexpr int MR = 4;
    static constexpr int NV = 2;
    static constexpr int dot_rows(int nt) { return nt <= 2 ? 4 : 2; }

    static V zero() { return V{}; }
    static V load(const float* p) {
        V r;
        for (std::size_t i = 0; i < L; ++i) r.v[i] = p[i];
        return r;
    }
    static V load_n(const float* p, std::size_t n) {
        V r{};
        for (std::size_t i = 0; i < n; ++i) r.v[i] = p[i];
        return r;
    }
    static void store(float* p, const V& a) {
        for (std::size_t i = 0; i < L; ++i) p[i] = a.v[i];
    }
    static V set1(float f) {
        V r;
        for (std::size_t i = 0; i < L; ++i) r.v[i] = f;
        return r;
    }
    static V fma(const V& a, const V& b, V c) {
        for (std::size_t i = 0; i < L; ++i) c.v[i] += a.v[i] * b.v[i];
        return c;
    }
    static float reduce(const V& a) {
        float s = 0.0f;
        for (std::size_t i = 0; i < L; ++i) s += a.v[i];
        return s;
    }
    static float scalar_w(const void* w, std::size_t off, int type) {
        if (type == w_f32) return static_cast<const float*>(w)[off];
        const std::uint16_t h = static_cast<const std::uint16_t*>(w)[off];
        return type == w_f16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
    template <int W>
    static V load_w(const void* w, std::size_t off) {
        V r;
        for (std::size_t i = 0; i < L; ++i) r.v[i] = scalar_w(w, off + i, W);
        return r;
    }
    template <int W>
    static V load_w_n(const void* w, std::size_t off, std::size_t n) {
        V r{};
        for (std::size_t i = 0; i < n; ++i) r.v[i] = scalar_w(w, off + i, W);
        return r;
    }
};

}  // namespace

const MatmulKernels scalar_kernels = make_kernels<Scalar>("scalar");

}  // namespace lectern::matmul_detail
