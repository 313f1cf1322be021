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

// A product's input [T][cols] in device memory: float32, or already rounded (to nearest even) to
// the weights' 16-bit dtype by the op that wrote it, which saves the product its rounding pass (a
// read and a write of the whole input, and a launch). Same bits as matmul of the float32 values.
struct MatmulInput {
    const void* data = nullptr;
    DType dtype = DType::f32;
};

// What the op writing x for a product of w over T rows should write: w's dtype where the product
// rounds its input (16-bit weights, T > 1: cuBLAS), float32 otherwise (the GEMV of T == 1 reads
// float32; f32 weights are not rounded).
inline DType matmul_input_dtype(const DeviceMatrix& w, int T) {
    return T > 1 && w.dtype != DType::f32 ? w.dtype : DType::f32;
}

// matmul of an input that may be pre-rounded: x.dtype must be float32 or
// matmul_input_dtype(w, T).
Result<void> matmul(MatmulContext& context, MatmulInput x, int T, const DeviceMatrix& w, float* y,
                    cuda_stream stream);

// y[t][r] += sum_c x[t][c] * w[r][c], T > 1: the residual add of a prefill's output products in
// cuBLAS's epilogue (beta = 1), one rounding of y + the float32 sum, as matmul into a scratch then
// the add (x + out); saves that add's pass over three [T][rows] arrays and its launch. T == 1 is
// refused: the decode GEMVs fuse the add themselves (gemv, GemvEpilogue::add).
Result<void> matmul_accumulate(MatmulContext& context, MatmulInput x, int T, const DeviceMatrix& w,
                               float* y, cuda_stream stream);

// ---- Decode GEMV with epilogues, single and batched (kernels/gemv.cu) ----
// The same product as matmul at T == 1, by a kernel built for bandwidth: each lane keeps several
// independent 16-byte weight loads in flight, x is staged in shared memory when it fits, and an
// epilogue folds the next elementwise op into the store. Every lane sums its words in the same
// order as matmul's T == 1 path and the warp reduction is the same tree, so epilogue `none`
// gives bit-identical y; the epilogues apply the exact functions of activations.cu and of the
// residual add (x + out). Test: tests/kernels/tst_gemv_cuda.cpp.

// What is done with the fp32 dot product acc of row r before the store.
enum class GemvEpilogue {
    none,         // y[r] = acc
    add,          // y[r] = resid[r] + acc (the residual x += out; y may equal resid)
    relu_square,  // y[r] = max(acc, 0)² (NaN becomes 0, as relu_square)
    tanh,         // y[r] = tanhf(acc)             (LoraInner::tanh)
    sigmoid,      // y[r] = 1 / (1 + expf(-acc))   (LoraInner::sigmoid)
};

// Where the kernel reads x from. automatic: shared memory when cols * 4 <= kGemvSharedXBytes
// (no opt-in needed), global (through L1) otherwise; the other two force one (shared fails with
// an error value when x does not fit). For A/B timing and the tests.
enum class GemvX { automatic, shared, global };
inline constexpr int kGemvSharedXBytes = 32 * 1024;

// One product y = W · x of a batch. x [w.cols], y [w.rows], resid [w.rows] (add only), device
// pointers; y must not overlap x, w or another job's inputs.
struct GemvJob {
    DeviceMatrix w;
    const float* x = nullptr;
    float* y = nullptr;
    GemvEpilogue epilogue = GemvEpilogue::none;
    const float* resid = nullptr;
    GemvX x_source = GemvX::automatic;
};

// At most this many jobs per launch (the table is a kernel parameter).
inline constexpr int kMaxGemvJobs = 8;

// One launch computing `count` independent jobs (different matrices, dtypes, inputs, outputs
// and epilogues); jobs with rows == 0 are skipped, cols == 0 gives acc = 0. The weights of a job
// take the vectorised path when the matrix is 16-byte aligned, a row is a whole number of 16-byte
// words and x is staged or 16-byte aligned; otherwise a scalar loop (same order as matmul's).
Result<void> gemv_batched(const GemvJob* jobs, int count, cuda_stream stream);

// gemv_batched with one job.
Result<void> gemv(const GemvJob& job, cuda_stream stream);

// How a launch walks its rows (kernels/gemv.cu): `setting` as LECTERN_CUDA_GEMV says (the default
// walk unless it names a streamed one), or one walk by name: `rows` (the default: each warp its
// rows in turns), `stream4` / `stream8` (each warp's rows one stream of words with 4 / 8 loads
// always in flight, on a grid of the blocks the device holds at once; gemv_stream.cuh). Every walk
// gives the same bits. The named ones are for benchmarks (measure_decode_gemv).
enum class GemvWalk { setting, rows, stream4, stream8 };
Result<void> gemv_batched(const GemvJob* jobs, int count, cuda_stream stream, GemvWalk walk);

}  // namespace lectern::cuda
