// Programmatic dependent launch (Hopper and later), for the decode chain's kernels. A kernel
// launched with the programmatic-serialization attribute (launch_programmatic: gemv.cu on sm_90+,
// LECTERN_CUDA_PDL=0 turns it off; decode_fused.cu under LECTERN_CUDA_PDL_ALL=1) may start while the kernel before it in the stream still runs: it may read only
// what no earlier kernel of the stream writes (weights) until wait_for_prior_grids() returns,
// which is when every earlier kernel has finished and its writes are visible.
// allow_dependent_grids() in a kernel lets the next such kernel start once all of this kernel's
// blocks have called it or exited; it changes when that kernel starts, never what it reads.
// Without the attribute, or before sm_90, both are no-ops (the instructions return at once), and
// so is prefetch_l2 on the emulator.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace lectern::cuda {

// kernel<<<grid, block, shared_bytes, stream>>>(args...) with the programmatic-serialization
// attribute (the host side of the above): the launch's own error, cudaSuccess when queued.
template <typename... P, typename... A>
cudaError_t launch_programmatic(void (*kernel)(P...), dim3 grid, dim3 block,
                                std::size_t shared_bytes, cudaStream_t stream, A... args) {
    cudaLaunchAttribute attribute[1];
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
    // By position (grid, block, shared bytes, stream, attributes, count): the emulator's version
    // cannot name gridDim and blockDim.
    const cudaLaunchConfig_t config{grid, block, shared_bytes, stream, attribute, 1};
    return cudaLaunchKernelEx(&config, kernel, args...);
}

__device__ inline void wait_for_prior_grids() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ inline void allow_dependent_grids() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Asks L2 for the 128-byte line holding p (no register written, nothing waited for).
__device__ inline void prefetch_l2(const void* p) {
#if defined(__CUDA_ARCH__)
    asm volatile("prefetch.global.L2 [%0];" ::"l"(__cvta_generic_to_global(p)));
#else
    (void)p;
#endif
}

}  // namespace lectern::cuda
