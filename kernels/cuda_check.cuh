// Turns a failed CUDA runtime call into a lectern::Error naming the statement, file and line.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "lectern/result.h"

namespace lectern::cuda {

inline Error cuda_error(cudaError_t status, const char* statement, const char* file, int line)
{
    return make_error(std::string("CUDA error ") + cudaGetErrorName(status) + " (" +
                      cudaGetErrorString(status) + ") in " + statement + " at " + file + ":" +
                      std::to_string(line));
}

}  // namespace lectern::cuda

// Evaluate a CUDA runtime call; on failure return the error from the enclosing function.
#define LECTERN_CUDA_TRY(statement)                                                      \
    do {                                                                                 \
        const cudaError_t lectern_status_ = (statement);                                 \
        if (lectern_status_ != cudaSuccess)                                              \
            return ::lectern::cuda::cuda_error(lectern_status_, #statement, __FILE__, __LINE__); \
    } while (0)
