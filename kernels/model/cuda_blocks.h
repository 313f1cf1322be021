// One RWKV-7 block (spec §2) and one native sparse attention block (spec §3.1, §3.3) over T
// tokens on the GPU: the same chains of ops as engine/src/infer/blocks.cpp, with the kernels of
// kernels/ in place of the CPU ops. The residual stream is the workspace's x [T][C]; everything
// is queued on the default stream.
#pragma once

#include "cuda_model.h"
#include "cuda_state.h"

namespace lectern::cuda {

// x += TimeMix(LN1(x)); x += ChannelMix(LN2(x)); the recurrent arrays (device) are updated in
// place. `first` = RWKV block 0 (sets the workspace's v_first).
Result<void> rwkv_block_forward(CudaModel& m, const DeviceRwkvBlock& b, bool first, int T,
                                float* att_shift, float* wkv, float* ffn_shift);

// x += Wo · attention(LN1(x)) over the KV mirror (whose rows [p0, p0+T) this writes: the new
// tokens' k and v), then x += ChannelMix(LN2(x)). The mirror must have room for p0 + T rows and
// chunk means for every chunk complete before p0. bypass: only the channel mix.
Result<void> attn_block_forward(CudaModel& m, CudaState& st, int j, const DeviceAttnBlock& b,
                                const AttentionOptions& options, int p0, int T,
                                float* ffn_shift);

}  // namespace lectern::cuda
