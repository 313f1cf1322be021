// The host side of the chunked WKV-7 kernel tests (kernels/wkv7_chunked.cu), shared by
// tst_wkv7_chunked_cuda (on a GPU) and tests/emu's emulator test (the same kernel on the CPU):
// the cases, inputs in a real model's ranges and outside them, a float64 reference of the
// recurrence, sentinels around the outputs, and the tolerance.
//
// Tolerance: |got - ref| <= 4e-6 * max(1, max|ref|) per element of y and of the final state,
// against float64. The chunked form sums in another order than the sequential kernels and goes
// through e^{±c} factors; in a CPU emulation of the kernel (same FMAs, glibc's expf/logf) its
// worst error in this measure was 6.1e-7 over every case below, the CPU engine's own 3.7e-7.
// The margin covers the GPU's expf/logf (a few ulp); an indexing, ordering or decay bug gives
// errors of order 1e-2 or more (checked by mutating the kernel in the emulator).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "wkv7_inputs.h"

namespace wkv7_check {

constexpr int N = 64;              // the only head size of the chunked kernel
constexpr std::size_t guard = 64;  // sentinel floats on each side of y and state
constexpr float sentinel = -777.25f;
constexpr double tolerance = 4e-6;

// T tokens, H heads, decays uniform in [w_lo, w_hi). Real models have w in (0.545, 1); the other
// ranges push the cumulative decay of a 16-token chunk past the factored form's limit (|c| > 60:
// those chunks run token by token), mix both kinds of chunk, or hold w = 0 exactly.
struct Case {
    const char* name;
    int T, H;
    float w_lo, w_hi;
};

inline std::vector<Case> cases() {
    return {
        {"one token", 1, 1, 0.545f, 1.0f},
        {"partial chunk", 15, 2, 0.545f, 1.0f},
        {"one chunk", 16, 1, 0.545f, 1.0f},
        {"chunk and one", 17, 3, 0.545f, 1.0f},
        {"T=300 H=3", 300, 3, 0.545f, 1.0f},
        {"T=1024 H=2", 1024, 2, 0.545f, 1.0f},
        {"T=64 H=40", 64, 40, 0.545f, 1.0f},
        {"w near 1", 100, 1, 0.9999f, 1.0f},
        {"fast decay: token by token", 80, 2, 1e-6f, 1e-3f},
        {"mixed chunks", 200, 2, 0.02f, 1.0f},
        {"w = 0 in places", 48, 1, 0.0f, 0.3f},
    };
}

using Inputs = wkv7_inputs::Inputs;  // N = 64

// The case's inputs (wkv7_inputs.h, with its decay range); "w = 0 in places" also sets every 7th
// decay to exactly 0.
inline Inputs make_inputs(const Case& c, std::uint32_t seed) {
    Inputs in = wkv7_inputs::make_inputs(c.T, c.H, N, seed, c.w_lo, c.w_hi);
    if (c.w_lo == 0.0f)
        for (std::size_t e = 0; e < in.w.size(); e += 7) in.w[e] = 0.0f;
    return in;
}

// The recurrence of lectern/cuda/wkv7.h in float64, token by token.
struct Reference {
    std::vector<double> y, state;
};

inline Reference reference(const Inputs& in) {
    const std::size_t C = in.C();
    Reference out;
    out.state.assign(in.state.begin(), in.state.end());
    out.y.assign(std::size_t(in.T) * C, 0.0);
    for (int t = 0; t < in.T; ++t)
        for (int h = 0; h < in.H; ++h) {
            const std::size_t o = std::size_t(t) * C + std::size_t(h) * N;
            for (int i = 0; i < N; ++i) {
                double* S = &out.state[(std::size_t(h) * N + i) * N];
                double sa = 0;
                for (int j = 0; j < N; ++j) sa += double(in.a[o + j]) * S[j];
                double acc = 0;
                for (int j = 0; j < N; ++j) {
                    S[j] = S[j] * in.w[o + j] + sa * in.b[o + j] + double(in.v[o + i]) * in.k[o + j];
                    acc += S[j] * in.r[o + j];
                }
                out.y[o + i] = acc;
            }
        }
    return out;
}

// A buffer of n floats with `guard` sentinels on each side; payload() is where the kernel writes.
struct Guarded {
    std::vector<float> all;
    std::size_t n = 0;
    explicit Guarded(std::size_t count, const float* init = nullptr)
        : all(count + 2 * guard, sentinel), n(count) {
        if (init) std::copy(init, init + count, all.begin() + std::ptrdiff_t(guard));
    }
    float* payload() { return all.data() + guard; }
    const float* payload() const { return all.data() + guard; }
    bool sentinels_intact() const {
        for (std::size_t i = 0; i < guard; ++i)
            if (std::memcmp(&all[i], &sentinel, 4) != 0 ||
                std::memcmp(&all[guard + n + i], &sentinel, 4) != 0)
                return false;
        return true;
    }
};

// Worst |got - want| / (tolerance * max(1, max|want|)); NaN or inf anywhere gives +inf. <= 1 passes.
inline double error_ratio(const float* got, const std::vector<double>& want) {
    double scale = 1.0;
    for (double x : want) scale = std::max(scale, std::fabs(x));
    double worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(got[i])) return INFINITY;
        worst = std::max(worst, std::fabs(double(got[i]) - want[i]) / (tolerance * scale));
    }
    return worst;
}

// Everything a run must satisfy; an empty string when it does.
inline std::string verdict(const Guarded& y, const Guarded& state, const Reference& ref,
                           double* worst = nullptr) {
    if (!y.sentinels_intact()) return "a sentinel around y was overwritten";
    if (!state.sentinels_intact()) return "a sentinel around the state was overwritten";
    const double ey = error_ratio(y.payload(), ref.y);
    const double es = error_ratio(state.payload(), ref.state);
    if (worst) *worst = std::max(ey, es);
    if (!(ey <= 1.0)) return "y off by " + std::to_string(ey) + " x tolerance";
    if (!(es <= 1.0)) return "state off by " + std::to_string(es) + " x tolerance";
    return {};
}

}  // namespace wkv7_check
