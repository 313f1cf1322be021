// LoRA inner activations and ReLU² on the GPU (see lectern/cuda/activations.h). CPU twins:
// engine/src/cpu/lora.cpp, engine/src/cpu/channel_mix.cpp; test: tests/kernels/tst_activations_cuda.cpp.
#include "lectern/cuda/activations.h"

#include "cuda_check.cuh"
#include "elementwise_common.cuh"
#include "widen.cuh"

namespace lectern::cuda {
namespace {

__global__ void tanh_kernel(float* x, std::size_t n)
{
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        x[i] = tanhf(x[i]);
}

__global__ void sigmoid_kernel(float* x, std::size_t n)
{
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        x[i] = 1.0f / (1.0f + expf(-x[i]));
}

// The comparison form of the CPU twin: NaN fails it and becomes 0.
__device__ inline float relu_squared(float x)
{
    const float r = x > 0.0f ? x : 0.0f;
    return r * r;
}

__global__ void relu_square_to_kernel(const float* __restrict__ x, std::size_t n, DType dtype,
                                      void* __restrict__ out)
{
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        store_as(out, i, dtype, relu_squared(x[i]));
}

__global__ void relu_square_kernel(float* x, std::size_t n)
{
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        x[i] = relu_squared(x[i]);
    }
}

}  // namespace

Result<void> lora_inner(LoraInner inner, float* hidden, std::size_t n, cuda_stream stream)
{
    if (n == 0 || inner == LoraInner::none)
        return {};
    if (inner == LoraInner::tanh)
        tanh_kernel<<<flat_blocks(n), kFlatThreads, 0, stream>>>(hidden, n);
    else if (inner == LoraInner::sigmoid)
        sigmoid_kernel<<<flat_blocks(n), kFlatThreads, 0, stream>>>(hidden, n);
    else
        return make_error("lora_inner: unknown activation");
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> relu_square(float* x, std::size_t n, cuda_stream stream)
{
    if (n == 0)
        return {};
    relu_square_kernel<<<flat_blocks(n), kFlatThreads, 0, stream>>>(x, n);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> relu_square_to(const float* x, std::size_t n, DType dtype, void* out,
                            cuda_stream stream)
{
    if (n == 0)
        return {};
    relu_square_to_kernel<<<flat_blocks(n), kFlatThreads, 0, stream>>>(x, n, dtype, out);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
