// Token shift with a per-channel lerp (spec §2.2, §2.5): each row is mixed with the previous
// row's value, the first row with the value carried in the state from the previous call.
// Shapes: u, out [T][C]; prev, mix [C]. Test: tests/cpu/tst_time_mix.cpp.
#pragma once

namespace lectern {

// out[t][c] = u[t][c] + (p[t][c] - u[t][c]) * mix[c] with p[0] = prev, p[t] = u[t-1].
// out must not alias u.
void token_shift_mix(const float* u, const float* prev, int T, int C, const float* mix,
                     float* out);

}  // namespace lectern
