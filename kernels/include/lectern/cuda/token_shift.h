// GPU twin of lectern::token_shift_mix (engine/src/cpu/token_shift.h, spec §2.2, §2.5): each row
// lerped toward the previous row, row 0 toward the carried state. Pointers are device pointers.
// Launch: one thread per four channels of a row doing all lerps (16-byte accesses; rows along
// the grid's y) when C is a multiple of 4 and every array aligned to 4 of its elements; else flat
// grid-stride, 256 threads per block, one thread per (t, c) element.
// Tolerance vs CPU: |Δ| <= 1e-6 + 1e-5·|cpu| (one multiply-add; FMA contraction on either side
// may change the last bit). Test: tests/kernels/tst_token_shift_cuda.cpp.
#pragma once

#include "lectern/cuda/cuda_stream.h"
#include "lectern/dtype.h"
#include "lectern/result.h"

namespace lectern::cuda {

// out[t][c] = u[t][c] + (p[t][c] - u[t][c]) * mix[c] with p[0] = prev, p[t] = u[t-1].
// Shapes: u, out [T][C]; prev, mix [C]. out must not alias u.
Result<void> token_shift_mix(const float* u, const float* prev, int T, int C, const float* mix,
                             float* out, cuda_stream stream = nullptr);

// One lerp of token_shift_mix_n: its coefficients [C] and its output [T][C], float32 or already
// rounded (to nearest even) to the 16-bit dtype of the weights of the product that reads it
// (cuda::MatmulInput), which then skips its own rounding pass.
struct TokenShiftLerp {
    const float* mix = nullptr;
    void* out = nullptr;
    DType out_dtype = DType::f32;
};

// The time mix's six lerps (x_r, x_w, x_k, x_v, x_a, x_g) in one pass over u: the same as calling
// token_shift_mix once per entry. lerps is a host array of count entries, 1 <= count <= 6.
constexpr int kMaxTokenShiftLerps = 6;
Result<void> token_shift_mix_n(const float* u, const float* prev, int T, int C,
                               const TokenShiftLerp* lerps, int count,
                               cuda_stream stream = nullptr);

}  // namespace lectern::cuda
