// GroupNorm + bonus + gate on the GPU (see lectern/cuda/group_norm.h). CPU twin:
// engine/src/cpu/group_norm.cpp; test: tests/kernels/tst_group_norm_cuda.cpp.
#include "lectern/cuda/group_norm.h"

#include <cstddef>

#include <cstdint>

#include "cuda_check.cuh"
#include "elementwise_common.cuh"
#include "widen.cuh"

namespace lectern::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// o and a float32 out may be the same array (no __restrict__ on them): each lane writes only the
// elements it read itself, after the warp's reductions have consumed every read. A 16-bit out
// (out_dtype) would write other groups' bytes: the launcher refuses the overlap.
__global__ void group_norm_kernel(std::size_t groups, int H, int N, const float* o,
                                  const float* __restrict__ weight, const float* __restrict__ bias,
                                  float eps, const float* __restrict__ r,
                                  const float* __restrict__ k, const float* __restrict__ v,
                                  const float* __restrict__ r_k, const float* __restrict__ g,
                                  void* out, DType out_dtype)
{
    const std::size_t group = (std::size_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    if (group >= groups)
        return;  // the whole warp leaves together, so the shuffles below see full warps
    const int lane = threadIdx.x & 31;
    const int h = int(group % std::size_t(H));
    const std::size_t base = group * std::size_t(N);  // = t * C + h * N
    const float* oh = o + base;
    const float* rk = r_k + std::size_t(h) * N;

    double sum = 0.0;
    for (int j = lane; j < N; j += 32)
        sum += oh[j];
    const double mean = warp_sum(sum) / N;
    double sq = 0.0;
    double bonus = 0.0;
    for (int j = lane; j < N; j += 32) {
        const double d = double(oh[j]) - mean;
        sq += d * d;
        // The product is rounded to float before widening, as on the CPU.
        bonus += double(r[base + j] * k[base + j] * rk[j]);
    }
    const float inv = float(1.0 / sqrt(warp_sum(sq) / N + double(eps)));
    const float m = float(mean);
    const float bf = float(warp_sum(bonus));
    for (int j = lane; j < N; j += 32) {
        const std::size_t c = std::size_t(h) * N + j;
        // Round every step (no FMA contraction), as the CPU twin's baseline x86-64 build does.
        const float gn = __fadd_rn(__fmul_rn(__fmul_rn(oh[j] - m, inv), weight[c]), bias[c]);
        store_as(out, base + j, out_dtype,
                 __fmul_rn(__fadd_rn(gn, __fmul_rn(bf, v[base + j])), g[base + j]));
    }
}

}  // namespace

Result<void> group_norm_bonus_gate(int T, int H, int N, const float* o, const float* weight,
                                   const float* bias, float eps, const float* r, const float* k,
                                   const float* v, const float* r_k, const float* g, float* out,
                                   cuda_stream stream)
{
    return group_norm_bonus_gate(T, H, N, o, weight, bias, eps, r, k, v, r_k, g, out, DType::f32,
                                 stream);
}

Result<void> group_norm_bonus_gate(int T, int H, int N, const float* o, const float* weight,
                                   const float* bias, float eps, const float* r, const float* k,
                                   const float* v, const float* r_k, const float* g, void* out,
                                   DType out_dtype, cuda_stream stream)
{
    if (T < 0 || H < 0 || N < 0)
        return make_error("group_norm_bonus_gate: negative shape");
    const std::size_t groups = std::size_t(T) * std::size_t(H);
    if (groups == 0 || N == 0)
        return {};
    if (out_dtype != DType::f32) {
        const auto o0 = reinterpret_cast<std::uintptr_t>(o);
        const auto out0 = reinterpret_cast<std::uintptr_t>(out);
        const std::size_t n = groups * std::size_t(N);
        if (out0 < o0 + n * sizeof(float) && o0 < out0 + n * dtype_size(out_dtype))
            return make_error("group_norm_bonus_gate: a 16-bit out overlaps o");
    }
    const std::size_t blocks = (groups + kWarpsPerBlock - 1) / kWarpsPerBlock;
    if (blocks > 0x7fffffffu)
        return make_error("group_norm_bonus_gate: too many rows");
    group_norm_kernel<<<unsigned(blocks), kWarpsPerBlock * 32, 0, stream>>>(
        groups, H, N, o, weight, bias, eps, r, k, v, r_k, g, out, out_dtype);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
