// cuBLAS loaded at run time (dlopen / LoadLibrary) instead of linked: a binary built with CUDA
// then has no load-time dependency on cuBLAS, so it starts (and runs the CPU backend) on machines
// without it, and its packages need not depend on a library no distribution ships. The CUDA
// backend asks for the table once and reports a clear error when cuBLAS cannot be found.
#pragma once

#include <cublas_v2.h>

#include <string>

#include "lectern/result.h"

namespace lectern::cuda {

// The cuBLAS entry points Lectern uses (the _v2 ABI names behind cublas_v2.h's macros).
struct CublasApi {
    cublasStatus_t (*create)(cublasHandle_t*);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t);
    cublasStatus_t (*saxpy)(cublasHandle_t, int, const float*, const float*, int, float*, int);
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void*, const void*, cudaDataType, int, const void*,
                              cudaDataType, int, const void*, void*, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t);
    const char* (*status_name)(cublasStatus_t);
    std::string library;  // the file that was loaded
};

// Loads cuBLAS on first use (thread-safe; the result, success or error, is kept for the process)
// from the loader's search path, then beside the executable, then the CUDA toolkit this was built
// with. The error names every place tried.
Result<const CublasApi*> cublas_api();

}  // namespace lectern::cuda
