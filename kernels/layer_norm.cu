// LayerNorm on the GPU (see lectern/cuda/layer_norm.h). CPU twin: engine/src/cpu/layer_norm.cpp;
// test: tests/kernels/tst_layer_norm_cuda.cpp.
#include "lectern/cuda/layer_norm.h"

#include <cstddef>

#include "cuda_check.cuh"
#include "elementwise_common.cuh"

namespace lectern::cuda {
namespace {

constexpr int kThreads = 256;

// x and y may be the same array: each thread writes only the elements it read, and the last
// reads of the other threads end at the block_sum barrier before the writes start.
__global__ void layer_norm_kernel(const float* x, int C, const float* __restrict__ weight,
                                  const float* __restrict__ bias, float eps, float* y)
{
    __shared__ double scratch[32];
    const std::size_t row = std::size_t(blockIdx.x) * std::size_t(C);
    const float* xr = x + row;
    float* yr = y + row;

    // Two passes in double, as on the CPU: no cancellation of the E[x²] - E[x]² form.
    double sum = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        sum += xr[c];
    const double mean = block_sum(sum, scratch) / C;
    double sq = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const double d = double(xr[c]) - mean;
        sq += d * d;
    }
    const double inv = 1.0 / sqrt(block_sum(sq, scratch) / C + double(eps));
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        // Round the product before the add (no FMA contraction), as the CPU twin does.
        yr[c] = __fadd_rn(__fmul_rn(float((double(xr[c]) - mean) * inv), weight[c]), bias[c]);
}

}  // namespace

Result<void> layer_norm(const float* x, int T, int C, const float* weight, const float* bias,
                        float eps, float* y, cuda_stream stream)
{
    if (T < 0 || C < 0)
        return make_error("layer_norm: negative shape");
    if (T == 0 || C == 0)
        return {};
    layer_norm_kernel<<<unsigned(T), kThreads, 0, stream>>>(x, C, weight, bias, eps, y);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
