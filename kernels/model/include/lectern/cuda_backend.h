// Entry point of the CUDA half of the engine (library lectern_cuda_engine, built only with
// LECTERN_CUDA): the application calls register_cuda_backend() once at startup, after which
// resolve_backend("auto"|"cuda") can pick the GPU and Model::load with Backend::cuda uploads the
// weights and runs every forward call there. Without this call the engine is CPU-only.
#pragma once

namespace lectern {

// Idempotent; cheap (no CUDA call: the device is probed when a backend is resolved).
void register_cuda_backend();

}  // namespace lectern

#include <span>
#include <string>
#include <vector>

#include "lectern/dtype.h"
#include "lectern/model_config.h"
#include "lectern/result.h"

namespace lectern {

// The two ceilings a GPU forward pass is measured against, measured in this process on device 0:
// copy bandwidth (a large cudaMemcpy device to device, counting bytes read plus bytes written)
// and the throughput of a large bf16 GEMM with float32 accumulation (cublasGemmEx, 8192³).
struct GpuRoofline {
    std::string device;
    double copy_gb_s = 0;      // GB/s (1e9 bytes)
    double bf16_tflops = 0;    // 1e12 FLOP/s
};
Result<GpuRoofline> measure_gpu_roofline();

// Seconds the native sparse attention core of ONE attention block (chunk means, top-k selection,
// attention; head size 64, float32 rows) takes over a prefill of `tokens` random rows fed in
// calls of the model's segment length (cuda::segment_rows()), as the model feeds it. Timed with
// CUDA events on device 0. For the dense attention baseline (tools/dense_attention_baseline.py).
// `tensor_cores`: the path the model takes (the tensor-core kernels where they apply); false: the
// float32 kernels, for a same-process A/B.
Result<double> measure_sparse_attention_prefill(int tokens, int n_head, int chunk_size, int top_k,
                                                bool tensor_cores = true);

// Seconds per one-token call of the same core (top-k selection and attention; the means exist)
// after `context` random rows, averaged over `calls` queries at the next positions, after one
// untimed call; one figure per entry of `splits` (as cuda::SparseAttentionScratch::splits: 0 the
// device's own count, 1 one block per (query, head) pair), timed in turn on the same rows: a
// same-process A/B of decode's split keys.
Result<std::vector<double>> measure_sparse_attention_decode(int context, int n_head,
                                                            int chunk_size, int top_k,
                                                            std::span<const int> splits,
                                                            int calls = 100);

// The decode GEMV launches of one RWKV-7 block (after the first) and the head at `config`'s shapes
// with `dtype` weights, alone: r, k, v and the LoRA downs in one batch, the LoRA ups in one, the
// output, the FFN key and value, the head; each with every walk of kernels/gemv.cu (cuda::GemvWalk
// rows, stream4, stream8) in turn, `launches` back to back on device 0 after a warm-up, cycling
// through copies of the weights that together exceed L2. One row per batch and walk.
struct GemvBenchRow {
    std::string batch;  // "rkv+downs", "lora ups", "output", "ffn key", "ffn value", "head"
    std::string walk;   // "rows", "stream", "stream8"
    double bytes = 0;   // weights one launch reads
    double us = 0;      // per launch
};
Result<std::vector<GemvBenchRow>> measure_decode_gemv(const ModelConfig& config, DType dtype,
                                                      int launches = 200);

// Op-kind breakdown of GPU forward calls (kernels/model/cuda_profile.h), for benchmarks: enable
// clears the totals and turns recording on or off; report waits for the recorded ops and returns
// milliseconds and op count per kind since enable (kinds that never ran are left out). Recording
// adds CUDA events around every op, which slows small calls: read it as proportions.
struct GpuProfileEntry {
    std::string op;
    double ms = 0;
    long long calls = 0;
};
void gpu_profile_enable(bool on);
std::vector<GpuProfileEntry> gpu_profile_report();
// The matmul kind of the same report split by weight shape ("2560 x 10240": output features x
// input features), slowest first: which products the matmul time goes to (cuBLAS's tile choice
// and wave count differ by shape, and the small LoRA products are latency-bound).
std::vector<GpuProfileEntry> gpu_profile_matmul_shapes();
// The other kinds split by op ("elementwise: time-mix prepare", "norm: layer norm", ...), slowest
// first: which kernel of a kind its time goes to.
std::vector<GpuProfileEntry> gpu_profile_op_names();
// The host's steps in the same calls (cuda_profile.h HostStep: "selection wait", "paging",
// "kv rows wait", "kv append", "logits wait"): wall milliseconds and count since enable, steps
// never taken left out. What of a call's wall time is neither GPU work nor hidden behind it shows
// here.
std::vector<GpuProfileEntry> gpu_profile_host_steps();

}  // namespace lectern
