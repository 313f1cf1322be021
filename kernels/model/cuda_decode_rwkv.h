// The fused one-token (T == 1) path of an RWKV-7 block on the GPU: the same block as
// rwkv_block_forward (cuda_blocks.cpp, whose CPU twin is engine/src/infer/blocks.cpp) in 8
// launches instead of ~28, with the batched, epilogue-fused GEMV (kernels/gemv.cu) and the fused
// elementwise kernels (kernels/decode_fused.cu). Checked as a whole by tst_cuda_forward's GPU
// decode test (GPU decode vs the CPU engine); its kernels by tst_gemv_cuda and
// tst_decode_fused_cuda.
#pragma once

#include "cuda_model.h"

namespace lectern::cuda {

// Whether one-token RWKV blocks take rwkv_block_decode: true unless the environment variable
// LECTERN_CUDA_FUSED_DECODE is "0" (read once, at the first call), so that a GPU session can
// time and compare both paths in one build.
bool fused_decode_enabled();

// x += TimeMix(LN1(x)); x += ChannelMix(LN2(x)) for the workspace's single row x [C]; the
// recurrent arrays (device) are updated in place; `first` = RWKV block 0 (sets v_first). Uses
// the workspace buffers of rwkv_block_forward; everything is queued on m.stream() (capturable).
// The GEMVs read x from shared memory or global memory as LECTERN_CUDA_GEMV_X says ("shared",
// "global"; anything else or unset: automatic), read once, for A/B timing.
Result<void> rwkv_block_decode(CudaModel& m, const DeviceRwkvBlock& b, bool first, float* att_shift,
                               float* wkv, float* ffn_shift);

// The channel mix of either block kind for the workspace's single row (spec §2.5, §3.1):
// u = LN2(x) (kept in the workspace's u), kx = token shift of u with x_k, ffn_shift := u,
// x += relu(kx · keyᵀ)² · valueᵀ, in 3 launches (the unfused chain takes 7).
Result<void> channel_mix_decode(CudaModel& m, const float* ln2_w, const float* ln2_b,
                                const float* x_k, const DeviceMatrix& key,
                                const DeviceMatrix& value, float* ffn_shift);

}  // namespace lectern::cuda
