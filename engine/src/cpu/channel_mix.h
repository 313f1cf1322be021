// The RWKV-7 channel mix (spec §2.5), also the FFN of the sparse attention blocks (§3.1):
//   kx  = token_shift_mix(u, prev, x_k)
//   out = relu(kx · Wkᵀ)² · Wvᵀ
// Shapes: u, out [T][C]; prev, x_k [C]; key Matrix [F][C], value Matrix [C][F]; scratch:
// kx [T][C], hidden [T][F]. Test: tests/cpu/tst_time_mix.cpp (relu_square) and the whole-model
// tests in tests/infer/.
#pragma once

#include <cstddef>

#include "cpu/matmul.h"

namespace lectern {

// x[i] = max(x[i], 0)², n elements, in place.
void relu_square(float* x, std::size_t n);

void channel_mix(const float* u, int T, int C, const float* prev, const float* x_k,
                 const Matrix& key, const Matrix& value, float* kx, float* hidden, float* out,
                 ThreadPool* pool);

}  // namespace lectern
