// infer_model_config: read the model's dimensions from a few tensors (spec §1.3), then check
// every tensor of every block against them, so that the kernels never see a surprising shape.
#include "lectern/model_config.h"

#include <map>
#include <set>
#include <unordered_set>

#include "model/byte_reader.h"

namespace lectern {

std::string_view arch_name(Arch a) {
    return a == Arch::rwkv7 ? "rwkv7" : "rwkv-x";
}

namespace {

using Shape = std::vector<std::int64_t>;

std::string shape_string(const Shape& s) {
    TensorView v;
    v.shape = s;
    return v.shape_string();
}

// "12" -> 12; rejects signs, leading zeros and absurd indices.
bool parse_index(std::string_view s, int& out) {
    if (s.empty() || s.size() > 6 || (s.size() > 1 && s[0] == '0')) return false;
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    return true;
}

// Indices i of every tensor named "<group>i.<rest>".
Result<int> count_blocks(const ModelFile& file, const std::string& group) {
    std::set<int> seen;
    for (const TensorView& t : file.tensors()) {
        if (!t.name.starts_with(group)) continue;
        const std::string_view rest = std::string_view(t.name).substr(group.size());
        int i = 0;
        const std::size_t dot = rest.find('.');
        if (dot != rest.npos && parse_index(rest.substr(0, dot), i)) seen.insert(i);
    }
    int expect = 0;
    for (int i : seen) {
        if (i != expect)
            return make_error(group + std::to_string(expect) + ": missing (found " + group +
                              std::to_string(i) + ", blocks must be numbered from 0 without gaps)");
        ++expect;
    }
    return expect;
}

// The dimension `axis` of a tensor that must be present with `ndim` dimensions.
Result<int> dim_of(const ModelFile& file, const std::string& name, std::size_t ndim,
                   std::size_t axis) {
    const TensorView* t = file.find(name);
    if (t == nullptr) return make_error(name + ": missing");
    if (t->shape.size() != ndim)
        return make_error(name + ": shape " + t->shape_string() + ", expected " +
                          std::to_string(ndim) + " dimensions");
    const std::int64_t d = t->shape[axis];
    if (d <= 0 || d > (1 << 24))
        return make_error(name + ": shape " + t->shape_string() + " has an unusable dimension");
    return static_cast<int>(d);
}

struct ExpectedTensor {
    std::string name;
    Shape shape;
    bool optional = false;
};

class ShapeTable {
  public:
    ShapeTable(const ModelConfig& c) : m_c(c) {}
    void add(std::string name, Shape shape, bool optional = false) {
        m_list.push_back({std::move(name), std::move(shape), optional});
    }
    void add_rwkv_block(const std::string& p, int i);
    void add_attn_block(const std::string& p);
    const std::vector<ExpectedTensor>& list() const { return m_list; }

