// Where a GPU forward call spends its time, by kind of op (matmul, wkv7, attention, norms, ...):
// CUDA events around each op on the model's stream, summed per name after a synchronise. Off
// unless a benchmark turns it on (lectern::gpu_profile_enable, lectern-cli bench --profile): the
// events cost a few microseconds each and perturb small decode calls, so the breakdown shows
// proportions, not the exact speed. Never active while a CUDA graph is being captured. Beside the
// ops, the host's waits and work in a call (HostStep), in wall time.
#pragma once

#include "lectern/cuda/cuda_stream.h"
#include "lectern/result.h"

namespace lectern::cuda {

// The op kinds the breakdown reports (a fixed list: recording stays allocation-free).
enum class ProfileOp : int {
    matmul,
    wkv7,
    attention,    // chunk means, selection, attention, KV paging
    norm,         // LayerNorm, GroupNorm with bonus and gate
    elementwise,  // token shift, lerps, time-mix preparation, activations, residual adds
    transfer,     // host <-> device copies of the call (embedding rows, logits, KV rows)
    count
};
const char* profile_op_name(ProfileOp op);

// Records a start event now and a stop event when destroyed, both on `stream`, when profiling is
// on; does nothing otherwise. A matmul may name its weight's shape (rows x cols) for the
// per-shape split (gpu_profile_matmul_shapes); another op its name (a string literal: kept as a
// pointer) for the per-op split (gpu_profile_op_names).
class ProfileScope {
  public:
    ProfileScope(ProfileOp op, cuda_stream stream, int rows = 0, int cols = 0);
    ProfileScope(ProfileOp op, cuda_stream stream, const char* name);
    ~ProfileScope();
    ProfileScope(const ProfileScope&) = delete;
    ProfileScope& operator=(const ProfileScope&) = delete;

  private:
    void start(ProfileOp op, int rows, int cols, const char* name);

    int m_pair = -1;  // index of the event pair, -1 when not recording
    cuda_stream m_stream = nullptr;
};

// `op()` (returning Result<void>) inside a ProfileScope of kind `kind` named `name` (a string
// literal, e.g. "time-mix prepare"): scopes never nest.
template <typename F>
Result<void> profiled(ProfileOp kind, cuda_stream stream, const char* name, F&& op) {
    ProfileScope scope(kind, stream, name);
    return op();
}

// Steps of a call in which the host waits for the GPU or works while the GPU may wait for it:
// host wall time, summed per step while profiling is on. Read against the call's wall time and
// the ops' GPU time: what the GPU does not hide of the host's part of a decode token.
enum class HostStep : int {
    selection_wait,  // paged attention: stage 1's choices copied to the host (waits for the GPU)
    paging,          // paged attention: planning, chunk loads and page tables, stage 2 queued
    kv_rows_wait,    // a segment's KV rows copied back for the host caches (waits for the GPU)
    kv_append,       // those rows appended to the host caches (host work only)
    logits_wait,     // the logits copied to the host (waits for the GPU to finish them)
    count
};
const char* host_step_name(HostStep step);

// Adds the wall time from its construction to its destruction to `step` when profiling is on.
class HostStepScope {
  public:
    explicit HostStepScope(HostStep step);
    ~HostStepScope();
    HostStepScope(const HostStepScope&) = delete;
    HostStepScope& operator=(const HostStepScope&) = delete;

  private:
    int m_step = -1;  // -1 when not recording
    long long m_start_ns = 0;
};

// Suspends recording (a graph capture is under way) while alive.
class ProfilePause {
  public:
    ProfilePause();
    ~ProfilePause();
    ProfilePause(const ProfilePause&) = delete;
    ProfilePause& operator=(const ProfilePause&) = delete;

  private:
    bool m_was_on = false;
};

}  // namespace lectern::cuda
