// Model::random and model_shape: random-weight models of the released shapes built in memory, for
// speed measurements without a checkpoint (lectern-cli bench --shape). Every matrix is a view into
// one shared pool of random values in the requested dtype, so host memory stays at the size of the
// largest matrix; the GPU backend uploads each matrix separately, which is what a speed
// measurement needs. Vectors are float32 constants chosen to keep activations finite.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "infer/model_weights.h"

namespace lectern {
namespace {

// LoRA rank of the RWKV-7 init formula: max(32, round(scale * C^power / 32) * 32).
int lora_rank(int C, double scale, double power) {
    return std::max(32, int(std::lround(scale * std::pow(double(C), power) / 32.0)) * 32);
}

ModelConfig shape(int n_rwkv, int n_attn, int C) {
    ModelConfig c;
    c.arch = n_attn > 0 ? Arch::rwkv_x : Arch::rwkv7;
    c.key_prefix = n_attn > 0 ? "rwkv." : "";
    c.n_rwkv = n_rwkv;
    c.n_attn = n_attn;
    c.n_embd = C;
    c.head_size = 64;
    c.n_head = C / 64;
    c.vocab = 65536;
    c.ffn_dim = 4 * C;
    c.lora_decay = lora_rank(C, 1.8, 0.5);
    c.lora_iclr = lora_rank(C, 1.8, 0.5);
    c.lora_value = lora_rank(C, 1.3, 0.5);
    c.lora_gate = lora_rank(C, 0.6, 0.8);
    const int p = n_attn > 0 ? n_rwkv / n_attn : n_rwkv;  // spec §1.1
    for (int j = 0; j < std::max(n_attn, 1); ++j) {
        c.block_order += std::string(std::size_t(p), 'R');
        if (n_attn > 0) c.block_order += 'A';
    }
    return c;
}

// Bits of one random value in `dtype`, uniform in [-scale, scale).
void fill_pool(std::vector<std::byte>& pool, DType dtype, std::size_t n, float scale,
               std::uint32_t seed) {
    const std::size_t es = dtype_size(dtype);
    pool.resize(n * es);
    std::uint64_t s = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (std::size_t i = 0; i < n; ++i) {
        s ^= s << 13;  // xorshift64: fast enough for hundreds of millions of values
        s ^= s >> 7;
        s ^= s << 17;
        const float u = float(double(s >> 11) * 0x1p-53) * 2.0f - 1.0f;
        const float f = u * scale;
        std::uint32_t bits;
        std::memcpy(&bits, &f, 4);
        std::byte* dst = pool.data() + i * es;
        if (dtype == DType::f32) {
            std::memcpy(dst, &f, 4);
        } else if (dtype == DType::bf16) {
            const std::uint16_t b = std::uint16_t(bits >> 16);  // truncation is fine for noise
            std::memcpy(dst, &b, 2);
        } else {
            const std::uint16_t h = f32_to_f16(f);
            std::memcpy(dst, &h, 2);
        }
    }
}

}  // namespace

Result<ModelConfig> model_shape(const std::string& name) {
    ModelConfig c;
    if (name == "rwkv7-0.4b") c = shape(24, 0, 1024);
    else if (name == "rwkv7-1.5b") c = shape(24, 0, 2048);
    else if (name == "rwkv7-2.9b") c = shape(32, 0, 2560);
    else if (name == "rwkvx-3.6b") c = shape(32, 8, 2560);
    else if (name == "rwkvx-tiny") {
        // Not a released shape: every code path of an RWKV-X benchmark in seconds, even on the
        // CPU emulator of the CUDA backend (tests/emu's bench smoke test).
        c = shape(2, 1, 128);
        c.vocab = 1024;
    } else
        return make_error("unknown shape '" + name +
                          "' (known: rwkv7-0.4b, rwkv7-1.5b, rwkv7-2.9b, rwkvx-3.6b, rwkvx-tiny)");
    return c;
}

Result<std::shared_ptr<const Model>> Model::random(const ModelConfig& config, DType dtype,
                                                   std::uint32_t seed,
                                                   const RuntimeOptions& runtime) {
    const ModelConfig& c = config;
    const int C = c.n_embd, F = c.ffn_dim, V = c.vocab;
    if (C <= 0 || c.n_head * c.head_size != C || F <= 0 || V <= 0 ||
        int(c.block_order.size()) != c.n_rwkv + c.n_attn)
        return make_error("Model::random: inconsistent shape");
    auto impl = std::make_unique<Impl>(ModelFile::in_memory("random:" + std::to_string(seed)));
    impl->config = c;
    impl->config.dtype = dtype;
    impl->runtime = runtime;
    ModelWeights& w = impl->weights;

    // One pool as large as the largest matrix (the embedding/head, or the FFN).
    const std::size_t pool_n = std::max(std::size_t(V) * C, std::size_t(F) * C);
    w.owned.emplace_back();
    fill_pool(w.owned.back(), dtype, pool_n, 1.0f / std::sqrt(float(C)), seed);
    const std::byte* pool = w.owned.back().data();
    std::size_t cursor = 0;
    // Successive matrices start at different offsets of the pool (different values).
    auto mat = [&](int rows, int cols) {
        const std::size_t n = std::size_t(rows) * cols;
        const std::size_t span = pool_n - n;
        const std::size_t at = span ? (cursor * 7919) % span : 0;
        ++cursor;
        return Matrix{dtype, rows, cols, pool + at * dtype_size(dtype)};
    };
    auto vec = [&](float v) { return FloatVec(std::size_t(C), v); };

    w.emb = mat(V, C);
    w.head = mat(V, C);
    w.ln0_w = vec(1.0f), w.ln0_b = vec(0.0f), w.ln_out_w = vec(1.0f), w.ln_out_b = vec(0.0f);
    w.rwkv.resize(std::size_t(c.n_rwkv));
    for (int i = 0; i < c.n_rwkv; ++i) {
        RwkvBlockWeights& b = w.rwkv[std::size_t(i)];
        b.ln1_w = b.ln2_w = b.lnx_w = vec(1.0f);
        b.ln1_b = b.ln2_b = b.lnx_b = vec(0.0f);
        b.x_r = b.x_w = b.x_k = b.x_v = b.x_a = b.x_g = b.ffn_x_k = vec(0.5f);
        b.w0 = vec(-2.0f), b.a0 = vec(0.0f), b.k_k = vec(0.85f), b.k_a = vec(1.0f);
        b.r_k = vec(0.1f);
        b.w1 = mat(c.lora_decay, C), b.w2 = mat(C, c.lora_decay);
        b.a1 = mat(c.lora_iclr, C), b.a2 = mat(C, c.lora_iclr);
        b.g1 = mat(c.lora_gate, C), b.g2 = mat(C, c.lora_gate);
        if (i > 0) {
            b.v0 = vec(1.0f);
            b.v1 = mat(c.lora_value, C), b.v2 = mat(C, c.lora_value);
        }
        b.receptance = mat(C, C), b.key = mat(C, C), b.value = mat(C, C), b.output = mat(C, C);
        b.ffn_key = mat(F, C), b.ffn_value = mat(C, F);
    }
    w.attn.resize(std::size_t(c.n_attn));
    for (AttnBlockWeights& b : w.attn) {
        b.ln1_w = b.ln2_w = vec(1.0f);
        b.ln1_b = b.ln2_b = vec(0.0f);
        b.ffn_x_k = vec(0.5f);
        b.query = mat(C, C), b.key = mat(C, C), b.value = mat(C, C), b.output = mat(C, C);
        b.ffn_key = mat(F, C), b.ffn_value = mat(C, F);
    }
    impl->config.params = 0;
    impl->pool = std::make_unique<ThreadPool>(runtime.threads);
    if (auto ok = attach_device(*impl); !ok) return ok.error();
    return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

}  // namespace lectern
