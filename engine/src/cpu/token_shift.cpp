// Token shift + lerp of the CPU backend (see token_shift.h).
#include "cpu/token_shift.h"

#include <cstddef>

#include "cpu/target_clones.h"

namespace lectern {

LECTERN_CLONES
void token_shift_mix(const float* __restrict u, const float* __restrict prev, int T, int C,
                     const float* __restrict mix, float* __restrict out) {
    for (int t = 0; t < T; ++t) {
        const float* ut = u + std::size_t(t) * C;
        const float* pt = t == 0 ? prev : ut - C;
        float* ot = out + std::size_t(t) * C;
        // Same association as the reference: x + (prev - x) * mix.
        for (int c = 0; c < C; ++c) ot[c] = ut[c] + (pt[c] - ut[c]) * mix[c];
    }
}

}  // namespace lectern
