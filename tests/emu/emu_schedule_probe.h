// Launchers of emu_schedule_probe.cu: small kernels with deliberate shared-memory races, reads
// of unwritten shared memory, a launch past its __launch_bounds__ and aliased __restrict__
// pointers, for tst_emu_schedule (the
// emulator must show each: the races under one of its two schedules). Every pointer is host memory the emulator's kernels may use directly.
#pragma once

namespace emu_probe {

// One block of 64 threads: thread t writes v[t], then (no barrier) threads of warp 1 read what
// warp 0 wrote: out[t] = v[t - 32] for t >= 32, v[t] below. Right under the forward schedule only.
void read_lower_warp(float* out);
// One warp: lane t writes v[t], then (no __syncwarp) reads lane t + 1's: out[t] = v[t + 1] for
// t < 31, v[31] for lane 31. Right under the reverse schedule only.
void read_higher_lane(float* out);
// The same exchange as read_lower_warp with a __syncthreads between the write and the read, and
// out[t] = v[63 - t]: right under both schedules.
void read_after_barrier(float* out);
// Two blocks of 64 threads: block 0 writes s[t] = t + 1, block 1 writes nothing; after a barrier
// out[64 * block + t] = s[t]. The first `written` threads of block 0 write (the rest read).
void read_unwritten(float* out, int written);
// One thread per block in a grid of `blocks`: order[block] = the number of blocks that ran before it.
void record_block_order(int* order, int blocks);
// A kernel declared __launch_bounds__(64), launched with `threads` threads: out[t] = t + 1. More
// than 64 stops the program (CUDA would refuse the launch).
void bounded_to_64(float* out, int threads);
// out[i] = 2 * in[i] for 32 values, `in` declared const __restrict__: called with out == in, the
// emulator stops the program (the kernel would be run in place over a restrict promise).
void doubled(const float* in, float* out);

}  // namespace emu_probe
