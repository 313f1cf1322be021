// GPU twin of lectern::layer_norm (engine/src/cpu/layer_norm.h, spec §2.1, §2.8): LayerNorm over
// the channels of each row, biased variance, eps as given (1e-5 in RWKV-7). Device pointers.
// Launch: one block per row; mean and variance summed in double in two passes, like the CPU twin
// (only the summation order differs). Up to C = 4,096 (a multiple of 4, arrays 16-byte aligned)
// 128 threads hold the row in registers as float4s and read it once; else 256 threads read it
// three times, a float at a time.
// Tolerance vs CPU: |Δ| <= 1e-6 + 1e-5·|cpu| (statistics agree to ~1e-15 and the scale-and-shift
// rounds like the CPU's, no FMA: expect equality or one ulp). Test: tests/kernels/tst_layer_norm_cuda.cpp.
#pragma once

#include "lectern/cuda/cuda_stream.h"
#include "lectern/result.h"

namespace lectern::cuda {

// y[t][c] = (x[t][c] - mean_t) / sqrt(var_t + eps) * weight[c] + bias[c].
// Shapes: x, y [T][C]; weight, bias [C]. y may equal x (in place).
Result<void> layer_norm(const float* x, int T, int C, const float* weight, const float* bias,
                        float eps, float* y, cuda_stream stream = nullptr);

}  // namespace lectern::cuda
