// One RWKV-7 block (spec §2) and one sparse attention block (spec §3.1) over T tokens, on the
// residual stream x [T][C], as chains of the CPU ops in engine/src/cpu/. Private to the engine;
// forward.cpp drives them in the model's block order.
#pragma once

#include <vector>

#include "infer/model_weights.h"

namespace lectern {

class KvCache;
struct AttentionTrace;

// Scratch for T rows, allocated once per forward call.
struct Workspace {
    Workspace(const ModelConfig& c, int rows);

    int rows = 0;
    // [rows][C]
    std::vector<float> u, xr, xw, xk, xv, xa, xg, r, k, v, w, a, vg, g, alpha, beta, y, out, kx;
    std::vector<float> v_first;      // [rows][C]: value of RWKV block 0, per token
    std::vector<float> lora_hidden;  // [rows][max LoRA rank]
    std::vector<float> ffn_hidden;   // [rows][F]
};

// x += TimeMix(LN1(x)); x += ChannelMix(LN2(x)). The recurrent arrays are updated in place:
// att_shift, ffn_shift [C] (last row's LN outputs), wkv [H][N][N]. `first` = RWKV block 0,
// which sets ws.v_first instead of reading it.
void rwkv_block_forward(const ModelConfig& c, const RwkvBlockWeights& b, bool first, int T,
                        float* x, float* att_shift, float* wkv, float* ffn_shift, Workspace& ws,
                        ThreadPool* pool);

// x += Wo · attention(LN1(x)); x += ChannelMix(LN2(x)) with the block's own shift state.
// Appends the new k, v to `cache`. Fails on internal errors of sparse_attention and when a KV
// chunk on disk cannot be read or is corrupt (after the append). `trace` (may be null) receives
// the attention's chunk choices and weights for the T tokens.
Result<void> attn_block_forward(const ModelConfig& c, const AttnBlockWeights& b,
                                const AttentionOptions& options, KvCache& cache, int T, float* x,
                                float* ffn_shift, Workspace& ws, ThreadPool* pool,
                                AttentionTrace* trace = nullptr);

}  // namespace lectern
