// RWKV-7 and native sparse attention blocks as chains of GPU kernels (see cuda_blocks.h); the
// order of operations follows engine/src/infer/blocks.cpp line by line.
#include "cuda_blocks.h"
#include "cuda_decode_rwkv.h"
#include "cuda_engine_common.h"
#include "cuda_profile.h"

#include <cublas_v2.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <cuda_runtime.h>
#include "lectern/cuda/cublas_api.h"

#include "cuda_check.cuh"
#include "lectern/cuda/activations.h"
#include "lectern/cuda/group_norm.h"
#include "lectern/cuda/layer_norm.h"
#include "lectern/cuda/sparse_attention.h"
#include "lectern/cuda/time_mix.h"
#include "lectern/cuda/token_shift.h"
#include "lectern/cuda/wkv7.h"

namespace lectern::cuda {
namespace {

// x += y over n floats: cuBLAS saxpy with alpha 1 (fma(1, y, x) = x + y exactly, as on the CPU).
Result<void> add_into(CudaModel& m, float* x, const float* y, std::size_t n) {
    auto api = cuda::cublas_api();  // loaded: the model's matmul context has a handle
    if (!api) return api.error();
    auto handle = static_cast<cublasHandle_t>(m.matmul_context().blas_handle());
    const float one = 1.0f;
    if ((*api)->set_stream(handle, m.stream()) != CUBLAS_STATUS_SUCCESS ||
        (*api)->saxpy(handle, int(n), &one, y, 1, x, 1) != CUBLAS_STATUS_SUCCESS)
        return make_error("cuBLAS saxpy (residual add) failed");
    return {};
}

// A LoRA hidden [T][rank] at `hidden` (inside ws.lora_hidden) for lora_inner_n: 16-bit outputs
// at the same element offset in ws.lora_rounded, float32 in place.
LoraHidden lora_hidden(float* hidden, int T, int rank, LoraInner inner, DType dtype,
                       const DeviceWorkspace& ws) {
    LoraHidden h;
    h.hidden = hidden;
    h.n = std::size_t(T) * std::size_t(rank);
    h.inner = inner;
    h.out_dtype = dtype;
    h.out = dtype == DType::f32 ? static_cast<void*>(hidden)
                                : static_cast<void*>(static_cast<std::uint16_t*>(ws.lora_rounded) +
                                                     (hidden - ws.lora_hidden));
    return h;
}

// The last row of u [T][C] becomes a token-shift state.
Result<void> keep_last_row(CudaModel& m, const float* u, int T, int C, float* state) {
    LECTERN_CUDA_TRY(cudaMemcpyAsync(state, u + std::size_t(T - 1) * C, std::size_t(C) * 4,
                                     cudaMemcpyDeviceToDevice, m.stream()));
    return {};
}

Result<void> mm(CudaModel& m, MatmulInput x, int T, const DeviceMatrix& w, float* y) {
    ProfileScope p(ProfileOp::matmul, m.stream(), w.rows, w.cols);
    return matmul(m.matmul_context(), x, T, w, y, m.stream());
}
Result<void> mm(CudaModel& m, const float* x, int T, const DeviceMatrix& w, float* y) {
    return mm(m, MatmulInput{x, DType::f32}, T, w, y);
}

// LECTERN_CUDA_RESIDUAL=add: the residual adds of a prefill as their own pass again (for A/B).
bool residual_in_epilogue() {
    static const bool on = [] {
        const char* v = std::getenv("LECTERN_CUDA_RESIDUAL");
        return !(v && std::string_view(v) == "add");
    }();
    return on;
}

// The residual stream x += input · Wᵀ (an output product). Prefill: in the product's epilogue
// (matmul_accumulate), which saves a pass over x, the product and x again, and a launch. A
// one-token call (here only without the fused decode) has no epilogue to use: the product into
// ws.out, then the add.
Result<void> mm_residual(CudaModel& m, MatmulInput x, int T, const DeviceMatrix& w) {
    const DeviceWorkspace& ws = m.workspace();
    if (T > 1 && residual_in_epilogue()) {
        ProfileScope p(ProfileOp::matmul, m.stream(), w.rows, w.cols);
        return matmul_accumulate(m.matmul_context(), x, T, w, ws.x, m.stream());
    }
    LECTERN_TRY(mm(m, x, T, w, ws.out));
    return profiled(ProfileOp::elementwise, m.stream(), "residual add", [&] {
        return add_into(m, ws.x, ws.out, std::size_t(T) * std::size_t(w.rows));
    });
}

// u = LN2(x) (already computed), out = relu(kx · Wkᵀ)² · Wvᵀ with kx the shifted u; shift := last
// row of u; x += out. Spec §2.5. The two products' inputs are written already rounded to their
// weights' dtype (matmul_input_dtype), which saves each product its rounding pass.
Result<void> channel_mix(CudaModel& m, int T, const float* x_k, const DeviceMatrix& key,
                         const DeviceMatrix& value, float* ffn_shift) {
    const DeviceWorkspace& ws = m.workspace();
    const int C = m.config().n_embd;
    const DType kx_dtype = matmul_input_dtype(key, T);
    LECTERN_TRY(profiled(ProfileOp::elementwise, m.stream(), "ffn token shift + lerp", [&] {
        const TokenShiftLerp lerp{x_k, ws.kx, kx_dtype};
        return token_shift_mix_n(ws.u, ffn_shift, T, C, &lerp, 1, m.stream());
    }));
    LECTERN_TRY(profiled(ProfileOp::elementwise, m.stream(), "keep last row",
                         [&] { return keep_last_row(m, ws.u, T, C, ffn_shift); }));
    LECTERN_TRY(mm(m, MatmulInput{ws.kx, kx_dtype}, T, key, ws.ffn_hidden));
    const DType hidden_dtype = matmul_input_dtype(value, T);
    // float32: in place, as before; 16-bit: into its own buffer (half the bytes of a row).
    void* hidden = hidden_dtype == DType::f32 ? static_cast<void*>(ws.ffn_hidden) : ws.ffn_rounded;
    LECTERN_TRY(profiled(ProfileOp::elementwise, m.stream(), "relu²", [&] {
        const std::size_t n = std::size_t(T) * key.rows;
        return hidden_dtype == DType::f32
                   ? relu_square(ws.ffn_hidden, n, m.stream())
                   : relu_square_to(ws.ffn_hidden, n, hidden_dtype, hidden, m.stream());
    }));
    return mm_residual(m, MatmulInput{hidden, hidden_dtype}, T, value);
}

}  // namespace

Result<void> rwkv_block_forward(CudaModel& m, const DeviceRwkvBlock& b, bool first, int T,
                                float* att_shift, float* wkv, float* ffn_shift) {
    if (T == 1 && fused_decode_enabled())  // ~8 launches instead of ~28 (cuda_decode_rwkv.h)
        return rwkv_block_decode(m, b, first, att_shift, wkv, ffn_shift);
    const ModelConfig& c = m.config();
    const int C = c.n_embd, H = c.n_head, N = c.head_size;
    const DeviceWorkspace& ws = m.workspace();

    // Time mix (§2.2-§2.4).
    LECTERN_TRY(profiled(ProfileOp::norm, m.stream(), "layer norm", [&] {
        return layer_norm(ws.x, T, C, b.ln1_w, b.ln1_b, kLayerNormEps, ws.u, m.stream());
    }));
    // The six lerps are only products' inputs: each is written rounded to its product's weight
    // dtype (matmul_input_dtype), which saves the products their rounding passes. x_v feeds two
    // (the value, and the value-residual LoRA after block 0): rounded only if they agree.
    DType xv_dtype = matmul_input_dtype(b.value, T);
    if (!first && matmul_input_dtype(b.v1, T) != xv_dtype) xv_dtype = DType::f32;
    const TokenShiftLerp lerps[] = {{b.x_r, ws.xr, matmul_input_dtype(b.receptance, T)},
                                    {b.x_w, ws.xw, matmul_input_dtype(b.w1, T)},
                                    {b.x_k, ws.xk, matmul_input_dtype(b.key, T)},
                                    {b.x_v, ws.xv, xv_dtype},
                                    {b.x_a, ws.xa, matmul_input_dtype(b.a1, T)},
                                    {b.x_g, ws.xg, matmul_input_dtype(b.g1, T)}};
    LECTERN_TRY(profiled(ProfileOp::elementwise, m.stream(), "token shift + 6 lerps", [&] {
        return token_shift_mix_n(ws.u, att_shift, T, C, lerps, 6, m.stream());
    }));
    const auto input = [](const TokenShiftLerp& l) { return MatmulInput{l.out, l.out_dtype}; };
    LECTERN_TRY(profiled(ProfileOp::elementwise, m.stream(), "keep last row",
                         [&] { return keep_last_row(m, ws.u, T, C, att_shift); }));

    float* hw = ws.lora_hidden;
    float* ha = hw + std::size_t(T) * b.w1.rows;
    float* hg = ha + std::size_t(T) * b.a1.rows;
    float* hv = hg + std::size_t(T) * b.g1.rows;
    LECTERN_TRY(mm(m, input(lerps[0]), T, b.receptance, ws.r));
    LECTERN_TRY(mm(m, input(lerps[2]), T, b.key, ws.k));
    LECTERN_TRY(mm(m, input(lerps[3]), T, b.value, ws.v));
    LECTERN_TRY(mm(m, input(lerps[1]), T, b.w1, hw));
    LECTERN_TRY(mm(m, input(lerps[4]), T, b.a1, ha));
    LECTERN_TRY(mm(m, input(lerps[5]), T, b.g1, hg));
    if (!first) LECTERN_TRY(mm(m, input(lerps[3]), T, b.v1, hv));
    // The LoRA hiddens through their activations (tanh for the decay, sigmoid for the gate) and
    // rounded to their up products' weight dtype, in one launch: into lora_rounded, each at the
    // offset of its float32 rows (16-bit: half the bytes), or float32 in place.
    const LoraHidden hiddens[] = {
        lora_hidden(hw, T, b.w1.rows, LoraInner::tanh, matmul_input_dtype(b.w2, T), ws),
        lora_hidden(ha, T, b.a1.rows, LoraInner::none, matmul_input_dtype(b.a2, T), ws),
        lora_hidden(hg, T, b.g1.rows, LoraInner::sigmoid, matmul_input_dtype(b.g2, T), ws),
        lora_hidden(hv, T, b.v1.rows, LoraInner::none, matmul_input_dtype(b.v2, T), ws)};
    const int n_hiddens = first ? 3 : 4;  // block 0 has no value-residual LoRA
    LECTERN_TRY(profiled(ProfileOp::elementwise, m.stream(), "lora activations",
                         [&] { return lora_inner_n(hiddens, n_hiddens, m.stream()); }));
    const auto lora_input = [](const LoraHidden& h) { return MatmulInput{h.out, h.out_dtype}; };
    LECTERN_TRY(mm(m, lora_input(hiddens[0]), T, b.w2, ws.w));
    LECTERN_TRY(mm(m, lora_input(hiddens[1]), T, b.a2, ws.a));
    LECTERN_TRY(mm(m, lora_input(hiddens[2]), T, b.g2, ws.g));
    if (!first) LECTERN_TRY(mm(m, lora_input(hiddens[3]), T, b.v2, ws.vg));

    TimeMixVectors vecs;
    vecs.w0 = b.w0;
    vecs.a0 = b.a0;
    vecs.v0 = first ? nullptr : b.v0;
    vecs.k_k = b.k_k;
    vecs.k_a = b.k_a;
    LECTERN_TRY(profiled(ProfileOp::elementwise, m.stream(), "time-mix prepare", [&] {
        return time_mix_prepare(T, H, N, vecs, first, ws.w, ws.a, ws.k, ws.v,
                                first ? nullptr : ws.vg, ws.v_first, ws.alpha, ws.beta, m.stream());
    }));
    if (T == 1)
        LECTERN_TRY(profiled(ProfileOp::wkv7, m.stream(), "step", [&] {
            return wkv7_step(H, N, ws.r, ws.w, ws.k, ws.v, ws.alpha, ws.beta, wkv, ws.y,
                             m.stream());
        }));
    else
        LECTERN_TRY(profiled(ProfileOp::wkv7, m.stream(), "prefill", [&] {
            return wkv7_prefill(T, H, N, ws.r, ws.w, ws.k, ws.v, ws.alpha, ws.beta, wkv, ws.y,
                                m.stream(), ws.wkv_prep);
        }));
    // The output product's input, rounded to its weights' dtype into xr (free since the
    // receptance product), or float32 in place.
    const DType normed_dtype = matmul_input_dtype(b.output, T);
    void* normed = normed_dtype == DType::f32 ? static_cast<void*>(ws.y) : ws.xr;
    LECTERN_TRY(profiled(ProfileOp::norm, m.stream(), "group norm + bonus + gate", [&] {
        return group_norm_bonus_gate(T, H, N, ws.y, b.lnx_w, b.lnx_b, kGroupNormEps, ws.r, ws.k,
                                     ws.v, b.r_k, ws.g, normed, normed_dtype, m.stream());
    }));
    LECTERN_TRY(mm_residual(m, MatmulInput{normed, normed_dtype}, T, b.output));

    // Channel mix (§2.5).
    LECTERN_TRY(profiled(ProfileOp::norm, m.stream(), "layer norm", [&] {
        return layer_norm(ws.x, T, C, b.ln2_w, b.ln2_b, kLayerNormEps, ws.u, m.stream());
    }));
    return channel_mix(m, T, b.ffn_x_k, b.ffn_key, b.ffn_value, ffn_shift);
}

Result<void> attn_block_forward(CudaModel& m, CudaState& st, int j, const DeviceAttnBlock& b,
                                const AttentionOptions& options, const KvCache::Impl* host, int p0,
                                int T, float* ffn_shift) {
    const ModelConfig& c = m.config();
    const int C = c.n_embd;
    const DeviceWorkspace& ws = m.workspace();

    if (!options.bypass && st.paged()) {
        if (!host) return make_error("paged attention without its host KV cache");
        LECTERN_TRY(profiled(ProfileOp::norm, m.stream(), "layer norm", [&] {
            return layer_norm(ws.x, T, C, b.ln1_w, b.ln1_b, kLayerNormEps, ws.u, m.stream());
        }));
        LECTERN_TRY(profiled(ProfileOp::attention, m.stream(), "paged",
                             [&] { return paged_attention(m, st, j, b, options, *host, p0, T); }));
        LECTERN_TRY(mm_residual(m, MatmulInput{ws.y, DType::f32}, T, b.output));
    } else if (!options.bypass) {
        KvMirror& kv = st.kv(j);
        float* keys = static_cast<float*>(kv.keys.data());
        float* values = static_cast<float*>(kv.values.data());
        const std::size_t at = std::size_t(p0) * C;
        LECTERN_TRY(profiled(ProfileOp::norm, m.stream(), "layer norm", [&] {
            return layer_norm(ws.x, T, C, b.ln1_w, b.ln1_b, kLayerNormEps, ws.u, m.stream());
        }));
        // k and v go straight into the mirror: the new tokens' rows [p0, p0 + T).
        LECTERN_TRY(mm(m, ws.u, T, b.query, ws.r));
        LECTERN_TRY(mm(m, ws.u, T, b.key, keys + at));
        LECTERN_TRY(mm(m, ws.u, T, b.value, values + at));
        // Chunks completed by these rows are candidates for the later queries of the call, as
        // on the CPU (native_attention.cpp).
        LECTERN_TRY(profiled(ProfileOp::attention, m.stream(), "chunk means",
                             [&] { return st.update_means(j, std::int64_t(p0) + T); }));
        SparseAttentionShape shape;
        shape.n_head = c.n_head;
        shape.chunk_size = options.chunk_size;
        shape.top_k = options.top_k;
        const auto scratch = m.attention_scratch(sparse_attention_scratch_bytes(T, p0, shape));
        LECTERN_TRY(profiled(ProfileOp::attention, m.stream(), "select + attend", [&] {
            return sparse_attention(ws.r, T, p0, keys, values,
                                    static_cast<const float*>(kv.means.data()), shape, ws.selected,
                                    ws.y, m.stream(), scratch);
        }));
        if (m.tracing() && shape.top_k > 1) {
            LECTERN_TRY(sparse_attention_chunk_weights(ws.r, T, p0, keys, nullptr, ws.selected,
                                                       shape, ws.trace_weights, m.stream()));
            LECTERN_TRY(m.record_trace_rows(j, T, shape.top_k, ws.selected, ws.trace_weights));
        }
        LECTERN_TRY(mm_residual(m, MatmulInput{ws.y, DType::f32}, T, b.output));
    }

    if (T == 1 && fused_decode_enabled())
        return channel_mix_decode(m, b.ln2_w, b.ln2_b, b.ffn_x_k, b.ffn_key, b.ffn_value,
                                  ffn_shift);
    LECTERN_TRY(profiled(ProfileOp::norm, m.stream(), "layer norm", [&] {
        return layer_norm(ws.x, T, C, b.ln2_w, b.ln2_b, kLayerNormEps, ws.u, m.stream());
    }));
    return channel_mix(m, T, b.ffn_x_k, b.ffn_key, b.ffn_value, ffn_shift);
}

}  // namespace lectern::cuda
