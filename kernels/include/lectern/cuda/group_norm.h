// GPU twin of lectern::group_norm_bonus_gate (engine/src/cpu/group_norm.h, spec §2.4): per-head
// GroupNorm of the WKV read-out, plus the bonus (Σ_j r_j k̃_j r_k_j)·v of the head, times the gate:
//   out = (GroupNorm_H(o) + bonus_head · v) ⊙ g,   eps as given (64e-5 in RWKV-7).
// Device pointers. Launch: one warp per (token, head), 4 warps (128 threads) per block; mean,
// variance and the bonus summed in double like the CPU twin (only the summation order differs).
// Tolerance vs CPU: |Δ| <= 1e-6 + 1e-5·|cpu| (the same float formula, no FMA, after statistics
// equal to ~1e-15: expect equality or one ulp). Test: tests/kernels/tst_group_norm_cuda.cpp.
#pragma once

#include "lectern/cuda/cuda_stream.h"
#include "lectern/dtype.h"
#include "lectern/result.h"

namespace lectern::cuda {

// Shapes: o, r, k, v, g, out [T][C] with C = H * N (any N >= 1); weight, bias, r_k [C].
// out may alias o.
Result<void> group_norm_bonus_gate(int T, int H, int N, const float* o, const float* weight,
                                   const float* bias, float eps, const float* r, const float* k,
                                   const float* v, const float* r_k, const float* g, float* out,
                                   cuda_stream stream = nullptr);

// The same with out [T][C] in `out_dtype`: float32 (as above), or rounded to nearest even to the
// 16-bit dtype of the weights of the product that reads it (cuda::MatmulInput), which then skips
// its own rounding pass. A 16-bit out must not overlap o (an error).
Result<void> group_norm_bonus_gate(int T, int H, int N, const float* o, const float* weight,
                                   const float* bias, float eps, const float* r, const float* k,
                                   const float* v, const float* r_k, const float* g, void* out,
                                   DType out_dtype, cuda_stream stream);

}  // namespace lectern::cuda
