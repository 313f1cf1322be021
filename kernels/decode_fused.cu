// Fused one-token kernels of the RWKV-7 decode (see lectern/cuda/decode_fused.h). CPU twins:
// engine/src/cpu/layer_norm.cpp + token_shift.cpp, and time_mix.cpp + wkv7.cpp + group_norm.cpp;
// test: tests/kernels/tst_decode_fused_cuda.cpp. The formulas are copied from layer_norm.cu,
// token_shift.cu, time_mix.cu, wkv7.cu and group_norm.cu, reduction orders included; a change
// there must be made here too (the test compares both against the same CPU twins).
#include "lectern/cuda/decode_fused.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cuda_check.cuh"
#include "grid_dependency.cuh"
#include "wkv7_state_row.cuh"
#include "elementwise_common.cuh"

namespace lectern::cuda {
namespace {

// layer_norm.cu's block size: its block_sum order, hence bit-equal statistics.
constexpr int kLnThreads = 256;
constexpr int kMaxHeadSize = 1024;

struct Lerps {
    TokenShiftLerp items[kMaxTokenShiftLerps];
    int count;
};

// Every block computes the whole row's statistics (the same block_sum, so the same bits in every
// block; C floats from L2 are cheap) and then writes its own slice of the elements: at C = 2560 ten
// blocks, where one block left most of the token's ~20 us to its lerp loop. x and u_out may be the
// same array only with one block (layer_norm_shift_mix decides): each thread writes only elements
// it read itself, and the other threads' reads of them ended at the block_sum barriers (as in
// layer_norm_kernel), which other blocks do not wait for.
// Latency, not work, sets this kernel's time (6.9 us per call at C = 2560 on an H200, 64 calls per
// token at 2.9B): so a thread loads its first output element's inputs (x, shift, weight, bias,
// mixes) before the reductions, whose barriers then hide those loads, and keeps its share of the
// row in registers between the two passes instead of reading it again. Same operations in the
// same order as before: the same bits.
constexpr int kLnKept = 16;  // row values a thread keeps: C up to 4096 at 256 threads

// What output element c needs besides the statistics.
struct LnShiftInputs {
    float x = 0.0f, shift = 0.0f, weight = 0.0f, bias = 0.0f;
    float mix[kMaxTokenShiftLerps] = {};
};

__device__ inline LnShiftInputs load_ln_shift_inputs(const float* x, const float* shift,
                                                     const float* weight, const float* bias,
                                                     const Lerps& lerps, int c) {
    LnShiftInputs in;
    in.x = x[c];
    in.shift = shift[c];
    in.weight = weight[c];
    in.bias = bias[c];
#pragma unroll
    for (int l = 0; l < kMaxTokenShiftLerps; ++l)
        if (l < lerps.count) in.mix[l] = lerps.items[l].mix[c];
    return in;
}

__global__ void __launch_bounds__(kLnThreads)
    layer_norm_shift_kernel(const float* x, int C, const float* __restrict__ weight,
                            const float* __restrict__ bias, float eps, float* __restrict__ shift,
                            Lerps lerps, float* u_out) {
    __shared__ double scratch[32];
    allow_dependent_grids();  // the GEMV reading the lerps may start (it waits for them)
    // Launched with programmatic dependent launch (LECTERN_CUDA_PDL_ALL=1): everything below
    // reads what earlier kernels wrote. Otherwise this returns at once.
    wait_for_prior_grids();
    const int stride = int(gridDim.x * blockDim.x);
    const int first = int(blockIdx.x * blockDim.x + threadIdx.x);  // this thread's first output
    LnShiftInputs own;
    if (first < C) own = load_ln_shift_inputs(x, shift, weight, bias, lerps, first);
    float kept[kLnKept];
#pragma unroll
    for (int i = 0; i < kLnKept; ++i) {
        const int c = int(threadIdx.x) + i * int(blockDim.x);
        kept[i] = c < C ? x[c] : 0.0f;
    }
    double sum = 0.0;
#pragma unroll
    for (int i = 0; i < kLnKept; ++i)
        if (int(threadIdx.x) + i * int(blockDim.x) < C) sum += kept[i];
    for (int c = int(threadIdx.x) + kLnKept * int(blockDim.x); c < C; c += blockDim.x) sum += x[c];
    const double mean = block_sum(sum, scratch) / C;
    double sq = 0.0;
#pragma unroll
    for (int i = 0; i < kLnKept; ++i)
        if (int(threadIdx.x) + i * int(blockDim.x) < C) {
            const double d = double(kept[i]) - mean;
            sq += d * d;
        }
    for (int c = int(threadIdx.x) + kLnKept * int(blockDim.x); c < C; c += blockDim.x) {
        const double d = double(x[c]) - mean;
        sq += d * d;
    }
    const double inv = 1.0 / sqrt(block_sum(sq, scratch) / C + double(eps));
    for (int c = first; c < C; c += stride) {
        // Every load before any store: the outputs may alias nothing, but the compiler cannot
        // know that, and a load after each store would cost a memory latency per lerp. Elements
        // after the first: only with one block for the row (in place), or C > its threads.
        const LnShiftInputs in =
            c == first ? own : load_ln_shift_inputs(x, shift, weight, bias, lerps, c);
        const float p = in.shift;
        const float* mix = in.mix;
        const float xn = float((double(in.x) - mean) * inv);
        const float u = __fadd_rn(__fmul_rn(xn, in.weight), in.bias);
        // token_shift_kernel's expression; fixed trip count keeps the table in registers.
#pragma unroll
        for (int l = 0; l < kMaxTokenShiftLerps; ++l)
            if (l < lerps.count) static_cast<float*>(lerps.items[l].out)[c] = u + (p - u) * mix[l];
        shift[c] = u;  // read above by this thread only: no race
        if (u_out) u_out[c] = u;
    }
}

__device__ inline float sigmoid(float z) {
    return 1.0f / (1.0f + expf(-z));
}

// Warp 0 of a head's block (all 32 lanes): the L2 norm of k ⊙ k_k (oo[0..N)) into stats[0].
// Lanes stride by 32 as in the one-warp-per-head kernel of time_mix.cu, so the sum is added in
// its order.
__device__ inline void head_key_norm(const float* oo, int N, int lane, float* stats) {
    double sq = 0.0;
    for (int j = lane; j < N; j += 32) {
        const float x = oo[j];
        sq += double(x) * x;
    }
    const float norm = fmaxf(float(sqrt(warp_sum(sq))), 1e-12f);
    if (lane == 0) stats[0] = norm;
}

// Warp 0 of a head's block: group_norm_kernel's statistics of the WKV read-out oo[0..N) (mean,
// 1/std) and the bonus sum(r k r_k) into stats[1..3], in group_norm.cu's order.
__device__ inline void head_norm_stats(const float* oo, const float* rr, const float* kk,
                                       const float* r_k, int N, float eps, int lane,
                                       float* stats) {
    double sum = 0.0;
    for (int j = lane; j < N; j += 32) sum += oo[j];
    const double mean = warp_sum(sum) / N;
    double sq = 0.0;
    double bonus = 0.0;
    for (int j = lane; j < N; j += 32) {
        const double d = double(oo[j]) - mean;
        sq += d * d;
        bonus += double(rr[j] * kk[j] * r_k[j]);
    }
    const float inv = float(1.0 / sqrt(warp_sum(sq) / N + double(eps)));
    const float bf = float(warp_sum(bonus));
    if (lane == 0) {
        stats[1] = float(mean);
        stats[2] = inv;
        stats[3] = bf;
    }
}

// One channel's output from head_norm_stats' stats: GroupNorm of the read-out o, plus the bonus
// times the channel's value v, times the gate g (group_norm_kernel's expression).
__device__ inline float gated_output(float o, float v, float weight, float bias, float g,
                                     const float* stats) {
    const float m = stats[1], inv = stats[2], bf = stats[3];
    const float normed = __fadd_rn(__fmul_rn(__fmul_rn(o - m, inv), weight), bias);
    return __fmul_rn(__fadd_rn(normed, __fmul_rn(bf, v)), g);
}

// One block per head, blockDim = N rounded up to 32 (threads i >= N only help with barriers).
// The per-head reductions are done by warp 0 over shared copies, lanes striding by 32 as in the
// one-warp-per-head kernels of time_mix.cu and group_norm.cu, so the sums are added in their
// order. Every __syncthreads() is reached by all threads (no early return).
template <int NC>
__global__ void __launch_bounds__(NC ? (NC + 31) / 32 * 32 : kMaxHeadSize)
    time_mix_wkv7_kernel(int n_runtime, TimeMixVectors p, bool first_block, TimeMixStepInputs in,
                         float* v_first, float* state, GroupNormVectors gn, float eps,
                         float* __restrict__ out) {
    allow_dependent_grids();  // the output GEMV may start (it waits for this kernel's results)
    wait_for_prior_grids();   // as in layer_norm_shift_kernel
    const int N = NC ? NC : n_runtime;
    const int i = threadIdx.x;
    const int lane = i & 31;
    const bool active = i < N;
    const std::size_t c = std::size_t(blockIdx.x) * N + i;  // this thread's channel
    const std::size_t head = std::size_t(blockIdx.x) * N;   // channel of j = 0

    extern __shared__ float4 smem4[];
    float* const rr = reinterpret_cast<float*>(smem4);
    float* const ww = rr + N;
    float* const kk = rr + 2 * N;
    float* const aa = rr + 3 * N;
    float* const bb = rr + 4 * N;
    float* const oo = rr + 5 * N;  // first k ⊙ k_k (for the norm), later the WKV read-out
    __shared__ float stats[4];     // norm, mean, 1/std, bonus

    // The state row is loaded first so that its latency overlaps the time mix.
    StateRow<NC> s;
    if (active) s.load(state + (std::size_t(blockIdx.x) * N + i) * N);
    const float kv = active ? in.k[c] : 0.0f;
    if (active) oo[i] = kv * p.k_k[c];
    __syncthreads();
    if (i < 32) head_key_norm(oo, N, lane, stats);  // warp 0 is whole: blockDim >= 32
    __syncthreads();

    float vi = 0.0f;  // the (residual-mixed) value of this thread's row
    if (active) {
        const float norm = stats[0];
        const float a = sigmoid(p.a0[c] + in.iclr[c]);
        const float kh = (kv * p.k_k[c]) / norm;  // κ̂
        rr[i] = in.r[c];
        ww[i] = expf(-0.606531f * sigmoid(p.w0[c] + in.decay[c]));
        kk[i] = kv * __fadd_rn(1.0f, __fmul_rn(a - 1.0f, p.k_a[c]));  // k̃
        aa[i] = -kh;
        bb[i] = kh * a;
        const float vv = in.v[c];
        if (first_block) {
            v_first[c] = vv;
            vi = vv;
        } else {
            vi = __fadd_rn(vv, __fmul_rn(v_first[c] - vv, sigmoid(p.v0[c] + in.v_gate[c])));
        }
    }
    __syncthreads();  // the norm's reads of oo are over; rr..bb are complete

    if (active) {
        // wkv7_kernel's sums, j ascending, the same expressions.
        float sa = 0.0f;
#pragma unroll
        for (int j = 0; j < N; ++j) sa += aa[j] * s[j];
        float acc = 0.0f;
#pragma unroll
        for (int j = 0; j < N; ++j) {
            const float x = (s[j] * ww[j] + sa * bb[j]) + vi * kk[j];
            s[j] = x;
            acc += x * rr[j];
        }
        s.store(state + (std::size_t(blockIdx.x) * N + i) * N);
        oo[i] = acc;
    }
    __syncthreads();

    if (i < 32) head_norm_stats(oo, rr, kk, gn.r_k + head, N, eps, lane, stats);
    __syncthreads();

    if (active) out[c] = gated_output(oo[i], vi, gn.weight[c], gn.bias[c], in.g[c], stats);
}

// time_mix_wkv7_kernel<64> with four threads per state row (256 threads per head): each thread
// keeps 16 consecutive columns of its row, and a row's two dot products are four partial sums
// (columns ascending within each) added across the row's four lanes. One thread per row leaves a
// head's block with two warps whose 64-step dependent chains nothing hides (12.7 us per launch on
// an H200, 40 SMs busy at the 2.9B shape); here the chains are 16 steps and each block has 8 warps.
// Not bit-identical to the one-thread kernel (another summation order). Threads 0..63 do that
// kernel's per-channel work and reductions unchanged; the row values v_i pass through shared
// memory because row i's threads are 4i..4i+3. The default for N = 64 (2.9B decode +6 % on an
// H200, session 16); LECTERN_CUDA_DECODE_SPLIT=0 takes the one-thread kernel.
constexpr int kRowSplit = 4;

__global__ void __launch_bounds__(kRowSplit * 64)
    time_mix_wkv7_split_kernel(TimeMixVectors p, bool first_block, TimeMixStepInputs in,
                               float* v_first, float* state, GroupNormVectors gn, float eps,
                               float* __restrict__ out) {
    allow_dependent_grids();  // as time_mix_wkv7_kernel
    wait_for_prior_grids();
    constexpr int N = 64;
    constexpr int W = N / kRowSplit;  // columns per thread
    const int t = threadIdx.x;
    const int lane = t & 31;
    const bool channel = t < N;  // threads 0..N-1: one channel each
    const int row = t / kRowSplit;
    const int part = t % kRowSplit;
    const std::size_t c = std::size_t(blockIdx.x) * N + (channel ? t : 0);
    const std::size_t head = std::size_t(blockIdx.x) * N;

    extern __shared__ float4 smem4[];
    float* const rr = reinterpret_cast<float*>(smem4);
    float* const ww = rr + N;
    float* const kk = rr + 2 * N;
    float* const aa = rr + 3 * N;
    float* const bb = rr + 4 * N;
    float* const oo = rr + 5 * N;
    float* const vv = rr + 6 * N;  // v_i of each row
    __shared__ float stats[4];

    // This thread's 16 columns of its row, loaded first so that the latency overlaps the mix.
    float sr[W];
    float* const my_state = state + (head + std::size_t(row)) * N + std::size_t(part) * W;
#pragma unroll
    for (int q = 0; q < W / 4; ++q) {
        const float4 v = reinterpret_cast<const float4*>(my_state)[q];
        sr[4 * q] = v.x;
        sr[4 * q + 1] = v.y;
        sr[4 * q + 2] = v.z;
        sr[4 * q + 3] = v.w;
    }
    const float kv = channel ? in.k[c] : 0.0f;
    if (channel) oo[t] = kv * p.k_k[c];
    __syncthreads();
    if (t < 32) head_key_norm(oo, N, lane, stats);
    __syncthreads();

    if (channel) {
        const float norm = stats[0];
        const float a = sigmoid(p.a0[c] + in.iclr[c]);
        const float kh = (kv * p.k_k[c]) / norm;
        rr[t] = in.r[c];
        ww[t] = expf(-0.606531f * sigmoid(p.w0[c] + in.decay[c]));
        kk[t] = kv * __fadd_rn(1.0f, __fmul_rn(a - 1.0f, p.k_a[c]));
        aa[t] = -kh;
        bb[t] = kh * a;
        const float vin = in.v[c];
        float vi;
        if (first_block) {
            v_first[c] = vin;
            vi = vin;
        } else {
            vi = __fadd_rn(vin, __fmul_rn(v_first[c] - vin, sigmoid(p.v0[c] + in.v_gate[c])));
        }
        vv[t] = vi;
    }
    __syncthreads();

    {
        const int j0 = part * W;
        float sa = 0.0f;
#pragma unroll
        for (int j = 0; j < W; ++j) sa += aa[j0 + j] * sr[j];
        // The row's four lanes are 4r..4r+3 of one warp; every lane gets the same bits.
        sa += __shfl_xor_sync(0xffffffffu, sa, 1);
        sa += __shfl_xor_sync(0xffffffffu, sa, 2);
        const float vi = vv[row];
        float acc = 0.0f;
#pragma unroll
        for (int j = 0; j < W; ++j) {
            const float x = (sr[j] * ww[j0 + j] + sa * bb[j0 + j]) + vi * kk[j0 + j];
            sr[j] = x;
            acc += x * rr[j0 + j];
        }
        acc += __shfl_xor_sync(0xffffffffu, acc, 1);
        acc += __shfl_xor_sync(0xffffffffu, acc, 2);
#pragma unroll
        for (int q = 0; q < W / 4; ++q)
            reinterpret_cast<float4*>(my_state)[q] =
                make_float4(sr[4 * q], sr[4 * q + 1], sr[4 * q + 2], sr[4 * q + 3]);
        if (part == 0) oo[row] = acc;
    }
    __syncthreads();

    if (t < 32) head_norm_stats(oo, rr, kk, gn.r_k + head, N, eps, lane, stats);
    __syncthreads();

    if (channel) out[c] = gated_output(oo[t], vv[t], gn.weight[c], gn.bias[c], in.g[c], stats);
}

bool decode_split_enabled() {
    static const bool enabled = [] {
        const char* v = std::getenv("LECTERN_CUDA_DECODE_SPLIT");
        return !(v && v[0] == '0' && v[1] == 0);
    }();
    return enabled;
}

// LECTERN_CUDA_PDL_ALL=1 on a device of compute capability 9.0 or later: these kernels are
// launched with programmatic dependent launch too, as the GEMVs are by default (gemv.cu), so each
// is resident and waiting when the GEMV before it finishes instead of being launched then (96
// launches per token at the 2.9B shape). An A/B switch, not yet timed.
bool pdl_all_enabled() {
    static const bool enabled = [] {
        const char* v = std::getenv("LECTERN_CUDA_PDL_ALL");
        if (!v || std::string(v) != "1") return false;
        cudaDeviceProp p{};
        return cudaGetDeviceProperties(&p, 0) == cudaSuccess && p.major >= 9;
    }();
    return enabled;
}

// kernel<<<grid, block, shared_bytes, stream>>>(args...), with the programmatic-serialization
// attribute under pdl_all_enabled().
template <typename... P, typename... A>
Result<void> launch(void (*kernel)(P...), unsigned grid, unsigned block, std::size_t shared_bytes,
                    cuda_stream stream, A... args) {
    if (pdl_all_enabled()) {
        LECTERN_CUDA_TRY(
            launch_programmatic(kernel, dim3(grid), dim3(block), shared_bytes, stream, args...));
        return {};
    }
    kernel<<<grid, block, shared_bytes, stream>>>(args...);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

}  // namespace

Result<void> layer_norm_shift_mix(const float* x, int C, const float* weight, const float* bias,
                                  float eps, float* shift, const TokenShiftLerp* lerps, int count,
                                  float* u_out, cuda_stream stream) {
    if (C < 0 || count < 1 || count > kMaxTokenShiftLerps || !lerps)
        return make_error("layer_norm_shift_mix: bad size or lerp count");
    if (C == 0) return {};
    if (!x || !weight || !bias || !shift)
        return make_error("layer_norm_shift_mix: null device pointer");
    Lerps packed{};
    for (int l = 0; l < count; ++l) {
        if (!lerps[l].mix || !lerps[l].out)
            return make_error("layer_norm_shift_mix: null lerp pointer");
        if (lerps[l].out_dtype != DType::f32)  // a GEMV reads them: float32
            return make_error("layer_norm_shift_mix: the lerps are float32");
        packed.items[l] = lerps[l];
    }
    packed.count = count;
    // One block per 256 elements, or one in all when u_out overwrites x (see the kernel).
    const auto addr = [](const float* q) { return reinterpret_cast<std::uintptr_t>(q); };
    const std::uintptr_t bytes = std::uintptr_t(C) * sizeof(float);
    const bool in_place = u_out && addr(u_out) < addr(x) + bytes && addr(x) < addr(u_out) + bytes;
    const unsigned blocks = in_place ? 1u : unsigned((C + kLnThreads - 1) / kLnThreads);
    return launch(layer_norm_shift_kernel, blocks, kLnThreads, 0, stream, x, C, weight, bias, eps,
                  shift, packed, u_out);
}

Result<void> time_mix_wkv7_step(int H, int N, const TimeMixVectors& p, bool first_block,
                                const TimeMixStepInputs& in, float* v_first, float* state,
                                const GroupNormVectors& gn, float eps, float* out,
                                cuda_stream stream) {
    if (H < 0 || N < 1 || N > kMaxHeadSize)
        return make_error("time_mix_wkv7_step: H " + std::to_string(H) + ", head size " +
                          std::to_string(N) + " (1..1024)");
    if (H == 0) return {};
    const void* need[] = {p.w0, p.a0, p.k_k,   p.k_a, in.r,      in.decay, in.iclr, in.k,
                          in.v, in.g, v_first, state, gn.weight, gn.bias,  gn.r_k,  out};
    for (const void* q : need)
        if (!q) return make_error("time_mix_wkv7_step: null device pointer");
    if (!first_block && (!p.v0 || !in.v_gate))
        return make_error("time_mix_wkv7_step: value residual needs v0 and v_gate");
    const int threads = (N + 31) / 32 * 32;
    const std::size_t shared_bytes = 6 * std::size_t(N) * sizeof(float);  // <= 24 KiB
    // The split kernel moves its state columns as float4: a 16-byte aligned state only.
    if (N == 64 && decode_split_enabled() && reinterpret_cast<std::uintptr_t>(state) % 16 == 0)
        return launch(time_mix_wkv7_split_kernel, unsigned(H), kRowSplit * 64,
                      7 * 64 * sizeof(float), stream, p, first_block, in, v_first, state, gn, eps,
                      out);
    return launch(N == 64 ? time_mix_wkv7_kernel<64> : time_mix_wkv7_kernel<0>, unsigned(H),
                  unsigned(threads), shared_bytes, stream, N, p, first_block, in, v_first, state,
                  gn, eps, out);
}

}  // namespace lectern::cuda
