// CudaModel: uploading the weights once (matrices keep their stored dtype f32/f16/bf16, which the
// GPU matmul reads directly; vectors float32), the scratch for a segment of tokens (its length:
// cuda_model.h), and the KV memory budget.
#include "cuda_model.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cuda_check.cuh"
#include "cuda_kv_pages.h"
#include "cuda_state.h"
#include "lectern/cuda/sparse_attention.h"
#include "lectern/cuda/wkv7.h"

namespace lectern::cuda {
namespace {

constexpr std::size_t kAlign = 256;

std::size_t align_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Two passes over the weights: first every piece records its size and where its device pointer
// goes, then one allocation and one copy per piece.
class WeightPacker {
public:
    void vec(const FloatVec& v, const float** dst) {
        if (v.empty()) return;  // absent (v0 of block 0): stays null
        add(v.data(), v.size() * sizeof(float), reinterpret_cast<const void**>(dst));
    }
    void mat(const Matrix& m, DeviceMatrix& dst) {
        dst.dtype = m.dtype;
        dst.rows = m.rows;
        dst.cols = m.cols;
        if (!m.data) return;  // unset (v1/v2 of block 0)
        add(m.data, std::size_t(m.rows) * std::size_t(m.cols) * dtype_size(m.dtype), &dst.data);
    }
    std::size_t bytes() const { return m_total; }

