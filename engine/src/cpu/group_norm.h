// The tail of the RWKV-7 time mix before the output projection (spec §2.4): per-head GroupNorm
// of the WKV read-out, the per-head "bonus" term, and the output gate.
//   out = (GroupNorm_H(o) + (Σ_j r_j k̃_j r_k_j)_head · v) ⊙ g
// GroupNorm per head over its N channels: (o − mean) / sqrt(var_biased + eps) · weight + bias,
// eps = 64e-5 in RWKV-7. Shapes: o, r, k, v, g, out [T][C] with C = H * N; weight, bias, r_k [C].
// Test: tests/cpu/tst_group_norm.cpp.
#pragma once

namespace lectern {

// out may alias o.
void group_norm_bonus_gate(int T, int H, int N, const float* o, const float* weight,
                           const float* bias, float eps, const float* r, const float* k,
                           const float* v, const float* r_k, const float* g, float* out);

}  // namespace lectern
