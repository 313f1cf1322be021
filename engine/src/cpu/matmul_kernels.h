// Internal interface between matmul's driver (matmul.cpp: dispatch, blocking, threading) and its
// per-instruction-set kernels (matmul_scalar.cpp, matmul_avx2.cpp, matmul_avx512.cpp).
//
// This header declares plain data and function pointers only, no inline functions: the AVX2 and
// AVX-512 translation units are compiled with -mavx2/-mavx512f, and an inline function emitted
// there could be the copy the linker keeps for the whole program, which would then crash on a
// CPU without those instructions. For the same reason those files include no standard headers
// beyond <cstddef>/<cstdint>.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lectern::matmul_detail {

// Weight element types, as indices into the per-dtype kernel tables (same order as DType).
enum WeightType : int { w_f32 = 0, w_f16 = 1, w_bf16 = 2, weight_type_count = 3 };

// Prefill blocking. Tokens are processed in blocks of at most `token_block`, transposed into
// xT[k][t] with a row stride `ldx` (nt rounded up to `token_pad`, zero-filled); K is walked in
// blocks of `k_block` so one block of xT (k_block x ldx floats, 256 KiB) stays in L2 while
// every row of the weight matrix passes over it.
inline constexpr std::size_t token_block = 256;
inline constexpr std::size_t token_pad = 16;
inline constexpr std::size_t k_block = 256;
// Up to this many tokens take the dot-product path (no transposition, weights converted on the
// fly); more take the prefill path.
inline constexpr int small_t_max = 4;

// y[t * ldy + r] = sum_k x[t * K + k] * w[r][k] for t < nt (1 <= nt <= small_t_max) and r in
// [r0, r1). w is the whole stored matrix [rows][K].
using DotRowsFn = void (*)(const float* x, std::size_t nt, const void* w, std::size_t K,
                           float* y, std::size_t ldy, std::size_t r0, std::size_t r1);

// y[t * ldy + r] = sum_k xT[k * ldx + t] * w[r][k] for t < nt (nt <= token_block, ldx =
// nt rounded up to token_pad) and r in [r0, r1). Weight tiles are converted to float32 once per
// call and reused for every token of the block.
using PanelRowsFn = void (*)(const float* xT, std::size_t ldx, std::size_t nt, const void* w,
                             std::size_t K, float* y, std::size_t ldy, std::size_t r0,
                             std::size_t r1);

struct MatmulKernels {
    const char* name;
    DotRowsFn dot_rows[weight_type_count];
    PanelRowsFn panel_rows[weight_type_count];
};

extern const MatmulKernels scalar_kernels;
#if defined(LECTERN_MATMUL_X86)
extern const MatmulKernels avx2_kernels;
extern const MatmulKernels avx512_kernels;
#endif

}  // namespace lectern::matmul_detail
