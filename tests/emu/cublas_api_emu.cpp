// lectern::cuda::cublas_api() for the CPU emulator: the same table as kernels/cublas_api.cpp
// fills from the real library, pointing at host implementations with cuBLAS's semantics
// (column-major, op(A) m x k, op(B) k x n, leading dimensions, alpha/beta; 16-bit inputs widened
// exactly, float accumulation as CUBLAS_COMPUTE_32F). Each call is issued to the handle's stream,
// so a capture records it like a kernel. Argument errors return CUBLAS_STATUS_INVALID_VALUE, as
// cuBLAS does; types or modes outside the table's use are CUBLAS_STATUS_NOT_SUPPORTED.
#include "lectern/cuda/cublas_api.h"

#include <vector>

#include "cuda_emu_fp16.h"

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace lectern::cuda {
namespace {

cublasStatus_t create(cublasHandle_t* handle) {
    *handle = new cublasContext{};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t destroy(cublasHandle_t handle) {
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t set_stream(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t set_math_mode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t issue(cublasHandle_t handle, std::function<void()> work) {
    return emu::enqueue(handle->stream, std::move(work)) == cudaSuccess
               ? CUBLAS_STATUS_SUCCESS
               : CUBLAS_STATUS_EXECUTION_FAILED;
}

// y += alpha * x; alpha is read now (host pointer mode, cuBLAS's default).
cublasStatus_t saxpy(cublasHandle_t handle, int n, const float* alpha, const float* x, int incx,
                     float* y, int incy) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (n < 0 || incx == 0 || incy == 0) return CUBLAS_STATUS_INVALID_VALUE;
    const float a = *alpha;
    return issue(handle, [=] {
        for (std::ptrdiff_t i = 0; i < n; ++i) y[i * incy] = std::fma(a, x[i * incx], y[i * incy]);
    });
}

float element(const void* p, cudaDataType_t type, std::size_t i) {
    switch (type) {
        case CUDA_R_16F: return __half2float(static_cast<const __half*>(p)[i]);
        case CUDA_R_16BF: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
        case CUDA_R_32F: break;
    }
    return static_cast<const float*>(p)[i];
}

bool known(cudaDataType_t t) { return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF; }

// C = alpha * op(A) * op(B) + beta * C, column-major. Only float output (the table's use).
cublasStatus_t gemm_ex(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b,
                       int m, int n, int k, const void* alpha, const void* A, cudaDataType type_a,
                       int lda, const void* B, cudaDataType type_b, int ldb, const void* beta,
                       void* C, cudaDataType type_c, int ldc, cublasComputeType_t compute,
                       cublasGemmAlgo_t) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!known(type_a) || !known(type_b) || type_c != CUDA_R_32F || compute != CUBLAS_COMPUTE_32F)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (type_a != type_b) return CUBLAS_STATUS_NOT_SUPPORTED;
    const int rows_a = op_a == CUBLAS_OP_N ? m : k, rows_b = op_b == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || lda < std::max(1, rows_a) || ldb < std::max(1, rows_b) ||
        ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
    return issue(handle, [=] {
        // op(A) as m rows of k and op(B) as n columns of k, widened once: the products then walk
        // two contiguous float rows.
        std::vector<float> a_rows(std::size_t(m) * k), b_cols(std::size_t(n) * k);
        for (int i = 0; i < m; ++i)
            for (int p = 0; p < k; ++p)
                a_rows[std::size_t(i) * k + p] =
                    element(A, type_a, op_a == CUBLAS_OP_N ? std::size_t(p) * lda + i
                                                           : std::size_t(i) * lda + p);
        for (int j = 0; j < n; ++j)
            for (int p = 0; p < k; ++p)
                b_cols[std::size_t(j) * k + p] =
                    element(B, type_b, op_b == CUBLAS_OP_N ? std::size_t(j) * ldb + p
                                                           : std::size_t(p) * ldb + j);
        float* c = static_cast<float*>(C);
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) {
                const float* x = &a_rows[std::size_t(i) * k];
                const float* y = &b_cols[std::size_t(j) * k];
                float acc = 0.0f;
                for (int p = 0; p < k; ++p) acc = std::fma(x[p], y[p], acc);
                float& out = c[std::size_t(j) * ldc + i];
                out = b == 0.0f ? a * acc : a * acc + b * out;  // beta 0: C is not read (cuBLAS)
            }
    });
}

const char* status_name(cublasStatus_t s) {
    switch (s) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

}  // namespace

Result<const CublasApi*> cublas_api() {
    static const CublasApi api{create,  destroy,  set_stream, set_math_mode,
                               saxpy,   gemm_ex,  status_name, "cuBLAS (CPU emulator)"};
    return Result<const CublasApi*>(&api);
}

}  // namespace lectern::cuda
