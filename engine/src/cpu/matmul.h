// Matrix products of the CPU backend: activations are float32, weights stay in their stored dtype
// (f32, f16 or bf16) and are never inflated in memory. Weight layout is PyTorch's nn.Linear layout,
// [out][in] row-major, so y = x · Wᵀ. Test: tests/cpu/tst_matmul.cpp.
#pragma once

#include <cstddef>

#include "lectern/dtype.h"

namespace lectern {

class ThreadPool;

// A read-only weight matrix [rows = out][cols = in], row-major, in its stored dtype.
struct Matrix {
    DType dtype = DType::f32;
    int rows = 0;
    int cols = 0;
    const void* data = nullptr;
};

// y[t][r] = sum_c x[t][c] * w[r][c] for t < T (x: [T][w.cols], y: [T][w.rows], float32).
// T == 1 is the bandwidth-bound decode case; T > 1 is prefill. `pool` may be null (serial).
void matmul(const float* x, int T, const Matrix& w, float* y, ThreadPool* pool);

// The reference: plain loops in double precision accumulation. Used by tests as the oracle.
void matmul_reference(const float* x, int T, const Matrix& w, float* y);

}  // namespace lectern
