// Fused elementwise kernels for the one-token (T == 1) decode of an RWKV-7 block: each replaces a
// chain of the per-op kernels with one launch and computes the same formulas in the same order.
// CPU twins (composed): lectern::layer_norm + token_shift_mix (engine/src/cpu/layer_norm.h,
// token_shift.h), and lectern::time_mix_prepare + wkv7_step + group_norm_bonus_gate
// (cpu/time_mix.h, wkv7.h, group_norm.h). Used by kernels/model/cuda_decode_rwkv.cpp; test:
// tests/kernels/tst_decode_fused_cuda.cpp. Device pointers; asynchronous on `stream`, capturable.
//
// Numerics (why the test's tolerances are those of the single kernels): every reduction is done
// as by the kernel it replaces (LayerNorm: a 256-thread block sum in double; the per-head L2 norm,
// GroupNorm statistics and bonus: one warp, lanes striding by 32, in double), and the elementwise
// formulas are the same expressions with the same explicit roundings, so the results equal the
// unfused chain's up to the compiler's FMA contraction choices, and the CPU twins' within the
// tolerances of tst_layer_norm_cuda, tst_token_shift_cuda, tst_time_mix_cuda, tst_wkv7_cuda and
// tst_group_norm_cuda.
#pragma once

#include "lectern/cuda/cuda_stream.h"
#include "lectern/cuda/time_mix.h"
#include "lectern/cuda/token_shift.h"
#include "lectern/result.h"

namespace lectern::cuda {

// One token: u = LayerNorm(x) (weight, bias, eps), then for each lerp l
//   lerps[l].out[c] = u[c] + (shift[c] - u[c]) * lerps[l].mix[c],
// then shift := u, and u_out := u when u_out is not null. x, shift, the outputs [C] (float32: a
// lerp with another out_dtype is an error); lerps a host array of 1 <= count <=
// kMaxTokenShiftLerps entries. u_out may equal x; nothing else may alias.
// Launch: one 256-thread block per 256 elements (one block when u_out overlaps x).
Result<void> layer_norm_shift_mix(const float* x, int C, const float* weight, const float* bias,
                                  float eps, float* shift, const TokenShiftLerp* lerps, int count,
                                  float* u_out, cuda_stream stream = nullptr);

// The projected inputs of the one-token time-mix middle, each [C] with C = H * N.
struct TimeMixStepInputs {
    const float* r = nullptr;       // receptance xr·Wr
    const float* decay = nullptr;   // ŵ = tanh(xw·w1)·w2
    const float* iclr = nullptr;    // (xa·a1)·a2
    const float* k = nullptr;       // xk·Wk
    const float* v = nullptr;       // xv·Wv
    const float* v_gate = nullptr;  // (xv·v1)·v2; unused (may be null) for the first block
    const float* g = nullptr;       // gate σ(xg·g1)·g2
};

// The head's output-side vectors [C]: GroupNorm weight and bias, bonus scale r_k.
struct GroupNormVectors {
    const float* weight = nullptr;
    const float* bias = nullptr;
    const float* r_k = nullptr;
};

// time_mix_prepare, then wkv7_step, then group_norm_bonus_gate, for one token, in one launch:
//   w, a, k̃, v (value residual against v_first, or v_first := v for the first block), α, β
//   as in time_mix_prepare; state [H][N][N] updated and y computed as in wkv7_step;
//   out = (GroupNorm(y) + bonus · v) ⊙ g as in group_norm_bonus_gate (eps as given).
// The intermediate w, a, k̃, v, α, β, y stay on chip: inputs are not modified. out [C] must not
// alias any input or the state. 1 <= N <= 1024.
// Launch: one block per head (grid H), N rounded up to 32 threads; thread i owns state row i (in
// registers for N = 64).
Result<void> time_mix_wkv7_step(int H, int N, const TimeMixVectors& p, bool first_block,
                                const TimeMixStepInputs& in, float* v_first, float* state,
                                const GroupNormVectors& gn, float eps, float* out,
                                cuda_stream stream = nullptr);

}  // namespace lectern::cuda
