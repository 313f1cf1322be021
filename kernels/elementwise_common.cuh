// Shared by the fused elementwise kernels: grid sizing for flat grid-stride loops, and sums across
// a warp or a block (LayerNorm, GroupNorm, the per-head L2 norm; double where the CPU twin
// accumulates in double).
#pragma once

#include <cstddef>

namespace lectern::cuda {

// Threads per block of the flat elementwise kernels.
constexpr int kFlatThreads = 256;

// Blocks for a grid-stride loop over n elements (n > 0): enough to cover n, capped so that the
// grid stays small; the loop covers the rest.
inline unsigned flat_blocks(std::size_t n)
{
    const std::size_t wanted = (n + kFlatThreads - 1) / kFlatThreads;
    return unsigned(wanted < 65535 ? wanted : 65535);
}

// Sum of v over all 32 lanes; every lane gets the result. Needs the whole warp active.
template <typename T>
__device__ inline T warp_sum(T v)
{
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// Sum of v over the block; every thread gets the result. blockDim.x must be a multiple of 32 and
// at most 1024; every thread of the block must call it (it synchronises). scratch holds 32 Ts.
template <typename T>
__device__ inline T block_sum(T v, T* scratch)
{
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0)
        scratch[warp] = v;
    __syncthreads();
    T total = lane < warps ? scratch[lane] : T(0);
    return warp_sum(total);
}

}  // namespace lectern::cuda
