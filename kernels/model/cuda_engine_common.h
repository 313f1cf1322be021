// What the files of the CUDA forward pass share: the normalisation constants of the model (the
// CPU engine's, spec §2.1 and §2.4) and the early return on an error value.
#pragma once

namespace lectern::cuda {

inline constexpr float kLayerNormEps = 1e-5f;
inline constexpr float kGroupNormEps = 64e-5f;

}  // namespace lectern::cuda

// Evaluate a Result<...> expression; on error return its error from the enclosing function.
#define LECTERN_TRY(expr)                             \
    do {                                              \
        if (auto _r = (expr); !_r) return _r.error(); \
    } while (0)
