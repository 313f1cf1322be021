// LayerNorm on the GPU (see lectern/cuda/layer_norm.h). CPU twin: engine/src/cpu/layer_norm.cpp;
// test: tests/kernels/tst_layer_norm_cuda.cpp.
#include "lectern/cuda/layer_norm.h"

#include <cstddef>
#include <cstdint>

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

// The same normalisation with each row read once: the row's float4s stay in registers (K per
// thread, C <= 4 * K * kRowThreads) from the sums to the outputs, where the kernel above reads
// the row three times, a float at a time. In place is safe as above: a thread writes only the
// float4s it read.
constexpr int kRowThreads = 128;
constexpr int kMaxQuadsPerThread = 8;  // C <= 4,096

template <int K>
__global__ void __launch_bounds__(kRowThreads)
    layer_norm_row_kernel(const float* x, int C, const float* __restrict__ weight,
                          const float* __restrict__ bias, float eps, float* y)
{
    __shared__ double scratch[32];
    const int quads = C / 4;
    const std::size_t row = std::size_t(blockIdx.x) * std::size_t(C);
    const float4* xr = reinterpret_cast<const float4*>(x + row);
    float4 v[K];  // zeros past the row: never summed or written, but defined
    double sum = 0.0;
#pragma unroll
    for (int i = 0; i < K; ++i) {
        const int q = int(threadIdx.x) + i * kRowThreads;
        v[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (q < quads) {
            v[i] = xr[q];
            sum += v[i].x;
            sum += v[i].y;
            sum += v[i].z;
            sum += v[i].w;
        }
    }
    const double mean = block_sum(sum, scratch) / C;
    double sq = 0.0;
#pragma unroll
    for (int i = 0; i < K; ++i) {
        if (int(threadIdx.x) + i * kRowThreads < quads) {
            const double d[4] = {double(v[i].x) - mean, double(v[i].y) - mean,
                                 double(v[i].z) - mean, double(v[i].w) - mean};
            sq += d[0] * d[0];
            sq += d[1] * d[1];
            sq += d[2] * d[2];
            sq += d[3] * d[3];
        }
    }
    const double inv = 1.0 / sqrt(block_sum(sq, scratch) / C + double(eps));
    const float4* w4 = reinterpret_cast<const float4*>(weight);
    const float4* b4 = reinterpret_cast<const float4*>(bias);
    float4* yr = reinterpret_cast<float4*>(y + row);
#pragma unroll
    for (int i = 0; i < K; ++i) {
        const int q = int(threadIdx.x) + i * kRowThreads;
        if (q < quads) {
            const float4 w = w4[q], b = b4[q];
            // Round the product before the add (no FMA contraction), as the CPU twin does.
            const auto out = [&](float xv, float wv, float bv) {
                return __fadd_rn(__fmul_rn(float((double(xv) - mean) * inv), wv), bv);
            };
            yr[q] = make_float4(out(v[i].x, w.x, b.x), out(v[i].y, w.y, b.y),
                                out(v[i].z, w.z, b.z), out(v[i].w, w.w, b.w));
        }
    }
}

template <int K>
void launch_rows(const float* x, int T, int C, const float* weight, const float* bias, float eps,
                 float* y, cudaStream_t stream)
{
    if constexpr (K <= kMaxQuadsPerThread) {
        if (C / 4 > K * kRowThreads)
            return launch_rows<K + 1>(x, T, C, weight, bias, eps, y, stream);
        const unsigned rows = unsigned(T);
        layer_norm_row_kernel<K><<<rows, kRowThreads, 0, stream>>>(x, C, weight, bias, eps, y);
    }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

Result<void> layer_norm(const float* x, int T, int C, const float* weight, const float* bias,
                        float eps, float* y, cuda_stream stream)
{
    if (T < 0 || C < 0)
        return make_error("layer_norm: negative shape");
    if (T == 0 || C == 0)
        return {};
    if (C % 4 == 0 && C <= 4 * kMaxQuadsPerThread * kRowThreads && aligned16(x) && aligned16(y) &&
        aligned16(weight) && aligned16(bias))
        launch_rows<1>(x, T, C, weight, bias, eps, y, stream);
    else
        layer_norm_kernel<<<unsigned(T), kThreads, 0, stream>>>(x, C, weight, bias, eps, y);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
