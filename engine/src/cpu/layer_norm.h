// LayerNorm over the channels of each row (spec §1.1, §2.1, §3.1: ln0, ln1, ln2, ln_out, eps 1e-5).
// Shapes: x, y [T][C] row-major float32; weight, bias [C]. Test: tests/cpu/tst_layer_norm.cpp.
#pragma once

namespace lectern {

// y[t][c] = (x[t][c] - mean_t) / sqrt(var_t + eps) * weight[c] + bias[c], biased variance.
// Mean and variance are accumulated in double. y may equal x (in place).
void layer_norm(const float* x, int T, int C, const float* weight, const float* bias, float eps,
                float* y);

}  // namespace lectern
