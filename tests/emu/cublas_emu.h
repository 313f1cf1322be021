// A CPU stand-in for <cublas_v2.h> (cuda_to_cpp.py maps it here): the types and constants of the
// cuBLAS calls Lectern makes (lectern/cuda/cublas_api.h's table), nothing else, so code using more
// of cuBLAS fails to compile under the emulator instead of running something unchecked. The table
// itself is filled by cublas_api_emu.cpp with host implementations (in place of cublas_api.cpp,
// which loads the real library).
#pragma once

#include "cuda_emu.h"

#define CUBLAS_VER_MAJOR 12

enum cublasStatus_t {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_NOT_SUPPORTED = 15
};
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasMath_t { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 };
enum cublasComputeType_t { CUBLAS_COMPUTE_32F = 68 };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT = -1 };
enum cudaDataType_t { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 };
using cudaDataType = cudaDataType_t;

struct cublasContext;  // defined by cublas_api_emu.cpp
using cublasHandle_t = cublasContext*;
