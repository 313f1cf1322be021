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

// x += Wo · attention(LN1(x)) over the state's device KV (dense: the mirror, whose rows
// [p0, p0+T) this writes, which must have room for them; paged: paged_attention below), then
// x += ChannelMix(LN2(x)). Chunk means must exist for every chunk complete before p0. `host` is
// block j's host cache (p0 rows; the paged path loads chunks from it). bypass: only the channel
// mix (host may be null).
Result<void> attn_block_forward(CudaModel& m, CudaState& st, int j, const DeviceAttnBlock& b,
                                const AttentionOptions& options, const KvCache::Impl* host,
                                int p0, int T, float* ffn_shift);

// The attention of attn_block_forward over the paged KV cache (cuda_paged_attention.cpp): the
// workspace's u = LN1(x) in, its y = attention out; the new rows are kept for the host cache
// (CudaState::new_rows). Not capturable: it waits for the selections once per call and block.
Result<void> paged_attention(CudaModel& m, CudaState& st, int j, const DeviceAttnBlock& b,
                             const AttentionOptions& options, const KvCache::Impl& host, int p0,
                             int T);

}  // namespace lectern::cuda