    Result<void> upload(DeviceBuffer& buffer) {
        auto* base = static_cast<std::byte*>(buffer.data());
        for (const Piece& p : m_pieces) {
            LECTERN_CUDA_TRY(cudaMemcpy(base + p.offset, p.host, p.bytes, cudaMemcpyHostToDevice));
            *p.dst = base + p.offset;
        }
        return {};
    }

private:
    struct Piece {
        const void* host;
        std::size_t bytes, offset;
        const void** dst;
    };
    void add(const void* host, std::size_t bytes, const void** dst) {
        m_pieces.push_back({host, bytes, m_total, dst});
        m_total = align_up(m_total + bytes);
    }
    std::vector<Piece> m_pieces;
    std::size_t m_total = 0;
};

// The LoRA hiddens' columns per row of the workspace (each at least 1, as the blocks lay them out).
std::size_t lora_ranks(const ModelConfig& c) {
    return std::size_t(std::max(c.lora_decay, 1) + std::max(c.lora_iclr, 1) +
                       std::max(c.lora_value, 1) + std::max(c.lora_gate, 1));
}

// RuntimeOptions::cuda_graphs, overridden by the environment variable LECTERN_CUDA_GRAPHS ("1":
// on, "0": off), read at load, so that a GPU session can switch decode graphs for any program
// (tests, bench, the app) without a rebuild.
bool graphs_wanted(const RuntimeOptions& runtime) {
    const char* v = std::getenv("LECTERN_CUDA_GRAPHS");
    if (v && std::string_view(v) == "1") return true;
    if (v && std::string_view(v) == "0") return false;
    return runtime.cuda_graphs;
}

}  // namespace

int segment_rows_override() {
    static const int rows = [] {
        const char* v = std::getenv("LECTERN_CUDA_SEGMENT_ROWS");
        if (!v) return 0;
        char* end = nullptr;
        const long n = std::strtol(v, &end, 10);
        if (end == v || *end != '\0' || n < 16 || n > 16384) {
            std::fprintf(stderr, "lectern: LECTERN_CUDA_SEGMENT_ROWS=%s ignored (16 to 16384)\n",
                         v);
            return 0;
        }
        return int(n / 16 * 16);
    }();
    return rows;
}

int segment_rows() {
    const int forced = segment_rows_override();
    return forced > 0 ? forced : kSegmentRows;
}

Result<std::unique_ptr<DeviceModel>> CudaModel::create(const Model::Impl& model) {
    std::unique_ptr<CudaModel> m(new CudaModel(model));
    m->m_graphs_enabled = graphs_wanted(model.runtime);
    // Wide segments for an RWKV-7 model unless the environment sets the length (kWideSegmentRows;
    // the scratch's size is checked below, once the weights are on the device).
    const bool wide = segment_rows_override() == 0 && model.config.n_attn == 0;
    m->m_segment_rows = wide ? kWideSegmentRows : segment_rows();
    for (auto* events : {&m->m_rows_copied, &m->m_embed_uploaded})
        for (cudaEvent_t& e : *events)
            LECTERN_CUDA_TRY(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    auto info = device_info();
    if (!info) return info.error();
    m->m_info = *info;
    if (auto ok = m->upload_weights(); !ok) return ok.error();
    auto context = MatmulContext::create();
    if (!context) return context.error();
    m->m_matmul = std::move(*context);
    if (wide) {
        // Wide only where the scratch takes at most a quarter of what the weights left free, and
        // of what a memory budget leaves them (other processes, the driver and cuBLAS keep their
        // share; a budget that fits the usual scratch must keep fitting); else, or if the
        // allocation fails, the usual length.
        std::size_t free = 0, total = 0;
        LECTERN_CUDA_TRY(cudaMemGetInfo(&free, &total));
        std::size_t room = free;
        if (const std::size_t budget = model.runtime.gpu_memory_budget; budget > 0)
            room = std::min(room, budget > m->m_weight_bytes ? budget - m->m_weight_bytes : 0);
        if (m->workspace_bytes() > room / 4) m->m_segment_rows = kSegmentRows;
    }
    if (auto ok = m->allocate_workspace(); !ok) {
        if (m->m_segment_rows == kSegmentRows || !wide) return ok.error();
        cudaGetLastError();  // an allocation failure is not sticky
        m->m_segment_rows = kSegmentRows;
        if (auto again = m->allocate_workspace(); !again) return again.error();
    }

    // The KV mirrors get what the budget leaves after weights and scratch; without a budget, 90%
    // of the memory still free (the driver, cuBLAS and other processes keep the rest).
    std::size_t free = 0, total = 0;
    LECTERN_CUDA_TRY(cudaMemGetInfo(&free, &total));
    const std::size_t used = m->m_weight_bytes + m->m_work.size();
    const std::size_t budget = model.runtime.gpu_memory_budget;
    if (budget > 0) {
        if (budget < used)
            return make_error("the GPU memory budget of " + memory_size(budget) +
                              " is smaller than the " + memory_size(used) +
                              " the weights and scratch need");
        m->m_kv_budget = std::min(budget - used, free);
    } else {
        m->m_kv_budget = std::size_t(double(free) * 0.9);
    }
    return std::unique_ptr<DeviceModel>(std::move(m));
}

// MiB below a GiB: a small model's budget would read "0.01 GiB".
std::string memory_size(std::size_t bytes) {
    char buf[32];
    if (bytes >= (1ull << 30))
        std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(1ull << 30));
    else
        std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1ull << 20));
    return buf;
}

CudaModel::~CudaModel() {
    if (m_capture_stream) cudaStreamDestroy(m_capture_stream);
    for (cudaEvent_t e : m_rows_copied)
        if (e) cudaEventDestroy(e);
    for (cudaEvent_t e : m_embed_uploaded)
        if (e) cudaEventDestroy(e);
}

std::string CudaModel::describe() const {
    return m_info.name + ", " + memory_size(m_weight_bytes) + " of weights, " +
           memory_size(m_work.size()) + " of scratch for segments of " +
           std::to_string(m_segment_rows) + " tokens, " + memory_size(m_kv_budget) +
           " for KV rows";
}

