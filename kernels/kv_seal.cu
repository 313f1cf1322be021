// Sealing a complete KV chunk on the GPU (see lectern/cuda/kv_seal.h). CPU twin:
// engine/src/attention/kv_seal.cpp; test: tests/kernels/tst_kv_seal_cuda.cpp.
#include "lectern/cuda/kv_seal.h"

#include <cuda_fp16.h>

#include <cstddef>

#include "cuda_check.cuh"

namespace lectern::cuda {
namespace {

constexpr int kHeadDim = 64;
constexpr int kThreads = 256;
constexpr float kFloatMax = 3.402823466e38f;

__global__ void seal_f16_kernel(float* keys, float* values, int rows, int n_embd,
                                std::size_t stride) {
    const std::size_t per = std::size_t(rows) * std::size_t(n_embd);
    const std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= 2 * per) return;
    float* base = i < per ? keys : values;
    const std::size_t j = i < per ? i : i - per;
    float* x = base + (j / std::size_t(n_embd)) * stride + j % std::size_t(n_embd);
    *x = __half2float(__float2half_rn(*x));
}

// One block per (head, keys | values): the absmax of the head's rows x 64 values, then each
// value quantised and read back, in the CPU twin's float operations.
__global__ void seal_int8_kernel(float* keys, float* values, int rows, std::size_t stride) {
    __shared__ float partial[kThreads];
    float* base = (blockIdx.y == 0 ? keys : values) + std::size_t(blockIdx.x) * kHeadDim;
    const int n = rows * kHeadDim;
    float m = 0.0f;
    for (int i = int(threadIdx.x); i < n; i += kThreads) {
        const float a = fabsf(base[std::size_t(i / kHeadDim) * stride + std::size_t(i % kHeadDim)]);
        m = a > m ? a : m;  // as std::max(m, a): a NaN never wins
    }
    partial[threadIdx.x] = m;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
        if (int(threadIdx.x) < half) {
            const float other = partial[threadIdx.x + half];
            if (other > partial[threadIdx.x]) partial[threadIdx.x] = other;
        }
        __syncthreads();
    }
    const float absmax = partial[0];
    const bool zero = !(absmax > 0.0f) || !(absmax <= kFloatMax);  // the CPU's all-zero case
    const float scale = zero ? 0.0f : __fdiv_rn(absmax, 127.0f);
    for (int i = int(threadIdx.x); i < n; i += kThreads) {
        float* x = base + std::size_t(i / kHeadDim) * stride + std::size_t(i % kHeadDim);
        int q = 0;  // an integer, as the CPU's int8: a value that rounds to -0 reads back +0
        if (!zero) {
            const float r = rintf(__fdiv_rn(*x, scale));
            q = int(r < -127.0f ? -127.0f : (r > 127.0f ? 127.0f : r));
        }
        *x = __fmul_rn(float(q), scale);
    }
}

// Thread c: column c's rows added in row order in double, as the CPU twin (so the same bits:
// IEEE double addition and division, then one rounding to float).
__global__ void key_mean_kernel(const float* keys, int rows, int n_embd, std::size_t stride,
                                float* out) {
    const int c = int(blockIdx.x) * blockDim.x + int(threadIdx.x);
    if (c >= n_embd) return;
    double acc = 0.0;
    for (int r = 0; r < rows; ++r) acc += double(keys[std::size_t(r) * stride + std::size_t(c)]);
    out[c] = float(acc / double(rows));
}

}  // namespace

Result<void> kv_sealed_key_mean(int rows, int n_embd, std::size_t stride, const float* keys,
                                float* out, cuda_stream stream) {
    if (rows < 0 || n_embd < 0 || stride < std::size_t(n_embd))
        return make_error("kv_sealed_key_mean: bad shape");
    if (rows == 0 || n_embd == 0) return {};
    constexpr int threads = 128;
    key_mean_kernel<<<unsigned((n_embd + threads - 1) / threads), threads, 0, stream>>>(
        keys, rows, n_embd, stride, out);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> kv_seal_chunk(KvDType dtype, int rows, int n_embd, std::size_t stride, float* keys,
                           float* values, cuda_stream stream) {
    if (rows < 0 || n_embd < 0 || n_embd % kHeadDim != 0 || stride < std::size_t(n_embd))
        return make_error("kv_seal_chunk: bad shape");
    if (dtype == KvDType::f32 || rows == 0 || n_embd == 0) return {};
    if (dtype == KvDType::f16) {
        const std::size_t n = 2 * std::size_t(rows) * std::size_t(n_embd);
        const unsigned blocks = unsigned((n + kThreads - 1) / kThreads);
        seal_f16_kernel<<<blocks, kThreads, 0, stream>>>(keys, values, rows, n_embd, stride);
    } else {
        const dim3 grid(unsigned(n_embd / kHeadDim), 2);
        seal_int8_kernel<<<grid, kThreads, 0, stream>>>(keys, values, rows, stride);
    }
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
