// Kernels for tst_emu_schedule, written as CUDA and rewritten by cuda_to_cpp.py like kernels/ (so
// its static __shared__ rewrite is what is tested). Races here are deliberate: see
// emu_schedule_probe.h. Never built for a GPU.
#include <cuda_runtime.h>

#include "emu_schedule_probe.h"

namespace {

__global__ void read_lower_warp_kernel(float* out) {
    __shared__ float v[64];
    const int t = int(threadIdx.x);
    v[t] = float(t + 1);
    out[t] = t >= 32 ? v[t - 32] : v[t];
}

__global__ void read_higher_lane_kernel(float* out) {
    __shared__ float v[32];
    const int t = int(threadIdx.x);
    v[t] = float(t + 1);
    out[t] = t < 31 ? v[t + 1] : v[t];
}

__global__ void read_after_barrier_kernel(float* out) {
    __shared__ float v[64];
    const int t = int(threadIdx.x);
    v[t] = float(t + 1);
    __syncthreads();
    out[t] = v[63 - t];
}

__global__ void read_unwritten_kernel(float* out, int written) {
    __shared__ float s[64];
    const int t = int(threadIdx.x);
    if (blockIdx.x == 0 && t < written) s[t] = float(t + 1);
    __syncthreads();
    out[64 * blockIdx.x + t] = s[t];
}

__global__ void record_block_order_kernel(int* order, int* counter) {
    order[blockIdx.x] = (*counter)++;  // one thread per block; blocks run one at a time here
}

__global__ void __launch_bounds__(64) bounded_kernel(float* out) {
    out[threadIdx.x] = float(threadIdx.x + 1);
}

__global__ void doubled_kernel(const float* __restrict__ in, float* out) {
    out[threadIdx.x] = 2.0f * in[threadIdx.x];
}

}  // namespace

namespace emu_probe {

void read_lower_warp(float* out) { read_lower_warp_kernel<<<1, 64>>>(out); }
void read_higher_lane(float* out) { read_higher_lane_kernel<<<1, 32>>>(out); }
void read_after_barrier(float* out) { read_after_barrier_kernel<<<1, 64>>>(out); }
void read_unwritten(float* out, int written) { read_unwritten_kernel<<<2, 64>>>(out, written); }
void record_block_order(int* order, int blocks) {
    int counter = 0;
    record_block_order_kernel<<<blocks, 1>>>(order, &counter);
}
void bounded_to_64(float* out, int threads) { bounded_kernel<<<1, threads>>>(out); }
void doubled(const float* in, float* out) { doubled_kernel<<<1, 32>>>(in, out); }

}  // namespace emu_probe
