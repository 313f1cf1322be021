// Matrix products of the CPU backend: activations are float32, weights stay in their stored dtype
// (f32, f16 or bf16) and are never inflated in memory. Weight layout is PyTorch's nn.Linear layout,
// [out][in] row-major, so y = x · Wᵀ. Test: tests/cpu/tst_matmul.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lectern/dtype.h"

namespace lectern {

class ThreadPool;

// A read-only weight matrix [rows = out][cols = in], row-major, in its stored dtype.
struct Matrix {
    DType dtype = DType::f32;
    int rows = 0;
    int cols = 0;
    const void* data = nullptr;
};

// y[t][r] = sum_c x[t][c] * w[r][c] for t < T (x: [T][w.cols], y: [T][w.rows], float32).
// T == 1 is the bandwidth-bound decode case; T > 1 is prefill. `pool` may be null (serial).
void matmul(const float* x, int T, const Matrix& w, float* y, ThreadPool* pool);

// One product of a matmul_group: y = x · wᵀ with x [T][w.cols], y [T][w.rows].
struct MatmulJob {
    const float* x;
    const Matrix* w;
    float* y;
};

// Independent products over the same T, same results as one matmul each. At T <= 4 (decode)
// they share one pool job over their concatenated rows: a decode layer is a dozen products of
// 0.1-5 MB, and one hand-off per product costs as much as streaming a small matrix.
void matmul_group(const MatmulJob* jobs, std::size_t count, int T, ThreadPool* pool);

// The reference: plain loops in double precision accumulation. Used by tests as the oracle.
void matmul_reference(const float* x, int T, const Matrix& w, float* y);

// Numerics of matmul (all paths): float32 accumulation in an order other than the reference's;
// |y - reference| <= 1e-5 * sum_k |x_k * w_k| (tst_matmul). Results are identical
// whatever the pool size, and weights are widened exactly (bf16/f16 -> f32), never rounded.

// Instruction-set paths of matmul. The best one the CPU supports is chosen once, at first use
// (__builtin_cpu_supports); tests and benchmarks may force another.
enum class MatmulIsa : std::uint8_t {
    scalar,  // portable C++, auto-vectorised by the compiler for the baseline target
    avx2,    // AVX2 + FMA + F16C
    avx512,  // AVX-512 F/BW/VL (fp32 FMA; bf16 weights are widened, never dot-product rounded)
};

const char* matmul_isa_name(MatmulIsa isa);  // "scalar", "avx2", "avx512"
bool matmul_isa_supported(MatmulIsa isa);    // compiled in and supported by this CPU
MatmulIsa matmul_best_isa();
MatmulIsa matmul_isa();  // the path matmul uses now

// Use `isa` from now on, process-wide. Returns false and changes nothing when the CPU lacks it.
// For tests and benchmarks: not to be called while another thread is inside matmul.
bool matmul_force_isa(MatmulIsa isa);

}  // namespace lectern
