// The RWKV-7 WKV recurrence (spec §2.3), per head h with state S [N][N] (i = value row,
// j = key column), float32, updated in place:
//   sa_i    = Σ_j a_j S[i][j]                         (old state)
//   S[i][j] = S[i][j] w_j + sa_i b_j + v_i k_j
//   y_i     = Σ_j S[i][j] r_j                         (new state)
// with a = α = −κ̂, b = β = κ̂ ⊙ a_iclr, k = k̃, w = decay in (0, 1).
// Shapes: r, w, k, v, a, b, y [T][C] row-major with C = H * N (head h owns channels
// [hN, hN + N)); state [H][N][N]. Test: tests/cpu/tst_wkv7.cpp.
#pragma once

namespace lectern {

class ThreadPool;

// T tokens in order, heads in parallel on `pool` (may be null).
void wkv7_forward(int T, int H, int N, const float* r, const float* w, const float* k,
                  const float* v, const float* a, const float* b, float* state, float* y,
                  ThreadPool* pool);

// One token (the decode step): the same arithmetic as wkv7_forward with T = 1.
void wkv7_step(int H, int N, const float* r, const float* w, const float* k, const float* v,
               const float* a, const float* b, float* state, float* y, ThreadPool* pool);

}  // namespace lectern
