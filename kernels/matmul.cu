// Matrix products y = x · Wᵀ on the GPU: a warp-per-row GEMV for decode (T == 1) and cuBLAS
// GemmEx with fp32 accumulation for prefill. CPU twin: lectern::matmul (engine/src/cpu/matmul.h);
// test: tests/kernels/tst_matmul_cuda.cpp.
#include "lectern/cuda/matmul.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <string>
#include <utility>

#include "cuda_check.cuh"
#include "widen.cuh"
#include "lectern/cuda/cublas_api.h"

// Evaluate a cuBLAS call through `api` (a loaded CublasApi*); on failure return an error naming
// it from the enclosing function.
#define LECTERN_CUBLAS_TRY(api, statement)                                                 \
    do {                                                                                   \
        const cublasStatus_t lectern_blas_status_ = (statement);                           \
        if (lectern_blas_status_ != CUBLAS_STATUS_SUCCESS)                                 \
            return ::lectern::make_error(                                                  \
                std::string("cuBLAS error ") + (api)->status_name(lectern_blas_status_) +  \
                " in " + #statement + " at " + __FILE__ + ":" + std::to_string(__LINE__)); \
    } while (0)

namespace lectern::cuda {
namespace {

constexpr int gemv_threads = 256;  // 8 warps, one output row each

// y[r] = sum_c w[r][c] * x[c]; one warp per row, weights widened exactly, fp32 accumulation.
// `vectorised`: rows are 16-byte aligned and a whole number of 16-byte words long.
template <typename W>
__global__ void gemv_kernel(const W* __restrict__ w, const float* __restrict__ x,
                            float* __restrict__ y, int rows, int cols, bool vectorised) {
    const int row_index = int((std::size_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32);
    const int lane = int(threadIdx.x % 32);
    if (row_index >= rows)
        return;  // whole warps leave together: row_index is uniform within a warp
    const W* row = w + std::size_t(row_index) * std::size_t(cols);
    float acc = 0.0f;
    if (vectorised) {
        constexpr int per_word = int(16 / sizeof(W));
        const int words = cols / per_word;
        const uint4* row_words = reinterpret_cast<const uint4*>(row);
        for (int i = lane; i < words; i += 32) {
            const uint4 raw = row_words[i];  // consecutive lanes read consecutive 16-byte words
            W values[per_word];
            static_assert(sizeof(values) == sizeof(raw));
            memcpy(values, &raw, sizeof(raw));
            const float* xs = x + std::size_t(i) * per_word;
#pragma unroll
            for (int j = 0; j < per_word; ++j) acc = fmaf(widen(values[j]), xs[j], acc);
        }
    } else {
        for (int c = lane; c < cols; c += 32) acc = fmaf(widen(row[c]), x[c], acc);
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, offset);
    if (lane == 0) y[row_index] = acc;
}

// dst[i] = src[i] rounded to nearest (even) in the weight dtype.
template <typename W>
__global__ void round_kernel(const float* __restrict__ src, W* __restrict__ dst, std::size_t n) {
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        dst[i] = narrow<W>(src[i]);
}

template <typename W>
Result<void> launch_gemv(const DeviceMatrix& w, const float* x, float* y, cudaStream_t stream) {
    const auto address = reinterpret_cast<std::uintptr_t>(w.data);
    const bool vectorised = address % 16 == 0 && (std::size_t(w.cols) * sizeof(W)) % 16 == 0;
    const unsigned blocks = unsigned((std::size_t(w.rows) * 32 + gemv_threads - 1) / gemv_threads);
    gemv_kernel<W><<<blocks, gemv_threads, 0, stream>>>(static_cast<const W*>(w.data), x, y, w.rows,
                                                        w.cols, vectorised);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

template <typename W>
Result<void> launch_round(const float* x, void* dst, std::size_t n, cudaStream_t stream) {
    constexpr int threads = 256;
    const std::size_t wanted = (n + threads - 1) / threads;
    const unsigned blocks = unsigned(wanted < 4096 ? wanted : 4096);
    round_kernel<W><<<blocks, threads, 0, stream>>>(x, static_cast<W*>(dst), n);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

cudaDataType_t blas_type(DType t) {
    switch (t) {
        case DType::f16:
            return CUDA_R_16F;
        case DType::bf16:
            return CUDA_R_16BF;
        case DType::f32:
            break;
    }
    return CUDA_R_32F;
}

}  // namespace

Result<MatmulContext> MatmulContext::create() {
    auto api = cublas_api();
    if (!api) return api.error();
    MatmulContext context;
    cublasHandle_t handle = nullptr;
    LECTERN_CUBLAS_TRY(*api, (*api)->create(&handle));
    context.m_blas = handle;
    // Default math: fp32 products stay fp32 (no TF32); f16/bf16 inputs use tensor cores with
    // fp32 accumulation as CUBLAS_COMPUTE_32F asks.
    LECTERN_CUBLAS_TRY(*api, (*api)->set_math_mode(handle, CUBLAS_DEFAULT_MATH));
    return Result<MatmulContext>(std::move(context));
}

MatmulContext::MatmulContext(MatmulContext&& other) noexcept
    : m_blas(std::exchange(other.m_blas, nullptr)),
      m_scratch(std::exchange(other.m_scratch, nullptr)),
      m_scratch_elements(std::exchange(other.m_scratch_elements, 0)) {}

MatmulContext& MatmulContext::operator=(MatmulContext&& other) noexcept {
    if (this != &other) {
        release();
        m_blas = std::exchange(other.m_blas, nullptr);
        m_scratch = std::exchange(other.m_scratch, nullptr);
        m_scratch_elements = std::exchange(other.m_scratch_elements, 0);
    }
    return *this;
}

MatmulContext::~MatmulContext() {
    release();
}

void MatmulContext::release() noexcept {
    if (m_scratch) cudaFree(m_scratch);
    // A handle exists only if cublas_api() succeeded, so the table is there.
    if (m_blas) (*cublas_api())->destroy(static_cast<cublasHandle_t>(m_blas));
    m_scratch = nullptr;
    m_blas = nullptr;
    m_scratch_elements = 0;
}

Result<void> MatmulContext::reserve(std::size_t elements) {
    if (elements <= m_scratch_elements) return {};
    if (m_scratch) {
        // Earlier queued products may still read the old scratch: let them finish first.
        LECTERN_CUDA_TRY(cudaDeviceSynchronize());
        LECTERN_CUDA_TRY(cudaFree(m_scratch));
        m_scratch = nullptr;
        m_scratch_elements = 0;
    }
    LECTERN_CUDA_TRY(cudaMalloc(&m_scratch, elements * sizeof(std::uint16_t)));
    m_scratch_elements = elements;
    return {};
}

Result<void> matmul(MatmulContext& context, const float* x, int T, const DeviceMatrix& w, float* y,
                    cuda_stream stream) {
    return matmul(context, MatmulInput{x, DType::f32}, T, w, y, stream);
}

namespace {

// y = x · Wᵀ + beta * y over T > 1 rows through cuBLAS (beta 0 or 1); w.cols > 0, w.rows > 0.
Result<void> gemm(MatmulContext& context, MatmulInput input, int T, const DeviceMatrix& w,
                  float* y, float beta, cudaStream_t s) {
    const auto* x = static_cast<const float*>(input.data);  // read only when float32
    // Row-major y [T][rows] is column-major rows x T; row-major W [rows][cols] read as
    // column-major is Wᵀ (cols x rows, ld = cols), so y = op_T(W) · x with x column-major cols x T.
    const void* b = input.data;
    if (w.dtype != DType::f32 && input.dtype == DType::f32) {
        const std::size_t n = std::size_t(T) * std::size_t(w.cols);
        if (auto r = context.reserve(n); !r) return r;
        auto rounded = w.dtype == DType::bf16
                           ? launch_round<__nv_bfloat16>(x, context.scratch(), n, s)
                           : launch_round<__half>(x, context.scratch(), n, s);
        if (!rounded) return rounded;
        b = context.scratch();
    }
    const CublasApi* api = *cublas_api();  // loaded: the context has a handle
    auto handle = static_cast<cublasHandle_t>(context.blas_handle());
    LECTERN_CUBLAS_TRY(api, api->set_stream(handle, s));
    const float alpha = 1.0f;
    const cudaDataType_t type = blas_type(w.dtype);
    LECTERN_CUBLAS_TRY(api, api->gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, w.rows, T, w.cols,
                                         &alpha, w.data, type, w.cols, b, type, w.cols, &beta, y,
                                         CUDA_R_32F, w.rows, CUBLAS_COMPUTE_32F,
                                         CUBLAS_GEMM_DEFAULT));
    return {};
}

Result<void> check_input(MatmulInput input, int T, const DeviceMatrix& w) {
    if (input.dtype != DType::f32 && input.dtype != matmul_input_dtype(w, T))
        return make_error(std::string("cuda::matmul: a ") + std::string(dtype_name(input.dtype)) +
                          " input for " + std::string(dtype_name(w.dtype)) + " weights over " +
                          std::to_string(T) + " rows");
    return {};
}

}  // namespace

Result<void> matmul_accumulate(MatmulContext& context, MatmulInput input, int T,
                               const DeviceMatrix& w, float* y, cuda_stream stream) {
    if (T < 2) return make_error("cuda::matmul_accumulate: T > 1 only (decode: gemv's add)");
    if (auto ok = check_input(input, T, w); !ok) return ok;
    if (w.rows < 0 || w.cols < 0) return make_error("cuda::matmul: negative size");
    if (!context.blas_handle()) return make_error("cuda::matmul: context not created");
    if (w.rows == 0 || w.cols == 0) return {};  // empty sums: y unchanged
    return gemm(context, input, T, w, y, 1.0f, stream);
}

Result<void> matmul(MatmulContext& context, MatmulInput input, int T, const DeviceMatrix& w,
                    float* y, cuda_stream stream) {
    if (auto ok = check_input(input, T, w); !ok) return ok;
    const auto* x = static_cast<const float*>(input.data);  // read only when float32
    if (T < 0 || w.rows < 0 || w.cols < 0) return make_error("cuda::matmul: negative size");
    if (!context.blas_handle()) return make_error("cuda::matmul: context not created");
    if (T == 0 || w.rows == 0) return {};
    const cudaStream_t s = stream;
    if (w.cols == 0) {  // empty sums; cuBLAS may return early without writing y
        LECTERN_CUDA_TRY(cudaMemsetAsync(y, 0, std::size_t(T) * w.rows * sizeof(float), s));
        return {};
    }

    if (T == 1) {
        switch (w.dtype) {
            case DType::f32:
                return launch_gemv<float>(w, x, y, s);
            case DType::f16:
                return launch_gemv<__half>(w, x, y, s);
            case DType::bf16:
                return launch_gemv<__nv_bfloat16>(w, x, y, s);
        }
        return make_error("cuda::matmul: unknown dtype");
    }

    return gemm(context, input, T, w, y, 0.0f, s);
}

}  // namespace lectern::cuda
