// Channel mix of the CPU backend (see channel_mix.h).
#include "cpu/channel_mix.h"

#include "cpu/token_shift.h"

namespace lectern {

void relu_square(float* __restrict x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const float r = x[i] > 0.0f ? x[i] : 0.0f;
        x[i] = r * r;
    }
}

void channel_mix(const float* u, int T, int C, const float* prev, const float* x_k,
                 const Matrix& key, const Matrix& value, float* kx, float* hidden, float* out,
                 ThreadPool* pool) {
    token_shift_mix(u, prev, T, C, x_k, kx);
    matmul(kx, T, key, hidden, pool);
    relu_square(hidden, std::size_t(T) * key.rows);
    matmul(hidden, T, value, out, pool);
}

}  // namespace lectern
