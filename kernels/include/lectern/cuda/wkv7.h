// GPU twins of lectern::wkv7_forward / wkv7_step (engine/src/cpu/wkv7.h): the RWKV-7 WKV
// recurrence of spec §2.3, same arguments in the same order and meaning, with device pointers and
// a CUDA stream in place of the thread pool. Checked by tests/kernels/tst_wkv7_cuda.cpp.
//
// Per head h, state S [N][N] (i = value row, j = key column), float32, updated in place:
//   sa_i    = Σ_j a_j S[i][j]                         (old state)
//   S[i][j] = S[i][j] w_j + sa_i b_j + v_i k_j
//   y_i     = Σ_j S[i][j] r_j                         (new state)
// Shapes: r, w, k, v, a, b, y [T][C] row-major, C = H * N; state [H][N][N]. All float32.
//
// Launch shape: one block per head (grid H), N threads, thread i owns state row i (in registers
// when N = 64, the head size of every RWKV-7 model; in global memory for any other N <= 1024).
// The block walks the T tokens in order; the token's r, w, k, a, b sit in shared memory (double
// buffered: one barrier per token). Sums run over j in ascending order, as on the CPU; the only
// difference from the CPU twin is FMA contraction, so results agree to fp32 rounding, not bit for
// bit (tolerance and why: tests/kernels/tst_wkv7_cuda.cpp). wkv7_step launches the same kernel
// with T = 1, so T steps equal one T-token call bit for bit.
//
// Both calls are asynchronous on `stream` (null = the legacy default stream) and capturable in a
// CUDA graph; the returned error covers argument checks and the launch, not the kernel's run.
// y must not alias state or the inputs.
#pragma once

#include <cstddef>

#include "lectern/cuda/cuda_stream.h"  // cuda_stream = cudaStream_t, without cuda_runtime.h
#include "lectern/result.h"

namespace lectern::cuda {

// T tokens in order (prefill). T = 0 or H = 0 does nothing; N must be in [1, 1024].
Result<void> wkv7_forward(int T, int H, int N, const float* r, const float* w, const float* k,
                          const float* v, const float* a, const float* b, float* state, float* y,
                          cuda_stream stream);

// One token (the decode step): the same kernel as wkv7_forward with T = 1.
Result<void> wkv7_step(int H, int N, const float* r, const float* w, const float* k,
                       const float* v, const float* a, const float* b, float* state, float* y,
                       cuda_stream stream);

// The chunked form of the same recurrence for prefill (kernels/wkv7_chunked.cu): chunks of 16
// tokens, each a few small dense products instead of 16 dependent steps; two blocks of 128
// threads per head. Equal to wkv7_forward up to fp32 rounding (a different summation order; it
// is not bit-identical, and a call split at other token boundaries differs by rounding too).
// Only N = 64 and 16-byte aligned r, w, k, v, a, b (wkv7_chunked_supported says); any other call
// is an error. Same stream and aliasing rules as wkv7_forward.
// `scratch` (device, 16-byte aligned, wkv7_chunked_scratch_floats(T, H) floats, or null): a
// pre-pass then computes every chunk's decays and 16 x 16 matrices at once, in parallel, and the
// sequential loop over chunks reads them instead of computing them chunk after chunk (the same
// functions on the same inputs: the same results bit for bit). T must then be <= 65535 * 16.
bool wkv7_chunked_supported(int N, const float* r, const float* w, const float* k,
                            const float* v, const float* a, const float* b);
std::size_t wkv7_chunked_scratch_floats(int T, int H);
Result<void> wkv7_forward_chunked(int T, int H, int N, const float* r, const float* w,
                                  const float* k, const float* v, const float* a, const float* b,
                                  float* state, float* y, cuda_stream stream,
                                  float* scratch = nullptr);

// The same recurrence as a scan over 16-token chunks (kernels/wkv7_scan.cu): every chunk's affine
// map of the state (S -> S P + U, 64 x 64 each) computed at once, then the maps applied in order
// (one 64 x 64 product per chunk), then every chunk's outputs at once. Equal to wkv7_forward up
// to fp32 rounding (another summation order again). Needs N = 64, 16-byte aligned inputs and
// state, and `scratch` (device, 16-byte aligned, wkv7_scan_scratch_floats(T, H) floats: ~75 KB
// per head and chunk); T <= 65535 * 16. Opt-in (LECTERN_CUDA_WKV=scan) until timed on a GPU.
std::size_t wkv7_scan_scratch_floats(int T, int H);
Result<void> wkv7_forward_scan(int T, int H, int N, const float* r, const float* w,
                               const float* k, const float* v, const float* a, const float* b,
                               float* state, float* y, cuda_stream stream, float* scratch);

// The scratch wkv7_prefill wants for a T-token call (the scan's under LECTERN_CUDA_WKV=scan, the
// chunked pre-pass's otherwise).
std::size_t wkv7_prefill_scratch_floats(int T, int H);

// What the engine's prefill calls: wkv7_forward_chunked for T >= wkv7_chunked_min_tokens when it
// supports the call, else wkv7_forward. LECTERN_CUDA_WKV (read once): `sequential` always takes
// wkv7_forward, for a same-process comparison or if the chunked form is ever in doubt; `inline`
// runs the chunked kernel without its pre-pass (scratch ignored); `scan` runs wkv7_forward_scan
// when `scratch` holds wkv7_scan_scratch_floats(T, H) (wkv7_prefill_scratch_floats says how
// much to give). Otherwise the chunked kernel gets `scratch`, when given, for its pre-pass.
inline constexpr int wkv7_chunked_min_tokens = 16;
Result<void> wkv7_prefill(int T, int H, int N, const float* r, const float* w, const float* k,
                          const float* v, const float* a, const float* b, float* state, float* y,
                          cuda_stream stream, float* scratch = nullptr);

// Throughput on random inputs in realistic ranges: times `iterations` launches of a T-token
// prefill (wkv7_prefill as the engine calls it, then wkv7_forward alone, then the chunked kernel
// without and with the pre-pass and the scan where they apply) and of T decode steps (each step
// one launch, no graph) with cudaEvents on the default stream, prints one line each (tokens/s,
// time per launch) and returns the figures.
// Allocates 7·T·H·N + H·N² floats of device memory for the call, and the pre-pass and scan
// scratch. For `lectern-cli bench`.
struct Wkv7BenchResult {
    double prefill_tokens_per_s = 0;          // wkv7_prefill (chunked where it applies)
    double sequential_prefill_tokens_per_s = 0;  // wkv7_forward, same inputs
    double inline_prefill_tokens_per_s = 0;      // chunked without the pre-pass (0: not chunked)
    double prepass_prefill_tokens_per_s = 0;     // chunked with the pre-pass (0: not run)
    double scan_prefill_tokens_per_s = 0;        // wkv7_forward_scan (0: not run)
    double step_tokens_per_s = 0;
    double step_us = 0;  // per decode-step launch
};
Result<Wkv7BenchResult> wkv7_bench(int T, int H, int N, int iterations);

}  // namespace lectern::cuda
