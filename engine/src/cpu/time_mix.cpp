// Elementwise time-mix preparation of the CPU backend (see time_mix.h).
#include "cpu/time_mix.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace lectern {
namespace {

inline float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

}  // namespace

void time_mix_prepare(int T, int H, int N, const TimeMixVectors& p, bool first_block,
                      float* __restrict decay, float* __restrict iclr, float* __restrict k,
                      float* __restrict v, const float* __restrict v_gate,
                      float* __restrict v_first, float* __restrict alpha,
                      float* __restrict beta) {
    const int C = H * N;
    for (int t = 0; t < T; ++t) {
        const std::size_t row = std::size_t(t) * C;
        float* w = decay + row;
        float* a = iclr + row;
        float* kt = k + row;
        float* vt = v + row;
        float* vf = v_first + row;
        float* al = alpha + row;
        float* be = beta + row;
        // The decay is computed in float32 even when the reference works in half precision.
        for (int c = 0; c < C; ++c) w[c] = std::exp(-0.606531f * sigmoid(p.w0[c] + w[c]));
        for (int c = 0; c < C; ++c) a[c] = sigmoid(p.a0[c] + a[c]);
        // κ̂ uses the original k, so compute it (into alpha) before k̃ overwrites k.
        for (int c = 0; c < C; ++c) al[c] = kt[c] * p.k_k[c];
        for (int h = 0; h < H; ++h) {
            float* kk = al + std::size_t(h) * N;
            double sq = 0.0;
            for (int j = 0; j < N; ++j) sq += double(kk[j]) * kk[j];
            const float norm = std::max(float(std::sqrt(sq)), 1e-12f);
            for (int j = 0; j < N; ++j) kk[j] = kk[j] / norm;
        }
        for (int c = 0; c < C; ++c) {
            be[c] = al[c] * a[c];
            al[c] = -al[c];
        }
        for (int c = 0; c < C; ++c) kt[c] = kt[c] * (1.0f + (a[c] - 1.0f) * p.k_a[c]);
        if (first_block) {
            std::copy(vt, vt + C, vf);
        } else {
            const float* vg = v_gate + row;
            for (int c = 0; c < C; ++c) vt[c] = vt[c] + (vf[c] - vt[c]) * sigmoid(p.v0[c] + vg[c]);
        }
    }
}

}  // namespace lectern
