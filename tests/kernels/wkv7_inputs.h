// Random inputs for the WKV-7 kernel tests, in a real model's ranges: w in (0.545, 1) (the decay
// e^{-e^ω}; other ranges on request), α = −κ̂ and β = κ̂ ⊙ iclr with κ̂ of unit norm per head and
// token, iclr in (0, 1), and a nonzero initial state; and the sequential kernel's tolerance against
// the CPU twin (its reasons: tst_wkv7_cuda.cpp's file comment). Shared by tst_wkv7_cuda,
// tst_wkv7_chunked_cuda (through wkv7_chunked_check.h) and the emulator tests in tests/emu.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gpu_test_util.h"

namespace wkv7_inputs {

struct Inputs {
    int T = 0, H = 0, N = 0;
    std::vector<float> r, w, k, v, a, b, state;
    std::size_t C() const { return std::size_t(H) * std::size_t(N); }
};

inline Inputs make_inputs(int T, int H, int N, std::uint32_t seed, float w_lo = 0.545f,
                          float w_hi = 1.0f) {
    Inputs in;
    in.T = T;
    in.H = H;
    in.N = N;
    const std::size_t n = std::size_t(T) * in.C();
    in.r = gpu_test::uniform(n, -1.0f, 1.0f, seed + 1);
    in.w = gpu_test::uniform(n, w_lo, w_hi, seed + 2);
    in.k = gpu_test::uniform(n, -1.0f, 1.0f, seed + 3);
    in.v = gpu_test::uniform(n, -1.0f, 1.0f, seed + 4);
    const auto kappa = gpu_test::uniform(n, -1.0f, 1.0f, seed + 5);
    const auto iclr = gpu_test::uniform(n, 0.0f, 1.0f, seed + 6);
    in.a.resize(n);
    in.b.resize(n);
    for (std::size_t s = 0; s < n; s += std::size_t(N)) {
        double sq = 0;
        for (int j = 0; j < N; ++j) sq += double(kappa[s + j]) * kappa[s + j];
        const float inv = float(1.0 / std::sqrt(sq));
        for (int j = 0; j < N; ++j) {
            in.a[s + j] = -kappa[s + j] * inv;
            in.b[s + j] = kappa[s + j] * inv * iclr[s + j];
        }
    }
    in.state = gpu_test::uniform(std::size_t(H) * N * N, -0.5f, 0.5f, seed + 7);
    return in;
}

// The sequential kernel vs the CPU twin: |gpu - cpu| <= tolerance(T) * (max_abs(cpu) + |cpu|).
inline double tolerance(int T) { return 1e-5 * (1.0 + std::log2(double(T))); }

// max |v|, never below 1: an all-small array is compared absolutely.
inline float max_abs(const std::vector<float>& v) {
    float m = 1.0f;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
}

}  // namespace wkv7_inputs
