// GroupNorm + bonus + gate of the CPU backend (see group_norm.h).
#include "cpu/group_norm.h"

#include <cmath>
#include <cstddef>

namespace lectern {

void group_norm_bonus_gate(int T, int H, int N, const float* o, const float* weight,
                           const float* bias, float eps, const float* r, const float* k,
                           const float* v, const float* r_k, const float* g, float* out) {
    const std::size_t C = std::size_t(H) * N;
    for (int t = 0; t < T; ++t) {
        for (int h = 0; h < H; ++h) {
            const std::size_t base = std::size_t(t) * C + std::size_t(h) * N;
            const float* oh = o + base;
            // Statistics and the bonus dot product in double (the reference uses float32).
            double sum = 0.0;
            for (int j = 0; j < N; ++j) sum += oh[j];
            const double mean = sum / N;
            double sq = 0.0;
            for (int j = 0; j < N; ++j) {
                const double d = oh[j] - mean;
                sq += d * d;
            }
            const float inv = float(1.0 / std::sqrt(sq / N + double(eps)));
            double bonus = 0.0;
            for (int j = 0; j < N; ++j) {
                const std::size_t c = std::size_t(h) * N + j;
                bonus += double(r[base + j] * k[base + j] * r_k[c]);
            }
            const float m = float(mean);
            const float bf = float(bonus);
            for (int j = 0; j < N; ++j) {
                const std::size_t c = std::size_t(h) * N + j;
                const float gn = (oh[j] - m) * inv * weight[c] + bias[c];
                out[base + j] = (gn + bf * v[base + j]) * g[base + j];
            }
        }
    }
}

}  // namespace lectern
