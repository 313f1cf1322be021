// Widen f16/bf16/f32 tensors to float32 on the GPU. Shapes: one flat array of n elements.
// CPU twin: lectern::convert_to_f32 in engine/src/core/dtype.cpp; test: tests/kernels/tst_convert_dtype.cpp.
#include "lectern/cuda/convert_dtype.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_check.cuh"
#include "widen.cuh"

namespace lectern::cuda {
namespace {

template <typename T>
__global__ void widen_kernel(const T* __restrict__ src, float* __restrict__ dst, std::size_t n)
{
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        dst[i] = widen(src[i]);
}

template <typename T>
Result<void> launch(const void* src, float* dst, std::size_t n)
{
    constexpr int threads = 256;
    const std::size_t wanted = (n + threads - 1) / threads;
    const unsigned blocks = unsigned(wanted < 65535 ? wanted : 65535);
    widen_kernel<T><<<blocks, threads>>>(static_cast<const T*>(src), dst, n);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace

Result<void> convert_to_f32(DType from, const void* src, float* dst, std::size_t n)
{
    if (n == 0)
        return {};
    switch (from) {
    case DType::f16: return launch<__half>(src, dst, n);
    case DType::bf16: return launch<__nv_bfloat16>(src, dst, n);
    case DType::f32: return launch<float>(src, dst, n);
    }
    return make_error("convert_to_f32: unknown dtype");
}

}  // namespace lectern::cuda