  private:
    const ModelConfig& m_c;
    std::vector<ExpectedTensor> m_list;
};

void ShapeTable::add_rwkv_block(const std::string& p, int i) {
    const std::int64_t C = m_c.n_embd;
    const Shape vec = {1, 1, C};
    for (const char* n : {"ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"}) add(p + n, {C});
    for (const char* n : {"att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g",
                          "att.w0", "att.a0", "att.k_k", "att.k_a"})
        add(p + n, vec);
    add(p + "att.w1", {C, m_c.lora_decay});
    add(p + "att.w2", {m_c.lora_decay, C});
    add(p + "att.a1", {C, m_c.lora_iclr});
    add(p + "att.a2", {m_c.lora_iclr, C});
    // Block 0 has no value-residual LoRA; BlinkDL files omit it, some writers keep a dummy.
    const bool optional = i == 0;
    add(p + "att.v0", vec, optional);
    add(p + "att.v1", {C, m_c.lora_value}, optional);
    add(p + "att.v2", {m_c.lora_value, C}, optional);
    add(p + "att.g1", {C, m_c.lora_gate});
    add(p + "att.g2", {m_c.lora_gate, C});
    add(p + "att.r_k", {m_c.n_head, m_c.head_size});
    for (const char* n :
         {"att.receptance.weight", "att.key.weight", "att.value.weight", "att.output.weight"})
        add(p + n, {C, C});
    add(p + "att.ln_x.weight", {C});
    add(p + "att.ln_x.bias", {C});
    add(p + "ffn.x_k", vec);
    add(p + "ffn.key.weight", {m_c.ffn_dim, C});
    add(p + "ffn.value.weight", {C, m_c.ffn_dim});
}

void ShapeTable::add_attn_block(const std::string& p) {
    const std::int64_t C = m_c.n_embd;
    for (const char* n : {"ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"}) add(p + n, {C});
    for (const char* n :
         {"att.receptance.weight", "att.key.weight", "att.value.weight", "att.output.weight"})
        add(p + n, {C, C});
    add(p + "ffn.x_k", {1, 1, C});
    add(p + "ffn.key.weight", {m_c.ffn_dim, C});
    add(p + "ffn.value.weight", {C, m_c.ffn_dim});
}

// [1,1,C] vectors are also accepted as [C] (the official loaders squeeze them anyway).
bool shape_matches(const Shape& actual, const Shape& expected) {
    if (actual == expected) return true;
    return expected.size() == 3 && expected[0] == 1 && expected[1] == 1 && actual.size() == 1 &&
           actual[0] == expected[2];
}

Result<void> check_tensors(const ModelFile& file, const std::vector<ExpectedTensor>& expected) {
    std::unordered_set<std::string_view> known;
    for (const ExpectedTensor& e : expected) {
        known.insert(e.name);
        const TensorView* t = file.find(e.name);
        if (t == nullptr) {
            if (e.optional) continue;
            return make_error(e.name + ": missing");
        }
        if (!shape_matches(t->shape, e.shape))
            return make_error(e.name + ": shape " + t->shape_string() + ", expected " +
                              shape_string(e.shape));
    }
    for (const TensorView& t : file.tensors())
        if (!known.count(t.name))
            return make_error("unexpected tensor " + bytes::printable(t.name));
    return {};
}

std::string block_order(int n_rwkv, int n_attn) {
    if (n_attn == 0) return std::string(std::size_t(n_rwkv), 'R');
    if (n_attn == 1) return std::string(std::size_t(n_rwkv), 'R') + 'A';
    const int p = n_rwkv / n_attn;
    std::string order;
    for (int j = 0; j < n_attn; ++j) order += std::string(std::size_t(p), 'R') + 'A';
    return order;
}

// Read C, V, (H, N), LoRA and FFN dimensions from the tensors the loaders use for them.
Result<void> read_dims(const ModelFile& file, ModelConfig& c) {
    const std::string& p = c.key_prefix;
    auto C = dim_of(file, p + "emb.weight", 2, 1);
    auto V = dim_of(file, p + "head.weight", 2, 0);
    auto H = dim_of(file, p + "blocks.0.att.r_k", 2, 0);
    auto N = dim_of(file, p + "blocks.0.att.r_k", 2, 1);
    auto Dw = dim_of(file, p + "blocks.0.att.w1", 2, 1);
    auto Da = dim_of(file, p + "blocks.0.att.a1", 2, 1);
    auto Dg = dim_of(file, p + "blocks.0.att.g1", 2, 1);
    auto F = dim_of(file, p + "blocks.0.ffn.key.weight", 2, 0);
    for (const Result<int>* r : {&C, &V, &H, &N, &Dw, &Da, &Dg, &F})
        if (!*r) return r->error();
    c.n_embd = *C;
    c.vocab = *V;
    c.n_head = *H;
    c.head_size = *N;
    c.lora_decay = *Dw;
    c.lora_iclr = *Da;
    c.lora_gate = *Dg;
    c.ffn_dim = *F;
    // Dv is only defined from block 1 on; a one-block model may carry it in block 0 or not at all.
    const std::string v1 = p + (c.n_rwkv > 1 ? "blocks.1.att.v1" : "blocks.0.att.v1");
    if (c.n_rwkv > 1 || file.find(v1) != nullptr) {
        auto Dv = dim_of(file, v1, 2, 1);
        if (!Dv) return Dv.error();
        c.lora_value = *Dv;
    }
    if (std::int64_t(c.n_head) * c.head_size != c.n_embd)
        return make_error(p + "blocks.0.att.r_k: shape [" + std::to_string(c.n_head) + "," +
                          std::to_string(c.head_size) + "], heads x head size must equal n_embd " +
                          std::to_string(c.n_embd));
    return {};
}

}  // namespace

Result<ModelConfig> infer_model_config(const ModelFile& file) {
    ModelConfig c;
    if (file.find("rwkv.emb.weight") != nullptr)
        c.key_prefix = "rwkv.";
    else if (file.find("emb.weight") == nullptr)
        return make_error("emb.weight: missing (not an RWKV-7 or RWKV-X checkpoint)");

    auto n_rwkv = count_blocks(file, c.key_prefix + "blocks.");
    if (!n_rwkv) return n_rwkv.error();
    auto n_attn = count_blocks(file, "moba.");
    if (!n_attn) return n_attn.error();
    c.n_rwkv = *n_rwkv;
    c.n_attn = *n_attn;
    c.arch = (c.key_prefix == "rwkv." || c.n_attn > 0) ? Arch::rwkv_x : Arch::rwkv7;
    if (c.n_rwkv == 0) return make_error(c.key_prefix + "blocks.0: missing (no RWKV blocks)");

    auto dims = read_dims(file, c);
    if (!dims) return dims.error();
    if (c.arch == Arch::rwkv_x) {
        // The attention blocks hard-code C/64 heads, so both block kinds only agree at N = 64.
        if (c.head_size != 64)
            return make_error("RWKV-X requires head size 64, got " + std::to_string(c.head_size) +
                              " (" + c.key_prefix + "blocks.0.att.r_k)");
        if (c.n_attn > 0 && c.n_rwkv % c.n_attn != 0)
            return make_error("RWKV-X: " + std::to_string(c.n_rwkv) +
                              " RWKV blocks cannot be split evenly between " +
                              std::to_string(c.n_attn) + " attention blocks");
    }

    ShapeTable table(c);
    const std::string& p = c.key_prefix;
    table.add(p + "emb.weight", {c.vocab, c.n_embd});
    table.add(p + "blocks.0.ln0.weight", {c.n_embd});
    table.add(p + "blocks.0.ln0.bias", {c.n_embd});
    for (int i = 0; i < c.n_rwkv; ++i)
        table.add_rwkv_block(p + "blocks." + std::to_string(i) + ".", i);
    for (int j = 0; j < c.n_attn; ++j) table.add_attn_block("moba." + std::to_string(j) + ".");
    table.add(p + "ln_out.weight", {c.n_embd});
    table.add(p + "ln_out.bias", {c.n_embd});
    table.add(p + "head.weight", {c.vocab, c.n_embd});
    auto checked = check_tensors(file, table.list());
    if (!checked) return checked.error();

    c.block_order = block_order(c.n_rwkv, c.n_attn);
    std::map<DType, std::int64_t> per_dtype;
    for (const TensorView& t : file.tensors()) {
        c.params += t.numel();
        per_dtype[t.dtype] += t.numel();
    }
    std::int64_t most = -1;
    for (const auto& [dtype, count] : per_dtype) {
        if (count > most) {
            most = count;
            c.dtype = dtype;
        }
    }
    c.mixed_dtype = per_dtype.size() > 1;
    return c;
}

}  // namespace lectern
