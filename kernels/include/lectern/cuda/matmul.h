// GPU twin of lectern::matmul (engine/src/cpu/matmul.h): y = x · Wᵀ with float32 activations and
// weights [out][in] row-major in f32, f16 or bf16. Pointers are device pointers; work is queued on
// `stream` and is not waited for. Checked by tests/kernels/tst_matmul_cuda.cpp.
//
// Numerics: always float32 accumulation.
// - T == 1 (decode): a warp-per-row GEMV reads the weights in their stored dtype, widens them
//   exactly and multiplies the float32 x: same error as the CPU matmul (fp32 sums, other order).
// - T > 1 (prefill): cuBLAS GemmEx with CUBLAS_COMPUTE_32F. For f16/bf16 weights x is first
//   rounded (to nearest even) to the weight dtype on the GPU, so |y - exact| <= u * sum|x_k w_k|
//   plus fp32 summation error, u = 2^-8 (bf16) or 2^-11 (f16). f32 weights: plain fp32 SGEMM
//   (no TF32: the handle keeps CUBLAS_DEFAULT_MATH).
#pragma once

#include <cstddef>

#include "lectern/cuda/cuda_stream.h"
#include "lectern/dtype.h"
#include "lectern/result.h"

namespace lectern::cuda {

// A read-only weight matrix in device memory, [rows = out][cols = in], row-major.
struct DeviceMatrix {
    DType dtype = DType::f32;
    int rows = 0;
    int cols = 0;
    const void* data = nullptr;
};

// The cuBLAS handle and the scratch for rounded activations; create once, use from one host
// thread at a time. Owns its resources (RAII); move-only.
class MatmulContext {
  public:
    static Result<MatmulContext> create();

    MatmulContext() = default;
    MatmulContext(MatmulContext&& other) noexcept;
    MatmulContext& operator=(MatmulContext&& other) noexcept;
    MatmulContext(const MatmulContext&) = delete;
    MatmulContext& operator=(const MatmulContext&) = delete;
    ~MatmulContext();

    // Grow the activation scratch to hold `elements` 16-bit values now, so that later calls do not
    // allocate (allocation synchronises the device and cannot happen inside a CUDA graph capture).
    Result<void> reserve(std::size_t elements);

    void* blas_handle() const { return m_blas; }  // cublasHandle_t
    void* scratch() const { return m_scratch; }

  private:
    void release() noexcept;

    void* m_blas = nullptr;
    void* m_scratch = nullptr;
    std::size_t m_scratch_elements = 0;
};

// y[t][r] = sum_c x[t][c] * w[r][c] for t < T (x: [T][w.cols], y: [T][w.rows], float32, device).
Result<void> matmul(MatmulContext& context, const float* x, int T, const DeviceMatrix& w, float* y,
                    cuda_stream stream);

}  // namespace lectern::cuda
