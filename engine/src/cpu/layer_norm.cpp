// LayerNorm of the CPU backend (see layer_norm.h).
#include "cpu/layer_norm.h"

#include <cmath>
#include <cstddef>

namespace lectern {

void layer_norm(const float* x, int T, int C, const float* weight, const float* bias, float eps,
                float* y) {
    for (int t = 0; t < T; ++t) {
        const float* xt = x + std::size_t(t) * C;
        float* yt = y + std::size_t(t) * C;
        // Two passes in double: the reference accumulates in float32, so this is at least as
        // accurate and avoids the cancellation of the one-pass E[x²] - E[x]² form.
        double sum = 0.0;
        for (int c = 0; c < C; ++c) sum += xt[c];
        const double mean = sum / C;
        double sq = 0.0;
        for (int c = 0; c < C; ++c) {
            const double d = xt[c] - mean;
            sq += d * d;
        }
        // Centre in double too: rounding the mean to float first would cost accuracy when the
        // row has a large common offset.
        const double inv = 1.0 / std::sqrt(sq / C + double(eps));
        for (int c = 0; c < C; ++c)
            yt[c] = float((double(xt[c]) - mean) * inv) * weight[c] + bias[c];
    }
}

}  // namespace lectern