Result<void> CudaModel::upload_weights() {
    const ModelWeights& w = m_model.weights;
    WeightPacker p;
    p.vec(w.ln0_w, &m_ln0_w);
    p.vec(w.ln0_b, &m_ln0_b);
    p.vec(w.ln_out_w, &m_ln_out_w);
    p.vec(w.ln_out_b, &m_ln_out_b);
    p.mat(w.head, m_head);
    // The embedding stays on the host: a call converts only its tokens' rows (cuda_forward.cpp).
    m_rwkv.resize(w.rwkv.size());
    for (std::size_t i = 0; i < w.rwkv.size(); ++i) {
        const RwkvBlockWeights& b = w.rwkv[i];
        DeviceRwkvBlock& d = m_rwkv[i];
        for (auto [src, dst] : {std::pair{&b.ln1_w, &d.ln1_w}, {&b.ln1_b, &d.ln1_b},
                                {&b.ln2_w, &d.ln2_w}, {&b.ln2_b, &d.ln2_b}, {&b.x_r, &d.x_r},
                                {&b.x_w, &d.x_w}, {&b.x_k, &d.x_k}, {&b.x_v, &d.x_v},
                                {&b.x_a, &d.x_a}, {&b.x_g, &d.x_g}, {&b.w0, &d.w0},
                                {&b.a0, &d.a0}, {&b.v0, &d.v0}, {&b.k_k, &d.k_k},
                                {&b.k_a, &d.k_a}, {&b.r_k, &d.r_k}, {&b.lnx_w, &d.lnx_w},
                                {&b.lnx_b, &d.lnx_b}, {&b.ffn_x_k, &d.ffn_x_k}})
            p.vec(*src, dst);
        for (auto [src, dst] :
             {std::pair{&b.w1, &d.w1}, {&b.w2, &d.w2}, {&b.a1, &d.a1}, {&b.a2, &d.a2},
              {&b.v1, &d.v1}, {&b.v2, &d.v2}, {&b.g1, &d.g1}, {&b.g2, &d.g2},
              {&b.receptance, &d.receptance}, {&b.key, &d.key}, {&b.value, &d.value},
              {&b.output, &d.output}, {&b.ffn_key, &d.ffn_key}, {&b.ffn_value, &d.ffn_value}})
            p.mat(*src, *dst);
    }
    m_attn.resize(w.attn.size());
    for (std::size_t j = 0; j < w.attn.size(); ++j) {
        const AttnBlockWeights& b = w.attn[j];
        DeviceAttnBlock& d = m_attn[j];
        for (auto [src, dst] : {std::pair{&b.ln1_w, &d.ln1_w}, {&b.ln1_b, &d.ln1_b},
                                {&b.ln2_w, &d.ln2_w}, {&b.ln2_b, &d.ln2_b},
                                {&b.ffn_x_k, &d.ffn_x_k}})
            p.vec(*src, dst);
        for (auto [src, dst] : {std::pair{&b.query, &d.query}, {&b.key, &d.key},
                                {&b.value, &d.value}, {&b.output, &d.output},
                                {&b.ffn_key, &d.ffn_key}, {&b.ffn_value, &d.ffn_value}})
            p.mat(*src, *dst);
    }
    auto buffer = DeviceBuffer::allocate(p.bytes());
    if (!buffer)
        return with_context(
            "allocating " + memory_size(p.bytes()) + " of GPU memory for the weights",
            buffer.error());
    m_weights = std::move(*buffer);
    m_weight_bytes = p.bytes();
    return p.upload(m_weights);
}

std::size_t CudaModel::workspace_bytes() const {
    return workspace_layout(nullptr, nullptr);
}

Result<void> CudaModel::allocate_workspace() {
    const std::size_t total = workspace_layout(nullptr, nullptr);
    auto buffer = DeviceBuffer::allocate(total);
    if (!buffer)
        return with_context("allocating " + memory_size(total) + " of GPU scratch", buffer.error());
    m_work = std::move(*buffer);
    workspace_layout(static_cast<std::byte*>(m_work.data()), &m_ws);
    // GEMM inputs not written pre-rounded by their producer are rounded to 16 bits in the matmul
    // scratch: [S][C] or a LoRA's [S][rank] (the FFN's [S][F] one comes rounded, in ffn_rounded);
    // reserving now keeps allocations out of the calls.
    const ModelConfig& c = m_model.config;
    return m_matmul.reserve(std::size_t(m_segment_rows) *
                            std::max(std::size_t(c.n_embd), lora_ranks(c)));
}

