// Low-rank projections of the CPU backend (see lora.h).
#include "cpu/lora.h"

#include <cmath>
#include <cstddef>

namespace lectern {

void lora_inner(LoraInner inner, float* hidden, std::size_t n) {
    if (inner == LoraInner::tanh) {
        for (std::size_t i = 0; i < n; ++i) hidden[i] = std::tanh(hidden[i]);
    } else if (inner == LoraInner::sigmoid) {
        for (std::size_t i = 0; i < n; ++i) hidden[i] = 1.0f / (1.0f + std::exp(-hidden[i]));
    }
}

void lora_forward(const float* x, int T, const Matrix& down, const Matrix& up, LoraInner inner,
                  float* hidden, float* y, ThreadPool* pool) {
    matmul(x, T, down, hidden, pool);
    lora_inner(inner, hidden, std::size_t(T) * down.rows);
    matmul(hidden, T, up, y, pool);
}

}  // namespace lectern
