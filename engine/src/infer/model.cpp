// Model::load: open and validate a checkpoint, then prepare its weights for the CPU forward pass
// (views for the big matrices, transposed LoRA copies, float32 vectors). Spec §1.3-§1.4.
#include <cstring>
#include <string>
#include <utility>

#include "infer/model_weights.h"

namespace lectern {
namespace {

// Looks tensors up by name and turns them into the prepared forms, failing with a one-line error
// naming the tensor.
class Preparer {
public:
    Preparer(const ModelFile& file, ModelWeights& weights) : m_file(file), m_weights(weights) {}

    Result<const TensorView*> tensor(const std::string& name, std::int64_t numel) const {
        const TensorView* t = m_file.find(name);
        if (!t) return make_error(name + ": missing");
        if (t->numel() != numel)
            return make_error(name + ": shape " + t->shape_string() + " has " +
                              std::to_string(t->numel()) + " elements, expected " +
                              std::to_string(numel));
        return t;
    }

    // A [C] vector (also [1,1,C] and [H,N] tensors), converted to float32.
    Result<void> vec(const std::string& name, std::int64_t n, FloatVec& out) const {
        auto t = tensor(name, n);
        if (!t) return t.error();
        out.resize(std::size_t(n));
        convert_to_f32((*t)->dtype, (*t)->data, out.data(), out.size());
        return {};
    }

    // An [out][in] matrix used as y = x · Wᵀ: a view into the mapping.
    Result<void> mat(const std::string& name, int rows, int cols, Matrix& out) const {
        auto t = tensor(name, std::int64_t(rows) * cols);
        if (!t) return t.error();
        out = Matrix{(*t)->dtype, rows, cols, (*t)->data};
        return {};
    }

    // A stored [rows][cols] matrix used as y = x · M: transposed into an owned [cols][rows] copy
    // in the stored dtype, so that matmul sees the nn.Linear layout.
    Result<void> mat_transposed(const std::string& name, int rows, int cols, Matrix& out) {
        auto t = tensor(name, std::int64_t(rows) * cols);
        if (!t) return t.error();
        const std::size_t es = dtype_size((*t)->dtype);
        std::vector<std::byte> copy(std::size_t(rows) * cols * es);
        const std::byte* src = (*t)->data;
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c)
                std::memcpy(copy.data() + (std::size_t(c) * rows + r) * es,
                            src + (std::size_t(r) * cols + c) * es, es);
        out = Matrix{(*t)->dtype, cols, rows, copy.data()};
        m_weights.owned.push_back(std::move(copy));
        return {};
    }

private:
    const ModelFile& m_file;
    ModelWeights& m_weights;
};

// Return the error of a Result<void> expression, if any.
#define LECTERN_TRY(expr) \
    do { \
        if (auto _r = (expr); !_r) return _r.error(); \
    } while (0)

Result<void> prepare_rwkv_block(Preparer& p, const ModelConfig& c, int i, RwkvBlockWeights& b) {
    const std::string s = c.key_prefix + "blocks." + std::to_string(i) + ".";
    const int C = c.n_embd;
    const int F = c.ffn_dim;
    LECTERN_TRY(p.vec(s + "ln1.weight", C, b.ln1_w));
    LECTERN_TRY(p.vec(s + "ln1.bias", C, b.ln1_b));
    LECTERN_TRY(p.vec(s + "ln2.weight", C, b.ln2_w));
    LECTERN_TRY(p.vec(s + "ln2.bias", C, b.ln2_b));
    LECTERN_TRY(p.vec(s + "att.x_r", C, b.x_r));
    LECTERN_TRY(p.vec(s + "att.x_w", C, b.x_w));
    LECTERN_TRY(p.vec(s + "att.x_k", C, b.x_k));
    LECTERN_TRY(p.vec(s + "att.x_v", C, b.x_v));
    LECTERN_TRY(p.vec(s + "att.x_a", C, b.x_a));
    LECTERN_TRY(p.vec(s + "att.x_g", C, b.x_g));
    LECTERN_TRY(p.vec(s + "att.w0", C, b.w0));
    LECTERN_TRY(p.vec(s + "att.a0", C, b.a0));
    LECTERN_TRY(p.vec(s + "att.k_k", C, b.k_k));
    LECTERN_TRY(p.vec(s + "att.k_a", C, b.k_a));
    LECTERN_TRY(p.vec(s + "att.r_k", C, b.r_k));
    LECTERN_TRY(p.vec(s + "att.ln_x.weight", C, b.lnx_w));
    LECTERN_TRY(p.vec(s + "att.ln_x.bias", C, b.lnx_b));
    LECTERN_TRY(p.vec(s + "ffn.x_k", C, b.ffn_x_k));
    LECTERN_TRY(p.mat_transposed(s + "att.w1", C, c.lora_decay, b.w1));
    LECTERN_TRY(p.mat_transposed(s + "att.w2", c.lora_decay, C, b.w2));
    LECTERN_TRY(p.mat_transposed(s + "att.a1", C, c.lora_iclr, b.a1));
    LECTERN_TRY(p.mat_transposed(s + "att.a2", c.lora_iclr, C, b.a2));
    LECTERN_TRY(p.mat_transposed(s + "att.g1", C, c.lora_gate, b.g1));
    LECTERN_TRY(p.mat_transposed(s + "att.g2", c.lora_gate, C, b.g2));
    if (i > 0) {  // block 0 has no value residual (it defines v_first)
        LECTERN_TRY(p.vec(s + "att.v0", C, b.v0));
        LECTERN_TRY(p.mat_transposed(s + "att.v1", C, c.lora_value, b.v1));
        LECTERN_TRY(p.mat_transposed(s + "att.v2", c.lora_value, C, b.v2));
    }
    LECTERN_TRY(p.mat(s + "att.receptance.weight", C, C, b.receptance));
    LECTERN_TRY(p.mat(s + "att.key.weight", C, C, b.key));
    LECTERN_TRY(p.mat(s + "att.value.weight", C, C, b.value));
    LECTERN_TRY(p.mat(s + "att.output.weight", C, C, b.output));
    LECTERN_TRY(p.mat(s + "ffn.key.weight", F, C, b.ffn_key));
    LECTERN_TRY(p.mat(s + "ffn.value.weight", C, F, b.ffn_value));
    return {};
}

Result<void> prepare_attn_block(Preparer& p, const ModelConfig& c, int j, AttnBlockWeights& b) {
    const std::string s = "moba." + std::to_string(j) + ".";
    const int C = c.n_embd;
    const int F = c.ffn_dim;
    LECTERN_TRY(p.vec(s + "ln1.weight", C, b.ln1_w));
    LECTERN_TRY(p.vec(s + "ln1.bias", C, b.ln1_b));
    LECTERN_TRY(p.vec(s + "ln2.weight", C, b.ln2_w));
    LECTERN_TRY(p.vec(s + "ln2.bias", C, b.ln2_b));
    LECTERN_TRY(p.vec(s + "ffn.x_k", C, b.ffn_x_k));
    LECTERN_TRY(p.mat(s + "att.receptance.weight", C, C, b.query));
    LECTERN_TRY(p.mat(s + "att.key.weight", C, C, b.key));
    LECTERN_TRY(p.mat(s + "att.value.weight", C, C, b.value));
    LECTERN_TRY(p.mat(s + "att.output.weight", C, C, b.output));
    LECTERN_TRY(p.mat(s + "ffn.key.weight", F, C, b.ffn_key));
    LECTERN_TRY(p.mat(s + "ffn.value.weight", C, F, b.ffn_value));
    return {};
}

// Shape rules the forward pass relies on beyond what infer_model_config checks.
Result<void> check_supported(const ModelConfig& c) {
    if (c.n_embd <= 0 || c.n_head <= 0 || c.head_size <= 0 || c.vocab <= 0 || c.ffn_dim <= 0)
        return make_error("model has an empty dimension");
    if (c.n_head * c.head_size != c.n_embd)
        return make_error("heads x head size (" + std::to_string(c.n_head) + " x " +
                          std::to_string(c.head_size) + ") must equal n_embd " +
                          std::to_string(c.n_embd));
    if (c.n_attn > 0 && c.head_size != 64)
        return make_error("RWKV-X requires head size 64, got " + std::to_string(c.head_size));
    if (c.n_attn > 1 && c.n_rwkv % c.n_attn != 0)
        return make_error("RWKV-X: " + std::to_string(c.n_rwkv) +
                          " RWKV blocks are not divisible by " + std::to_string(c.n_attn) +
                          " attention blocks");
    int r = 0, a = 0;
    for (char ch : c.block_order) (ch == 'A' ? a : r)++;
    if (r != c.n_rwkv || a != c.n_attn)
        return make_error("block order '" + c.block_order + "' does not match the block counts");
    return {};
}

}  // namespace

