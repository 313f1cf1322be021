// GPU twin of lectern::time_mix_prepare (engine/src/cpu/time_mix.h, spec §2.2, §2.3): the
// elementwise middle of the RWKV-7 time mix, from the projected r, k, v and LoRA outputs to the
// WKV inputs: decay w = exp(−0.606531·σ(w0 + ŵ)), iclr a = σ(a0 + ·), k̃ = k ⊙ (1 + (a − 1) ⊙ k_a),
// the value residual against v_first, and α = −κ̂, β = κ̂ ⊙ a with κ̂ = per-head
// L2-normalise(k ⊙ k_k) (divide by max(‖·‖₂, 1e-12), the square sum in double as on the CPU).
// Device pointers. Launch: one warp per (token, head), 4 warps (128 threads) per block.
// Tolerance vs CPU: |Δ| <= 1e-6 + 1e-5·|cpu|: CUDA's expf is within 2 ulp (glibc's within 1), so
// σ and the decay differ by a few ulp (~3e-7 relative); the rest is float arithmetic in the same
// order. Test: tests/kernels/tst_time_mix_cuda.cpp.
#pragma once

#include "lectern/cuda/cuda_stream.h"
#include "lectern/result.h"

namespace lectern::cuda {

// Device pointers to the block's vectors [C]; the fields and their meaning are those of
// lectern::TimeMixVectors (engine/src/cpu/time_mix.h), which the engine keeps private.
struct TimeMixVectors {
    const float* w0 = nullptr;   // decay bias
    const float* a0 = nullptr;   // learning-rate bias
    const float* v0 = nullptr;   // value-residual bias (unused for RWKV block 0)
    const float* k_k = nullptr;  // removal-key scale
    const float* k_a = nullptr;  // replacement-key scale
};

// In place, every array [T][C] with C = H * N, all distinct:
//   decay: in ŵ, out w;  iclr: in (xa·a1)·a2, out a;  k: in xk·Wk, out k̃;
//   v: first block: copied to v_first unchanged (v_gate and p.v0 unused, may be null);
//      later blocks: v + (v_first − v) ⊙ σ(v0 + v_gate).
// Out: alpha = −κ̂, beta = κ̂ ⊙ a.
Result<void> time_mix_prepare(int T, int H, int N, const TimeMixVectors& p, bool first_block,
                              float* decay, float* iclr, float* k, float* v, const float* v_gate,
                              float* v_first, float* alpha, float* beta,
                              cuda_stream stream = nullptr);

}  // namespace lectern::cuda