std::size_t CudaModel::workspace_layout(std::byte* base, DeviceWorkspace* out) const {
    const ModelConfig& c = m_model.config;
    const std::size_t S = std::size_t(m_segment_rows), C = std::size_t(c.n_embd);
    const std::size_t ranks = lora_ranks(c);
    const int per_row = c.n_head * (sparse_max_top_k - 1);
    float* DeviceWorkspace::*rows_c[] = {
        &DeviceWorkspace::x,  &DeviceWorkspace::u,     &DeviceWorkspace::xr,
        &DeviceWorkspace::xw, &DeviceWorkspace::xk,    &DeviceWorkspace::xv,
        &DeviceWorkspace::xa, &DeviceWorkspace::xg,    &DeviceWorkspace::r,
        &DeviceWorkspace::k,  &DeviceWorkspace::v,     &DeviceWorkspace::w,
        &DeviceWorkspace::a,  &DeviceWorkspace::vg,    &DeviceWorkspace::g,
        &DeviceWorkspace::alpha, &DeviceWorkspace::beta, &DeviceWorkspace::y,
        &DeviceWorkspace::out, &DeviceWorkspace::kx,   &DeviceWorkspace::v_first};
    const std::size_t n_rows_c = sizeof rows_c / sizeof rows_c[0];
    const std::size_t piece_c = align_up(S * C * sizeof(float));
    const std::size_t lora = align_up(S * ranks * sizeof(float));
    const std::size_t ffn = align_up(S * std::size_t(c.ffn_dim) * sizeof(float));
    const std::size_t ffn_rounded =
        align_up(S * std::max(std::size_t(c.ffn_dim), ranks) * sizeof(std::uint16_t));
    // The head's output rows: all of a segment's only in an all-rows call (tests, `lectern-cli
    // logits`), which takes them in pieces (head_in_pieces); at V = 65,536 a 1,024-row segment's
    // would be 256 MB of the GPU's memory for that alone.
    const std::size_t logit_rows = std::min<std::size_t>(S, kHeadPieceRows);
    const std::size_t logits = align_up(logit_rows * std::size_t(c.vocab) * sizeof(float));
    const std::size_t selected = align_up(S * std::size_t(per_row) * sizeof(int));
    const std::size_t shares = align_up(S * std::size_t(per_row) * sizeof(float));
    // The chunked WKV-7 kernel's pre-pass: every chunk's decays and matrices (~54 MB at 2.9B;
    // ~190 MB under LECTERN_CUDA_WKV=scan, which also keeps every chunk's transition).
    const std::size_t wkv_prep =
        c.head_size == 64 ? align_up(wkv7_prefill_scratch_floats(int(S), c.n_head) * sizeof(float))
                          : 0;
    const std::size_t total =
        n_rows_c * piece_c + lora + ffn + ffn_rounded + logits + selected + shares + wkv_prep;
    if (!base) return total;
    DeviceWorkspace& ws = *out;
    std::size_t at = 0;
    for (auto member : rows_c) {
        ws.*member = reinterpret_cast<float*>(base + at);
        at += piece_c;
    }
    ws.lora_hidden = reinterpret_cast<float*>(base + at);
    at += lora;
    ws.ffn_hidden = reinterpret_cast<float*>(base + at);
    at += ffn;
    ws.ffn_rounded = base + at;
    ws.lora_rounded = ws.ffn_rounded;
    at += ffn_rounded;
    ws.logits = reinterpret_cast<float*>(base + at);
    at += logits;
    ws.selected = reinterpret_cast<int*>(base + at);
    at += selected;
    ws.trace_weights = reinterpret_cast<float*>(base + at);
    at += shares;
    ws.wkv_prep = wkv_prep > 0 ? reinterpret_cast<float*>(base + at) : nullptr;
    ws.logit_rows = int(logit_rows);
    ws.selected_per_row = per_row;
    ws.rows = int(S);
    return total;
}

