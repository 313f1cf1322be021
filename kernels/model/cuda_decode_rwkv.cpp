// One RWKV-7 block for one token with the fused decode kernels (see cuda_decode_rwkv.h). Launches
// per block: 1 LN1 + shift + 6 lerps; 2 r, k, v and the LoRA downs (tanh / sigmoid fused);
// 3 the LoRA ups; 4 time mix + WKV step + GroupNorm/bonus/gate; 5 output GEMV + residual;
// 6 LN2 + shift + lerp; 7 FFN key + relu²; 8 FFN value + residual (6-8: channel_mix_decode).
// The ops and their order are those of rwkv_block_forward (cuda_blocks.cpp) at T == 1; results
// are equal up to FMA contraction choices (see decode_fused.h and the gemv notes in matmul.h).
#include "cuda_decode_rwkv.h"
#include "cuda_engine_common.h"

#include <cstdlib>
#include <string_view>

#include "cuda_profile.h"
#include "lectern/cuda/decode_fused.h"
#include "lectern/cuda/matmul.h"

namespace lectern::cuda {
namespace {

GemvX gemv_x_source() {
    static const GemvX source = [] {
        const char* v = std::getenv("LECTERN_CUDA_GEMV_X");
        if (v && std::string_view(v) == "shared") return GemvX::shared;
        if (v && std::string_view(v) == "global") return GemvX::global;
        return GemvX::automatic;
    }();
    return source;
}

GemvJob job(const DeviceMatrix& w, const float* x, float* y,
            GemvEpilogue epilogue = GemvEpilogue::none, const float* resid = nullptr) {
    GemvJob j;
    j.w = w;
    j.x = x;
    j.y = y;
    j.epilogue = epilogue;
    j.resid = resid;
    // "shared" is a request: matrices whose x does not fit fall back to global memory.
    const bool fits = std::size_t(w.cols) * sizeof(float) <= std::size_t(kGemvSharedXBytes);
    const GemvX wanted = gemv_x_source();
    j.x_source = wanted == GemvX::shared && !fits ? GemvX::global : wanted;
    return j;
}

}  // namespace

bool fused_decode_enabled() {
    static const bool enabled = [] {
        const char* v = std::getenv("LECTERN_CUDA_FUSED_DECODE");
        return !(v && std::string_view(v) == "0");
    }();
    return enabled;
}

Result<void> rwkv_block_decode(CudaModel& m, const DeviceRwkvBlock& b, bool first, float* att_shift,
                               float* wkv, float* ffn_shift) {
    const ModelConfig& c = m.config();
    const int C = c.n_embd, H = c.n_head, N = c.head_size;
    const DeviceWorkspace& ws = m.workspace();
    const cuda_stream s = m.stream();

    // Time mix (§2.2-§2.4). u is kept in the workspace as the unfused chain leaves it.
    const TokenShiftLerp lerps[] = {{b.x_r, ws.xr}, {b.x_w, ws.xw}, {b.x_k, ws.xk},
                                    {b.x_v, ws.xv}, {b.x_a, ws.xa}, {b.x_g, ws.xg}};
    LECTERN_TRY(profiled(ProfileOp::norm, m.stream(), "layer norm + shift + 6 lerps", [&] {
        return layer_norm_shift_mix(ws.x, C, b.ln1_w, b.ln1_b, kLayerNormEps, att_shift, lerps, 6,
                                    ws.u, s);
    }));

    // The LoRA hiddens as rwkv_block_forward lays them out for T = 1.
    float* hw = ws.lora_hidden;
    float* ha = hw + b.w1.rows;
    float* hg = ha + b.a1.rows;
    float* hv = hg + b.g1.rows;
    const GemvJob first_products[] = {
        job(b.receptance, ws.xr, ws.r), job(b.key, ws.xk, ws.k),
        job(b.value, ws.xv, ws.v),      job(b.w1, ws.xw, hw, GemvEpilogue::tanh),
        job(b.a1, ws.xa, ha),           job(b.g1, ws.xg, hg, GemvEpilogue::sigmoid),
        job(b.v1, ws.xv, hv),  // value-residual LoRA: blocks after the first only (last entry)
    };
    LECTERN_TRY(profiled(ProfileOp::matmul, m.stream(), "gemv r k v + lora downs",
                         [&] { return gemv_batched(first_products, first ? 6 : 7, s); }));
    const GemvJob lora_ups[] = {
        job(b.w2, hw, ws.w), job(b.a2, ha, ws.a), job(b.g2, hg, ws.g),
        job(b.v2, hv, ws.vg),  // blocks after the first only (last entry)
    };
    LECTERN_TRY(profiled(ProfileOp::matmul, m.stream(), "gemv lora ups",
                         [&] { return gemv_batched(lora_ups, first ? 3 : 4, s); }));

    TimeMixVectors vecs;
    vecs.w0 = b.w0;
    vecs.a0 = b.a0;
    vecs.v0 = first ? nullptr : b.v0;
    vecs.k_k = b.k_k;
    vecs.k_a = b.k_a;
    TimeMixStepInputs in;
    in.r = ws.r;
    in.decay = ws.w;
    in.iclr = ws.a;
    in.k = ws.k;
    in.v = ws.v;
    in.v_gate = first ? nullptr : ws.vg;
    in.g = ws.g;
    GroupNormVectors gn;
    gn.weight = b.lnx_w;
    gn.bias = b.lnx_b;
    gn.r_k = b.r_k;
    LECTERN_TRY(profiled(ProfileOp::wkv7, m.stream(), "time mix + wkv7 step + group norm", [&] {
        return time_mix_wkv7_step(H, N, vecs, first, in, ws.v_first, wkv, gn, kGroupNormEps, ws.y,
                                  s);
    }));
    LECTERN_TRY(profiled(ProfileOp::matmul, m.stream(), "gemv output + residual", [&] {
        return gemv(job(b.output, ws.y, ws.x, GemvEpilogue::add, ws.x), s);
    }));

    return channel_mix_decode(m, b.ln2_w, b.ln2_b, b.ffn_x_k, b.ffn_key, b.ffn_value, ffn_shift);
}

Result<void> channel_mix_decode(CudaModel& m, const float* ln2_w, const float* ln2_b,
                                const float* x_k, const DeviceMatrix& key,
                                const DeviceMatrix& value, float* ffn_shift) {
    const DeviceWorkspace& ws = m.workspace();
    const cuda_stream s = m.stream();
    const TokenShiftLerp ffn_lerp[] = {{x_k, ws.kx}};
    LECTERN_TRY(profiled(ProfileOp::norm, m.stream(), "layer norm + shift + lerp", [&] {
        return layer_norm_shift_mix(ws.x, m.config().n_embd, ln2_w, ln2_b, kLayerNormEps, ffn_shift,
                                    ffn_lerp, 1, ws.u, s);
    }));
    LECTERN_TRY(profiled(ProfileOp::matmul, m.stream(), "gemv ffn key + relu²", [&] {
        return gemv(job(key, ws.kx, ws.ffn_hidden, GemvEpilogue::relu_square), s);
    }));
    return profiled(ProfileOp::matmul, m.stream(), "gemv ffn value + residual", [&] {
        return gemv(job(value, ws.ffn_hidden, ws.x, GemvEpilogue::add, ws.x), s);
    });
}

}  // namespace lectern::cuda
