// LoRA inner activations and ReLU² on the GPU (see lectern/cuda/activations.h). CPU twins:
// engine/src/cpu/lora.cpp, engine/src/cpu/channel_mix.cpp; test: tests/kernels/tst_activations_cuda.cpp.
#include "lectern/cuda/activations.h"

#include <algorithm>
#include <cstdint>

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

// The inner activation as tanh_kernel and sigmoid_kernel compute it.
__device__ inline float lora_activation(LoraInner inner, float x)
{
    if (inner == LoraInner::tanh)
        return tanhf(x);
    if (inner == LoraInner::sigmoid)
        return 1.0f / (1.0f + expf(-x));
    return x;
}

struct LoraParts {
    LoraHidden items[kMaxLoraHiddens];
};

// Part blockIdx.y, grid-stride along x. A constant-memory parameter: the part index is dynamic.
__global__ void lora_inner_n_kernel(const __grid_constant__ LoraParts parts)
{
    const LoraHidden& part = parts.items[blockIdx.y];
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < part.n;
         i += stride)
        store_as(part.out, i, part.out_dtype, lora_activation(part.inner, part.hidden[i]));
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

// Four elements per thread in 16-byte loads and one store (16 bytes, or 8 in a 16-bit dtype); out
// may be x (float32 in place: each thread writes only what it read).
__global__ void relu_square_quad_kernel(const float4* x, std::size_t quads, DType dtype, void* out)
{
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < quads;
         i += stride) {
        const float4 v = x[i];
        const float r[4] = {relu_squared(v.x), relu_squared(v.y), relu_squared(v.z),
                            relu_squared(v.w)};
        store4_as(out, 4 * i, dtype, r);
    }
}

// Whether the quad kernel can take n elements from x into out.
bool quads_fit(const void* x, std::size_t n, DType dtype, const void* out)
{
    return n % 4 == 0 && reinterpret_cast<std::uintptr_t>(x) % 16 == 0 &&
           reinterpret_cast<std::uintptr_t>(out) % (4 * dtype_size(dtype)) == 0;
}

void launch_relu_square_quads(const float* x, std::size_t n, DType dtype, void* out,
                              cudaStream_t stream)
{
    relu_square_quad_kernel<<<flat_blocks(n / 4), kFlatThreads, 0, stream>>>(
        reinterpret_cast<const float4*>(x), n / 4, dtype, out);
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

Result<void> lora_inner_n(const LoraHidden* parts, int count, cuda_stream stream)
{
    if (count < 1 || count > kMaxLoraHiddens)
        return make_error("lora_inner_n: bad part count");
    LoraParts packed{};
    std::size_t most = 0;
    for (int p = 0; p < count; ++p) {
        const LoraHidden& h = parts[p];
        if (h.inner != LoraInner::none && h.inner != LoraInner::tanh &&
            h.inner != LoraInner::sigmoid)
            return make_error("lora_inner_n: unknown activation");
        if (h.out_dtype == DType::f32 && h.out != h.hidden)
            return make_error("lora_inner_n: a float32 part must be in place");
        packed.items[p] = h;
        most = std::max(most, h.n);
    }
    if (most == 0)
        return {};
    const dim3 grid(flat_blocks(most), unsigned(count));
    lora_inner_n_kernel<<<grid, kFlatThreads, 0, stream>>>(packed);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> relu_square(float* x, std::size_t n, cuda_stream stream)
{
    if (n == 0)
        return {};
    if (quads_fit(x, n, DType::f32, x))
        launch_relu_square_quads(x, n, DType::f32, x, stream);
    else
        relu_square_kernel<<<flat_blocks(n), kFlatThreads, 0, stream>>>(x, n);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> relu_square_to(const float* x, std::size_t n, DType dtype, void* out,
                            cuda_stream stream)
{
    if (n == 0)
        return {};
    if (quads_fit(x, n, dtype, out))
        launch_relu_square_quads(x, n, dtype, out, stream);
    else
        relu_square_to_kernel<<<flat_blocks(n), kFlatThreads, 0, stream>>>(x, n, dtype, out);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
