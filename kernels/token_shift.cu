// Token shift + lerps on the GPU (see lectern/cuda/token_shift.h). CPU twin: token_shift_mix in
// engine/src/cpu/token_shift.cpp; test: tests/kernels/tst_token_shift_cuda.cpp.
#include "lectern/cuda/token_shift.h"

#include <cstddef>
#include <cstdint>

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

// Four consecutive channels of one row per thread, rows along the grid's y: no thread divides by
// C (the flat kernel's 64-bit `i % C` per element costs more instructions than the element's
// memory work), and u, the row above, each mix and each output move in 16-byte (8-byte for a
// 16-bit output) accesses. The same arithmetic per element as the flat kernel.
__global__ void token_shift_quad_kernel(const float* __restrict__ u,
                                        const float* __restrict__ prev, int T, int C, Lerps lerps)
{
    const int q = int(blockIdx.x * blockDim.x + threadIdx.x);
    if (4 * q >= C)
        return;
    for (int t = int(blockIdx.y); t < T; t += int(gridDim.y)) {
        const std::size_t at = std::size_t(t) * std::size_t(C) + 4 * std::size_t(q);
        const float4 x = *reinterpret_cast<const float4*>(u + at);
        const float4 p = *reinterpret_cast<const float4*>(t == 0 ? prev + 4 * q : u + at - C);
#pragma unroll
        for (int l = 0; l < kMaxTokenShiftLerps; ++l) {
            if (l < lerps.count) {
                const float4 m = *reinterpret_cast<const float4*>(lerps.items[l].mix + 4 * q);
                const float v[4] = {x.x + (p.x - x.x) * m.x, x.y + (p.y - x.y) * m.y,
                                    x.z + (p.z - x.z) * m.z, x.w + (p.w - x.w) * m.w};
                store4_as(lerps.items[l].out, at, lerps.items[l].out_dtype, v);
            }
        }
    }
}

// Whether every array allows the quad kernel's accesses: C a multiple of 4, u, prev and the
// mixes 16-byte aligned, each output aligned to 4 of its elements.
bool quads_fit(const float* u, const float* prev, int C, const Lerps& lerps)
{
    const auto aligned = [](const void* p, std::size_t to) {
        return reinterpret_cast<std::uintptr_t>(p) % to == 0;
    };
    if (C % 4 != 0 || !aligned(u, 16) || !aligned(prev, 16))
        return false;
    for (int l = 0; l < lerps.count; ++l)
        if (!aligned(lerps.items[l].mix, 16) ||
            !aligned(lerps.items[l].out, 4 * dtype_size(lerps.items[l].out_dtype)))
            return false;
    return true;
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
    if (quads_fit(u, prev, C, packed)) {
        // 128 threads: C = 2560 is 640 quads, five whole blocks per row.
        constexpr unsigned threads = 128;
        const unsigned quads = unsigned(C / 4);
        const dim3 grid((quads + threads - 1) / threads, unsigned(T < 65535 ? T : 65535));
        token_shift_quad_kernel<<<grid, threads, 0, stream>>>(u, prev, T, C, packed);
    } else {
        token_shift_kernel<<<flat_blocks(n), kFlatThreads, 0, stream>>>(u, prev, C, n, packed);
    }
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
