// Channel mix of the CPU backend (see channel_mix.h).
#include "cpu/channel_mix.h"

#include "cpu/parallel_rows.h"
#include "cpu/target_clones.h"
#include "cpu/token_shift.h"

namespace lectern {

LECTERN_CLONES
void relu_square(float* __restrict x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const float r = x[i] > 0.0f ? x[i] : 0.0f;
        x[i] = r * r;
    }
}

void channel_mix(const float* u, int T, int C, const float* prev, const float* x_k,
                 const Matrix& key, const Matrix& value, float* kx, float* hidden, float* out,
                 ThreadPool* pool) {
    const std::size_t sc = std::size_t(C), F = std::size_t(key.rows);
    parallel_rows(pool, T, [&](int t0, int t1) {
        token_shift_mix(u + t0 * sc, t0 == 0 ? prev : u + (t0 - 1) * sc, t1 - t0, C, x_k,
                        kx + t0 * sc);
    });
    matmul(kx, T, key, hidden, pool);
    parallel_rows(pool, T, [&](int t0, int t1) {
        relu_square(hidden + t0 * F, std::size_t(t1 - t0) * F);
    });
    matmul(hidden, T, value, out, pool);
}

}  // namespace lectern