Result<void> attach_device(Model::Impl& impl) {
    if (impl.runtime.backend == Backend::cpu) return {};
    const DeviceBackend* backend = registered_device_backend(impl.runtime.backend);
    if (!backend)
        return make_error(std::string("backend ") + backend_name(impl.runtime.backend) +
                          " is not available in this build of Lectern");
    auto device = backend->load(impl);
    if (!device) return with_context("loading the model onto the GPU", device.error());
    impl.device = std::move(*device);
    return {};
}

Model::Model(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Model::~Model() = default;
const ModelConfig& Model::config() const { return m_impl->config; }
const RuntimeOptions& Model::runtime() const { return m_impl->runtime; }

Result<std::shared_ptr<const Model>> Model::load(const std::string& path,
                                                 const RuntimeOptions& runtime) {
    auto file = ModelFile::open(path);
    if (!file) return file.error();
    auto config = infer_model_config(*file);
    if (!config) return config.error();
    LECTERN_TRY(check_supported(*config));

    auto impl = std::make_unique<Impl>(std::move(*file));
    impl->config = std::move(*config);
    impl->runtime = runtime;
    const ModelConfig& c = impl->config;
    ModelWeights& w = impl->weights;
    Preparer p(impl->file, w);
    const std::string g = c.key_prefix;
    LECTERN_TRY(p.mat(g + "emb.weight", c.vocab, c.n_embd, w.emb));
    LECTERN_TRY(p.vec(g + "blocks.0.ln0.weight", c.n_embd, w.ln0_w));
    LECTERN_TRY(p.vec(g + "blocks.0.ln0.bias", c.n_embd, w.ln0_b));
    LECTERN_TRY(p.vec(g + "ln_out.weight", c.n_embd, w.ln_out_w));
    LECTERN_TRY(p.vec(g + "ln_out.bias", c.n_embd, w.ln_out_b));
    LECTERN_TRY(p.mat(g + "head.weight", c.vocab, c.n_embd, w.head));
    w.rwkv.resize(std::size_t(c.n_rwkv));
    for (int i = 0; i < c.n_rwkv; ++i) LECTERN_TRY(prepare_rwkv_block(p, c, i, w.rwkv[i]));
    w.attn.resize(std::size_t(c.n_attn));
    for (int j = 0; j < c.n_attn; ++j) LECTERN_TRY(prepare_attn_block(p, c, j, w.attn[j]));

    impl->pool = std::make_unique<ThreadPool>(runtime.threads);
    LECTERN_TRY(attach_device(*impl));
    return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

}  // namespace lectern

#undef LECTERN_TRY
