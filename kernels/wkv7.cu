// The WKV-7 recurrence on the GPU (see lectern/cuda/wkv7.h): one block per head, thread i owns
// state row i, tokens in order inside the kernel. CPU twin: engine/src/cpu/wkv7.cpp; test:
// tests/kernels/tst_wkv7_cuda.cpp.
#include "lectern/cuda/wkv7.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "cuda_check.cuh"
#include "wkv7_state_row.cuh"
#include "lectern/cuda/cuda_device.h"

namespace lectern::cuda {
namespace {

constexpr int max_head_size = 1024;  // one thread per state row, one block per head

// One block = head blockIdx.x, blockDim.x = N threads. Shared memory: two buffers (token parity)
// of the token's r, w, k, a, b vectors [5][N]. A thread fills buffer t&1 and then waits at the
// barrier; buffer t&1 is next written at token t+2, which no thread reaches before every thread
// has passed the barrier of token t+1, i.e. finished reading it at token t. One barrier a token.
template <int NC>
__global__ void __launch_bounds__(NC ? NC : max_head_size)
    wkv7_kernel(int T, int n_runtime, std::size_t C, const float* __restrict__ r,
                const float* __restrict__ w, const float* __restrict__ k,
                const float* __restrict__ v, const float* __restrict__ a,
                const float* __restrict__ b, float* __restrict__ state, float* __restrict__ y)
{
    const int N = NC ? NC : n_runtime;
    const int i = threadIdx.x;
    extern __shared__ __align__(16) float smem[];

    float* row = state + (std::size_t(blockIdx.x) * N + i) * N;
    StateRow<NC> s;
    s.load(row);

    // This thread's channel; the next token's inputs are read one token ahead into registers so
    // that their global-memory latency overlaps the current token's arithmetic. T >= 1 here.
    const std::size_t ch = std::size_t(blockIdx.x) * N + i;
    float nr = r[ch], nw = w[ch], nk = k[ch], nv = v[ch], na = a[ch], nb = b[ch];

    for (int t = 0; t < T; ++t) {
        float* buf = smem + (t & 1) * 5 * N;
        float* const rr = buf;
        float* const ww = buf + N;
        float* const kk = buf + 2 * N;
        float* const aa = buf + 3 * N;
        float* const bb = buf + 4 * N;
        rr[i] = nr;
        ww[i] = nw;
        kk[i] = nk;
        aa[i] = na;
        bb[i] = nb;
        const float vi = nv;
        __syncthreads();
        if (t + 1 < T) {
            const std::size_t o = std::size_t(t + 1) * C + ch;
            nr = r[o];
            nw = w[o];
            nk = k[o];
            nv = v[o];
            na = a[o];
            nb = b[o];
        }

        // Same sums, in the same order (j ascending), as the CPU twin; sa uses the old state.
        float sa = 0.0f;
#pragma unroll
        for (int j = 0; j < N; ++j)
            sa += aa[j] * s[j];
        float acc = 0.0f;
#pragma unroll
        for (int j = 0; j < N; ++j) {
            const float x = (s[j] * ww[j] + sa * bb[j]) + vi * kk[j];
            s[j] = x;
            acc += x * rr[j];
        }
        y[std::size_t(t) * C + ch] = acc;
    }
    s.store(row);
}

Result<void> check_args(int T, int H, int N, const void* const* ptrs, int n_ptrs)
{
    if (T < 0 || H < 0)
        return make_error("wkv7: negative T (" + std::to_string(T) + ") or H (" +
                          std::to_string(H) + ")");
    if (N < 1 || N > max_head_size)
        return make_error("wkv7: head size " + std::to_string(N) + " outside [1, " +
                          std::to_string(max_head_size) + "]");
    if (T > 0 && H > 0)
        for (int p = 0; p < n_ptrs; ++p)
            if (!ptrs[p])
                return make_error("wkv7: null device pointer");
    return {};
}

}  // namespace

Result<void> wkv7_forward(int T, int H, int N, const float* r, const float* w, const float* k,
                          const float* v, const float* a, const float* b, float* state, float* y,
                          cuda_stream stream)
{
    const void* ptrs[] = {r, w, k, v, a, b, state, y};
    if (auto ok = check_args(T, H, N, ptrs, 8); !ok)
        return ok;
    if (T == 0 || H == 0)
        return {};
    const std::size_t C = std::size_t(H) * N;
    const std::size_t shared_bytes = 2 * 5 * std::size_t(N) * sizeof(float);  // <= 40 KiB
    if (N == 64)
        wkv7_kernel<64><<<H, 64, shared_bytes, stream>>>(T, N, C, r, w, k, v, a, b, state, y);
    else
        wkv7_kernel<0><<<H, N, shared_bytes, stream>>>(T, N, C, r, w, k, v, a, b, state, y);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> wkv7_step(int H, int N, const float* r, const float* w, const float* k,
                       const float* v, const float* a, const float* b, float* state, float* y,
                       cuda_stream stream)
{
    // The same kernel with T = 1: decode then equals prefill bit for bit (the state round-trips
    // through global memory exactly). A dedicated kernel would gain little: the step is one
    // state read and write per head, latency-bound either way.
    return wkv7_forward(1, H, N, r, w, k, v, a, b, state, y, stream);
}

namespace {

bool wkv_setting_is(const char* value)
{
    static const char* const setting = std::getenv("LECTERN_CUDA_WKV");
    return setting && std::strcmp(setting, value) == 0;
}

bool sequential_forced()
{
    return wkv_setting_is("sequential");
}

// The chunked kernel's pre-pass, unless LECTERN_CUDA_WKV=inline: on an H200 (session 16, 2.9B
// shape, 1,024 tokens) 0.48 ms per launch with it, 0.64 ms without. (Its first version, whose loop
// read the prepared chunks from global memory, took 1.30 ms.)
bool prepass_chosen()
{
    return !wkv_setting_is("inline");
}

}  // namespace

std::size_t wkv7_prefill_scratch_floats(int T, int H)
{
    return wkv_setting_is("scan") ? wkv7_scan_scratch_floats(T, H)
                                  : wkv7_chunked_scratch_floats(T, H);
}

Result<void> wkv7_prefill(int T, int H, int N, const float* r, const float* w, const float* k,
                          const float* v, const float* a, const float* b, float* state, float* y,
                          cuda_stream stream, float* scratch)
{
    if (wkv_setting_is("scan") && scratch && T >= wkv7_chunked_min_tokens && H > 0 &&
        (T + 15) / 16 <= 65535 && wkv7_chunked_supported(N, r, w, k, v, a, b) &&
        (reinterpret_cast<std::uintptr_t>(state) & 15u) == 0)
        return wkv7_forward_scan(T, H, N, r, w, k, v, a, b, state, y, stream, scratch);
    if (!sequential_forced() && T >= wkv7_chunked_min_tokens && H > 0 &&
        wkv7_chunked_supported(N, r, w, k, v, a, b))
        // Beyond 65535 chunks (a grid dimension) the pre-pass cannot run: the loop does it all.
        return wkv7_forward_chunked(T, H, N, r, w, k, v, a, b, state, y, stream,
                                    prepass_chosen() && (T + 15) / 16 <= 65535 ? scratch
                                                                               : nullptr);
    return wkv7_forward(T, H, N, r, w, k, v, a, b, state, y, stream);
}

// ---- benchmark (for `lectern-cli bench`) ----

namespace {

// A reproducible value in [0, 1) from an index (a 32-bit integer hash; quality is irrelevant).
__device__ float unit_hash(std::uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return float(x >> 8) * (1.0f / 16777216.0f);
}

// Inputs in the ranges of a real model, so the state stays bounded and no denormals appear:
// w in (0.55, 1), α = −κ̂ and β = κ̂ ⊙ iclr with κ̂ = ±1/√N (unit norm per head).
__global__ void bench_fill(std::size_t n, int N, float* r, float* w, float* k, float* v,
                           float* a, float* b)
{
    const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
    for (std::size_t e = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
        const auto x = std::uint32_t(e) * 8u;
        r[e] = 2.0f * unit_hash(x) - 1.0f;
        w[e] = 0.55f + 0.449f * unit_hash(x + 1);
        k[e] = unit_hash(x + 2) - 0.5f;
        v[e] = 2.0f * unit_hash(x + 3) - 1.0f;
        const float kappa = (unit_hash(x + 4) < 0.5f ? -1.0f : 1.0f) * rsqrtf(float(N));
        a[e] = -kappa;
        b[e] = kappa * unit_hash(x + 5);
    }
}

struct EventPair {
    cudaEvent_t start = nullptr, stop = nullptr;
    EventPair() = default;
    EventPair(const EventPair&) = delete;
    EventPair& operator=(const EventPair&) = delete;
    ~EventPair()
    {
        if (start)
            cudaEventDestroy(start);
        if (stop)
            cudaEventDestroy(stop);
    }
};

}  // namespace

Result<Wkv7BenchResult> wkv7_bench(int T, int H, int N, int iterations)
{
    if (T < 1 || H < 1 || iterations < 1)
        return make_error("wkv7_bench: T, H and iterations must be positive");
    const std::size_t n = std::size_t(T) * H * N;
    const std::size_t C = std::size_t(H) * N;
    DeviceBuffer buf[8];  // r, w, k, v, a, b, y [T][C]; state [H][N][N]
    for (int p = 0; p < 8; ++p) {
        auto got = DeviceBuffer::allocate((p < 7 ? n : std::size_t(H) * N * N) * sizeof(float));
        if (!got)
            return got.error();
        buf[p] = std::move(*got);
    }
    float* f[8];
    for (int p = 0; p < 8; ++p)
        f[p] = static_cast<float*>(buf[p].data());
    bench_fill<<<1024, 256>>>(n, N, f[0], f[1], f[2], f[3], f[4], f[5]);
    LECTERN_CUDA_TRY(cudaGetLastError());
    if (auto ok = buf[7].fill(0); !ok)
        return ok.error();

    // The scratch the model gives wkv7_prefill (the scan's under LECTERN_CUDA_WKV=scan, which
    // is larger), also the chunked kernel's pre-pass scratch.
    DeviceBuffer prep;
    if (const std::size_t floats =
            std::max(wkv7_chunked_scratch_floats(T, H), wkv7_prefill_scratch_floats(T, H));
        floats > 0) {
        auto got = DeviceBuffer::allocate(floats * sizeof(float));
        if (!got)
            return got.error();
        prep = std::move(*got);
    }
    auto* prep_floats = static_cast<float*>(prep.data());
    // The scan's scratch (its pre-pass, every chunk's transition and starting state).
    DeviceBuffer scan_scratch;
    if (const std::size_t floats = wkv7_scan_scratch_floats(T, H); floats > 0 && N == 64) {
        auto got = DeviceBuffer::allocate(floats * sizeof(float));
        if (!got)
            return got.error();
        scan_scratch = std::move(*got);
    }
    auto* scan_floats = static_cast<float*>(scan_scratch.data());

    EventPair ev;
    LECTERN_CUDA_TRY(cudaEventCreate(&ev.start));
    LECTERN_CUDA_TRY(cudaEventCreate(&ev.stop));
    // The state keeps evolving across iterations; the inputs keep it bounded (w < 1).
    enum class Way { prefill, sequential, chunked_inline, chunked_prepass, scan };
    auto time_prefill = [&](Way way, float& ms) -> Result<void> {
        auto prefill = [&]() {
            switch (way) {
            case Way::sequential:
                return wkv7_forward(T, H, N, f[0], f[1], f[2], f[3], f[4], f[5], f[7], f[6],
                                    nullptr);
            case Way::chunked_inline:
                return wkv7_forward_chunked(T, H, N, f[0], f[1], f[2], f[3], f[4], f[5], f[7],
                                            f[6], nullptr);
            case Way::chunked_prepass:
                return wkv7_forward_chunked(T, H, N, f[0], f[1], f[2], f[3], f[4], f[5], f[7],
                                            f[6], nullptr, prep_floats);
            case Way::scan:
                return wkv7_forward_scan(T, H, N, f[0], f[1], f[2], f[3], f[4], f[5], f[7], f[6],
                                         nullptr, scan_floats);
            default:
                return wkv7_prefill(T, H, N, f[0], f[1], f[2], f[3], f[4], f[5], f[7], f[6],
                                    nullptr, prep_floats);
            }
        };
        if (auto ok = prefill(); !ok)  // warm-up: module load, first-touch
            return ok.error();
        LECTERN_CUDA_TRY(cudaDeviceSynchronize());
        LECTERN_CUDA_TRY(cudaEventRecord(ev.start));
        for (int it = 0; it < iterations; ++it)
            if (auto ok = prefill(); !ok)
                return ok.error();
        LECTERN_CUDA_TRY(cudaEventRecord(ev.stop));
        LECTERN_CUDA_TRY(cudaEventSynchronize(ev.stop));
        LECTERN_CUDA_TRY(cudaEventElapsedTime(&ms, ev.start, ev.stop));
        return {};
    };
    float prefill_ms = 0, sequential_ms = 0, inline_ms = 0, prepass_ms = 0, scan_ms = 0,
          step_ms = 0;
    if (auto ok = time_prefill(Way::prefill, prefill_ms); !ok)
        return ok.error();
    if (auto ok = time_prefill(Way::sequential, sequential_ms); !ok)
        return ok.error();
    const bool chunked = T >= wkv7_chunked_min_tokens && N == 64;
    if (chunked) {
        if (auto ok = time_prefill(Way::chunked_inline, inline_ms); !ok)
            return ok.error();
        if (prep_floats && (T + 15) / 16 <= 65535)
            if (auto ok = time_prefill(Way::chunked_prepass, prepass_ms); !ok)
                return ok.error();
        if (scan_floats && (T + 15) / 16 <= 65535)
            if (auto ok = time_prefill(Way::scan, scan_ms); !ok)
                return ok.error();
    }

    LECTERN_CUDA_TRY(cudaEventRecord(ev.start));
    for (int it = 0; it < iterations; ++it)
        for (int t = 0; t < T; ++t) {
            const std::size_t o = std::size_t(t) * C;
            if (auto ok = wkv7_step(H, N, f[0] + o, f[1] + o, f[2] + o, f[3] + o, f[4] + o,
                                    f[5] + o, f[7], f[6] + o, nullptr);
                !ok)
                return ok.error();
        }
    LECTERN_CUDA_TRY(cudaEventRecord(ev.stop));
    LECTERN_CUDA_TRY(cudaEventSynchronize(ev.stop));
    LECTERN_CUDA_TRY(cudaEventElapsedTime(&step_ms, ev.start, ev.stop));

    const double tokens = double(iterations) * T;
    Wkv7BenchResult res;
    res.prefill_tokens_per_s = tokens / (double(prefill_ms) * 1e-3);
    res.sequential_prefill_tokens_per_s = tokens / (double(sequential_ms) * 1e-3);
    if (chunked) res.inline_prefill_tokens_per_s = tokens / (double(inline_ms) * 1e-3);
    if (prepass_ms > 0) res.prepass_prefill_tokens_per_s = tokens / (double(prepass_ms) * 1e-3);
    if (scan_ms > 0) res.scan_prefill_tokens_per_s = tokens / (double(scan_ms) * 1e-3);
    res.step_tokens_per_s = tokens / (double(step_ms) * 1e-3);
    res.step_us = double(step_ms) * 1e3 / tokens;
    std::printf("wkv7 prefill T=%d H=%d N=%d: %.4g tokens/s (%.3f ms per launch, %d launches; "
                "%s)\n",
                T, H, N, res.prefill_tokens_per_s, double(prefill_ms) / iterations, iterations,
                sequential_forced() || !chunked ? "sequential"
                : wkv_setting_is("scan")        ? "the scan"
                : prepass_chosen()              ? "chunked with the pre-pass"
                                                : "chunked");
    std::printf("wkv7 sequential prefill T=%d H=%d N=%d: %.4g tokens/s (%.3f ms per launch); "
                "chunked / sequential = %.2fx\n",
                T, H, N, res.sequential_prefill_tokens_per_s, double(sequential_ms) / iterations,
                res.prefill_tokens_per_s / res.sequential_prefill_tokens_per_s);
    if (prepass_ms > 0)
        std::printf("wkv7 chunked with the pre-pass T=%d H=%d N=%d: %.4g tokens/s (%.3f ms per "
                    "launch); with / without the pre-pass = %.2fx\n",
                    T, H, N, res.prepass_prefill_tokens_per_s, double(prepass_ms) / iterations,
                    double(inline_ms) / double(prepass_ms));
    if (scan_ms > 0 && prepass_ms > 0)
        std::printf("wkv7 scan T=%d H=%d N=%d: %.4g tokens/s (%.3f ms per launch); scan / chunked "
                    "with the pre-pass = %.2fx\n",
                    T, H, N, res.scan_prefill_tokens_per_s, double(scan_ms) / iterations,
                    double(prepass_ms) / double(scan_ms));
    std::printf("wkv7 step    H=%d N=%d: %.4g tokens/s (%.2f us per launch incl. launch cost, "
                "%.0f launches)\n",
                H, N, res.step_tokens_per_s, res.step_us, tokens);
    return res;
}

}  // namespace lectern::cuda
