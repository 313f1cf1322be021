// Token shift + lerps on the GPU (see lectern/cuda/token_shift.h). CPU twin: token_shift_mix in
// engine/src/cpu/token_shift.cpp; test: tests/kernels/tst_token_shift_cuda.cpp.
#include "lectern/cuda/token_shift.h"

#include <cstddef>

#include "cuda_check.cuh"
#include "elementwise_common.cuh"
#include "widen.cuh"

namespace lectern::cuda {
namespace {

// Passed by value so the kernel needs no device copy of the host array.
struct Lerps {
    TokenShiftLerp items[kMaxTokenShiftLerps];
    int count;
};

__global__ void token_shift_kernel(const float* __restrict__ u, const float* __restrict__ prev,
                                   int C, std::size_t n, Lerps lerps)
{
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        const std::size_t c = i % std::size_t(C);
        const float x = u[i];
        // Row 0 reads the carried state, later rows the row above (i - C).
        const float p = i < std::size_t(C) ? prev[c] : u[i - C];
        // Same association as the CPU twin: x + (p - x) * mix. A fixed trip count keeps the
        // lerp table in registers (a dynamic index would copy it to local memory).
#pragma unroll
        for (int l = 0; l < kMaxTokenShiftLerps; ++l)
            if (l < lerps.count)
                store_as(lerps.items[l].out, i, lerps.items[l].out_dtype,
                         x + (p - x) * lerps.items[l].mix[c]);
    }
}

}  // namespace

Result<void> token_shift_mix_n(const float* u, const float* prev, int T, int C,
                               const TokenShiftLerp* lerps, int count, cuda_stream stream)
{
    if (T < 0 || C < 0 || count < 1 || count > kMaxTokenShiftLerps)
        return make_error("token_shift_mix: bad shape or lerp count");
    const std::size_t n = std::size_t(T) * std::size_t(C);
    if (n == 0)
        return {};
    Lerps packed{};
    for (int l = 0; l < count; ++l)
        packed.items[l] = lerps[l];
    packed.count = count;
    token_shift_kernel<<<flat_blocks(n), kFlatThreads, 0, stream>>>(u, prev, C, n, packed);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> token_shift_mix(const float* u, const float* prev, int T, int C, const float* mix,
                             float* out, cuda_stream stream)
{
    const TokenShiftLerp one{mix, out};
    return token_shift_mix_n(u, prev, T, C, &one, 1, stream);
}

}  // namespace lectern::cuda
