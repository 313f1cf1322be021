// Packed KV rows widened on the GPU (see lectern/cuda/kv_widen.h). CPU twin:
// engine/src/attention/kv_packed_rows.cpp; test: tests/kernels/tst_kv_widen_cuda.cpp.
#include "lectern/cuda/kv_widen.h"

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cuda_check.cuh"

namespace lectern::cuda {
namespace {

constexpr int kHeadDim = 64;
constexpr int kThreads = 256;

// Element e of head blockIdx.y / 2's keys (blockIdx.y even) or values (odd): row e / 64, column
// e % 64. Reads and writes are coalesced along the 64 columns.
template <typename E>
__global__ void widen_kernel(const E* packed, const float* scales, int rows, std::size_t stride,
                             float* keys, float* values) {
    const std::size_t slice = std::size_t(rows) * kHeadDim;
    const std::size_t e = std::size_t(blockIdx.x) * kThreads + threadIdx.x;
    if (e >= slice) return;
    const int h = int(blockIdx.y) / 2, kv = int(blockIdx.y) % 2;
    const E x = packed[std::size_t(blockIdx.y) * slice + e];
    float y;
    if constexpr (std::is_same_v<E, float>) {
        y = x;
    } else if constexpr (std::is_same_v<E, __half>) {
        y = __half2float(x);
    } else {
        y = __fmul_rn(float(x), scales[2 * h + kv]);  // as kv_load_row: float(q) * scale
    }
    float* out = kv == 0 ? keys : values;
    out[(e / kHeadDim) * stride + std::size_t(h) * kHeadDim + e % kHeadDim] = y;
}

template <typename E>
void launch(const void* packed, int heads, int rows, std::size_t stride, float* keys,
            float* values, cuda_stream stream) {
    const std::size_t slice = std::size_t(rows) * kHeadDim;
    const E* elements = static_cast<const E*>(packed);
    const float* scales =
        reinterpret_cast<const float*>(elements + std::size_t(heads) * 2 * slice);
    const dim3 grid(unsigned((slice + kThreads - 1) / kThreads), unsigned(heads) * 2);
    widen_kernel<E><<<grid, kThreads, 0, stream>>>(elements, scales, rows, stride, keys, values);
}

}  // namespace

Result<void> kv_widen_rows(KvDType dtype, int heads, int rows, const void* packed,
                           std::size_t stride, float* keys, float* values, cuda_stream stream) {
    if (heads < 0 || rows < 0 || stride < std::size_t(heads) * kHeadDim)
        return make_error("kv_widen_rows: bad shape");
    if (heads == 0 || rows == 0) return {};
    switch (dtype) {
        case KvDType::f32:
            launch<float>(packed, heads, rows, stride, keys, values, stream);
            break;
        case KvDType::f16:
            launch<__half>(packed, heads, rows, stride, keys, values, stream);
            break;
        case KvDType::int8:
            launch<std::int8_t>(packed, heads, rows, stride, keys, values, stream);
            break;
    }
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
