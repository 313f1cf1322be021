// Elementwise time-mix preparation on the GPU (see lectern/cuda/time_mix.h). CPU twin:
// engine/src/cpu/time_mix.cpp; test: tests/kernels/tst_time_mix_cuda.cpp.
#include "lectern/cuda/time_mix.h"

#include <cstddef>

#include "cuda_check.cuh"
#include "elementwise_common.cuh"

namespace lectern::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// Same formula as the CPU twin (float; expf, IEEE division: no fast-math in this library).
__device__ inline float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

// Every element is read and then written by the same lane, so the in-place arrays need no
// staging; κ̂ is recomputed from the original k in the second pass before k̃ replaces it.
__global__ void time_mix_kernel(std::size_t groups, int H, int N, TimeMixVectors p,
                                bool first_block, float* decay, float* iclr, float* k, float* v,
                                const float* v_gate, float* v_first, float* alpha, float* beta)
{
    const std::size_t group = (std::size_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    if (group >= groups)
        return;  // the whole warp leaves together, so warp_sum sees full warps
    const int lane = threadIdx.x & 31;
    const int h = int(group % std::size_t(H));
    const std::size_t base = group * std::size_t(N);  // = t * C + h * N
    const int head = h * N;                            // channel of j = 0

    // ‖k ⊙ k_k‖² of the head, in double like the CPU.
    double sq = 0.0;
    for (int j = lane; j < N; j += 32) {
        const float kk = k[base + j] * p.k_k[head + j];
        sq += double(kk) * kk;
    }
    const float norm = fmaxf(float(sqrt(warp_sum(sq))), 1e-12f);

    for (int j = lane; j < N; j += 32) {
        const std::size_t i = base + j;
        const int c = head + j;
        decay[i] = expf(-0.606531f * sigmoid(p.w0[c] + decay[i]));
        const float a = sigmoid(p.a0[c] + iclr[i]);
        iclr[i] = a;
        const float kv = k[i];
        const float kk = (kv * p.k_k[c]) / norm;  // κ̂ from the original k
        beta[i] = kk * a;
        alpha[i] = -kk;
        // Products rounded before the adds (no FMA contraction), as in the CPU twin's build.
        k[i] = kv * __fadd_rn(1.0f, __fmul_rn(a - 1.0f, p.k_a[c]));
        if (first_block) {
            v_first[i] = v[i];
        } else {
            const float vv = v[i];
            v[i] = __fadd_rn(vv, __fmul_rn(v_first[i] - vv, sigmoid(p.v0[c] + v_gate[i])));
        }
    }
}

}  // namespace

Result<void> time_mix_prepare(int T, int H, int N, const TimeMixVectors& p, bool first_block,
                              float* decay, float* iclr, float* k, float* v, const float* v_gate,
                              float* v_first, float* alpha, float* beta, cuda_stream stream)
{
    if (T < 0 || H < 0 || N < 0)
        return make_error("time_mix_prepare: negative shape");
    if (!first_block && (p.v0 == nullptr || v_gate == nullptr))
        return make_error("time_mix_prepare: value residual needs v0 and v_gate");
    const std::size_t groups = std::size_t(T) * std::size_t(H);
    if (groups == 0 || N == 0)
        return {};
    const std::size_t blocks = (groups + kWarpsPerBlock - 1) / kWarpsPerBlock;
    if (blocks > 0x7fffffffu)
        return make_error("time_mix_prepare: too many rows");
    time_mix_kernel<<<unsigned(blocks), kWarpsPerBlock * 32, 0, stream>>>(
        groups, H, N, p, first_block, decay, iclr, k, v, v_gate, v_first, alpha, beta);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace lectern::cuda
