// Low-rank projections of the RWKV-7 time mix (spec §2.2): y = f(x · down) · up with the
// nonlinearity f *between* the two products (tanh for the decay, sigmoid for the gate, none for
// the in-context learning rate and the value residual).
// Shapes: x [T][C]; down Matrix [D][C] (the stored [C][D] w1/a1/v1/g1, transposed at load);
// up Matrix [C][D] (stored [D][C] w2/a2/v2/g2, transposed); hidden scratch [T][D]; y [T][C].
// Test: tests/cpu/tst_time_mix.cpp.
#pragma once

#include <cstddef>

#include "cpu/matmul.h"

namespace lectern {

enum class LoraInner { none, tanh, sigmoid };

// hidden[i] = f(hidden[i]) for i < n: the nonlinearity alone, for callers that run the two
// products themselves (several LoRAs grouped into one matmul_group).
void lora_inner(LoraInner inner, float* hidden, std::size_t n);

void lora_forward(const float* x, int T, const Matrix& down, const Matrix& up, LoraInner inner,
                  float* hidden, float* y, ThreadPool* pool);

}  // namespace lectern
