// The elementwise middle of the RWKV-7 time mix (spec §2.2): from the projected r, k, v and the
// LoRA outputs to the WKV inputs — decay, in-context learning rate, normalised removal key κ̂,
// k̃, the value residual against v_first, and the kernel's α = −κ̂, β = κ̂ ⊙ a.
// Shapes: every array [T][C] row-major, C = H * N; vectors [C]. Test: tests/cpu/tst_time_mix.cpp.
#pragma once

namespace lectern {

struct TimeMixVectors {
    const float* w0 = nullptr;   // decay bias
    const float* a0 = nullptr;   // learning-rate bias
    const float* v0 = nullptr;   // value-residual bias (unused for RWKV block 0)
    const float* k_k = nullptr;  // removal-key scale
    const float* k_a = nullptr;  // replacement-key scale
};

// In place:
//   decay: in ŵ = tanh(xw·w1)·w2, out w = exp(−0.606531 · σ(w0 + ŵ)) (the reference's RNN-path
//          constant for e^−0.5)
//   iclr:  in (xa·a1)·a2, out a = σ(a0 + ·)
//   k:     in xk·Wk, out k̃ = k ⊙ (1 + (a − 1) ⊙ k_a)
//   v:     in xv·Wv; first block: copied to v_first unchanged; later blocks: out
//          v + (v_first − v) ⊙ σ(v0 + v_gate), v_gate = (xv·v1)·v2
// Out: alpha = −κ̂, beta = κ̂ ⊙ a with κ̂ = per-head L2-normalise(k ⊙ k_k) (eps 1e-12).
void time_mix_prepare(int T, int H, int N, const TimeMixVectors& p, bool first_block,
                      float* decay, float* iclr, float* k, float* v, const float* v_gate,
                      float* v_first, float* alpha, float* beta);

}  // namespace lectern