bool CudaModel::lost() {
    // A kernel fault's error is sticky: every later call returns it, the context cannot be used
    // again in this process. Other errors are reported once (and cleared here), so the second
    // synchronisation tells them apart.
    (void)cudaDeviceSynchronize();
    (void)cudaGetLastError();
    return cudaDeviceSynchronize() != cudaSuccess;
}

HostRows& CudaModel::kv_row_buffer(int buffer, int block) {
    // Sized for every attention block at once, so the buffers never move once handed out.
    std::vector<HostRows>& buffers = m_kv_rows[buffer & 1];
    const std::size_t blocks = std::max<std::size_t>(std::size_t(config().n_attn), block + 1);
    if (buffers.size() < blocks) buffers.resize(blocks);
    return buffers[std::size_t(block)];
}

SparseAttentionScratch CudaModel::attention_scratch(std::size_t bytes) {
    if (bytes == 0) return {};
    if (bytes > m_attention_scratch_bytes) {
        m_attention_scratch = DeviceBuffer();  // the old one first: both may not fit
        m_attention_scratch_bytes = 0;
        // Grown by half again (the need rises with every chunk a long prefill completes), or
        // exactly when that does not fit.
        for (const std::size_t want : {std::max(bytes, bytes / 2 * 3), bytes}) {
            auto buffer = DeviceBuffer::allocate(want);
            if (!buffer) {
                (void)cudaGetLastError();  // not an error of the call: clear it
                continue;
            }
            m_attention_scratch = std::move(*buffer);
            m_attention_scratch_bytes = want;
            break;
        }
        // No memory for it: the float32 kernels, which need none, run instead (slower).
        if (m_attention_scratch_bytes == 0) return {};
    }
    return SparseAttentionScratch{m_attention_scratch.data(), m_attention_scratch_bytes};
}

Result<void> CudaModel::charge_kv(std::size_t bytes) {
    const auto fits = [&] {
        std::lock_guard lock(m_kv_mutex);
        if (m_kv_used + bytes > m_kv_budget) return false;
        m_kv_used += bytes;
        return true;
    };
    if (fits() || (reclaim_idle_pools() > 0 && fits())) return {};
    std::lock_guard lock(m_kv_mutex);
    return make_error("GPU memory budget for KV rows reached (" + memory_size(m_kv_used) +
                      " used of " + memory_size(m_kv_budget) + ", " + memory_size(bytes) +
                      " more needed): this context is too long for the GPU; raise the "
                      "budget, free GPU memory, or use --backend cpu");
}

void CudaModel::register_state(CudaState* state) {
    std::lock_guard lock(m_states_mutex);
    m_states.push_back(state);
}

void CudaModel::unregister_state(CudaState* state) {
    std::lock_guard lock(m_states_mutex);
    std::erase(m_states, state);
}

std::size_t CudaModel::reclaim_idle_pools() {
    // A state being destroyed on another thread waits in unregister_state until this is done.
    std::lock_guard lock(m_states_mutex);
    std::size_t freed = 0;
    // Twice: a fork that borrowed an idle state's mirrors gives them back in the first pass,
    // which the lender can free only in the second if it came first (a caller that retries,
    // as a mirror's growth does, would get them at its retry; one that charges once would not).
    for (int pass = 0; pass < 2; ++pass)
        for (CudaState* s : m_states)
            if (s != m_active) freed += s->release_pool();
    return freed;
}

void CudaModel::release_kv(std::size_t bytes) {
    std::lock_guard lock(m_kv_mutex);
    m_kv_used -= std::min(bytes, m_kv_used);
}

std::size_t CudaModel::kv_available() {
    std::lock_guard lock(m_kv_mutex);
    return m_kv_budget - std::min(m_kv_used, m_kv_budget);
}

}  // namespace lectern::cuda
