// CudaState: the recurrent state on the device (committed + work copies), its upload/download in
// RecurrentState's shapes, and the per-attention-block dense KV mirrors (growth within the budget,
// catching up with the host cache, chunk means). The paged mode is in cuda_state_paged.cpp.
#include "cuda_state.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <utility>

#include "cuda_check.cuh"
#include "cuda_kv_upload.h"
#include "lectern/cuda/sparse_attention.h"

namespace lectern::cuda {

CudaState::CudaState(CudaModel& model, int chunk_size)
    : m_model(model), m_chunk_size(std::max(1, chunk_size)) {
    const ModelConfig& c = model.config();
    m_C = std::size_t(c.n_embd);
    m_wkv = std::size_t(c.n_head) * c.head_size * c.head_size;
    m_n_rwkv = c.n_rwkv;
    m_floats = rwkv_offset(c.n_rwkv) + std::size_t(c.n_attn) * m_C;
    m_kv.resize(std::size_t(c.n_attn));
    m_kept_rows.assign(std::size_t(c.n_attn), 0);
    m_model.register_state(this);
}

CudaState::~CudaState() {
    m_model.unregister_state(this);  // first: a reclaim on another thread may be releasing our pool
    give_back_all(true);             // borrowed mirrors to their lender
    end_loan_as_lender();            // lent ones stay with the fork
    give_back_pool();                // a borrowed pool, parked for its lender
    end_pool_loan();                 // a lent one stays with the fork
    for (const auto& graphs : m_graphs)
        for (void* g : graphs)
            if (g) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(g));
    for (const KvMirror& k : m_kv) m_model.release_kv(k.charged);
}

Result<void> CudaState::upload(const RecurrentState& in) {
    if (!m_a.data()) {
        auto a = DeviceBuffer::allocate(m_floats * sizeof(float));
        if (!a) return a.error();
        auto b = DeviceBuffer::allocate(m_floats * sizeof(float));
        if (!b) return b.error();
        m_a = std::move(*a);
        m_b = std::move(*b);
        m_committed = static_cast<float*>(m_a.data());
        m_work = static_cast<float*>(m_b.data());
    }
    std::vector<float> flat(m_floats);
    float* p = flat.data();
    for (int i = 0; i < m_n_rwkv; ++i) {
        const std::size_t u = std::size_t(i);
        p = std::copy(in.att_shift[u].begin(), in.att_shift[u].end(), p);
        p = std::copy(in.wkv[u].begin(), in.wkv[u].end(), p);
        p = std::copy(in.ffn_shift[u].begin(), in.ffn_shift[u].end(), p);
    }
    for (const auto& s : in.attn_ffn_shift) p = std::copy(s.begin(), s.end(), p);
    LECTERN_CUDA_TRY(cudaMemcpy(m_committed, flat.data(), m_floats * sizeof(float),
                                cudaMemcpyHostToDevice));
    return {};
}

std::unique_ptr<DeviceState> CudaState::fork() const {
    // Lending moves buffers between the two objects, never what this state computes: logically
    // const (and no CudaState is ever a const object).
    auto& self = const_cast<CudaState&>(*this);
    if (!m_committed) return nullptr;
    if (m_pages) {
        // Paged: the pool is lent, never copied (it holds most of the budget). A fork of a
        // borrowing fork loads what it needs when it first runs.
        self.take_back_pool();
        if (borrows_pool()) return nullptr;
    } else if (m_lent && !self.take_back(true)) {
        return nullptr;
    }
    auto copy = std::make_unique<CudaState>(m_model, m_chunk_size);
    const auto same = [](const DeviceBuffer& from, DeviceBuffer& to, std::size_t used) {
        if (from.size() == 0) return true;
        auto b = DeviceBuffer::allocate(from.size());
        if (!b) return false;
        to = std::move(*b);
        return used == 0 || cudaMemcpy(to.data(), from.data(), used,
                                       cudaMemcpyDeviceToDevice) == cudaSuccess;
    };
    // Both recurrent buffers, the roles kept; only the committed one holds the state.
    const bool committed_a = m_committed == static_cast<const float*>(m_a.data());
    if (!same(m_a, copy->m_a, 0) || !same(m_b, copy->m_b, 0)) {
        cudaGetLastError();  // an allocation failure is not sticky
        return nullptr;
    }
    copy->m_committed = static_cast<float*>(committed_a ? copy->m_a.data() : copy->m_b.data());
    copy->m_work = static_cast<float*>(committed_a ? copy->m_b.data() : copy->m_a.data());
    if (cudaMemcpy(copy->m_committed, m_committed, m_floats * sizeof(float),
                   cudaMemcpyDeviceToDevice) != cudaSuccess) {
        cudaGetLastError();
        return nullptr;
    }
    if (m_pages) return self.lend_pool_to(*copy) ? std::move(copy) : nullptr;
    // The KV mirrors copied when they fit as they are (taking back idle states' memory could
    // take this state's own mirrors, the very rows being copied); else lent, if this state's
    // are its own.
    std::size_t charge = 0;
    bool borrowing = false;
    for (const KvMirror& k : m_kv) {
        charge += k.bytes();
        borrowing = borrowing || k.borrowed;
    }
    if (charge > m_model.kv_available() || !m_model.charge_kv(charge)) {
        if (borrowing || !self.lend_to(*copy)) return nullptr;
        return copy;
    }
    const std::size_t row_bytes = m_C * sizeof(float);
    // Charged from the start, so the copy's destructor gives back what was taken.
    for (std::size_t j = 0; j < m_kv.size(); ++j) copy->m_kv[j].charged = m_kv[j].bytes();
    for (std::size_t j = 0; j < m_kv.size(); ++j) {
        const KvMirror& k = m_kv[j];
        KvMirror& c = copy->m_kv[j];
        if (!same(k.keys, c.keys, std::size_t(k.rows) * row_bytes) ||
            !same(k.values, c.values, std::size_t(k.rows) * row_bytes) ||
            !same(k.means, c.means, std::size_t(k.mean_chunks) * row_bytes)) {
            cudaGetLastError();
            return nullptr;
        }
        c.capacity = k.capacity;
        c.rows = k.rows;
        c.mean_chunks = k.mean_chunks;
        c.mean_capacity = k.mean_capacity;
    }
    return copy;
}

Result<void> CudaState::download(RecurrentState& out) {
    if (!m_committed) return make_error("no recurrent state on the GPU");
    std::vector<float> flat(m_floats);
    LECTERN_CUDA_TRY(cudaMemcpy(flat.data(), m_committed, m_floats * sizeof(float),
                                cudaMemcpyDeviceToHost));
    const float* p = flat.data();
    auto take = [&](std::vector<float>& v) {
        std::copy(p, p + v.size(), v.begin());
        p += v.size();
    };
    for (int i = 0; i < m_n_rwkv; ++i) {
        const std::size_t u = std::size_t(i);
        take(out.att_shift[u]);
        take(out.wkv[u]);
        take(out.ffn_shift[u]);
    }
    for (auto& s : out.attn_ffn_shift) take(s);
    return {};
}

Result<void> CudaState::begin() {
    LECTERN_CUDA_TRY(cudaMemcpyAsync(m_work, m_committed, m_floats * sizeof(float),
                                     cudaMemcpyDeviceToDevice, nullptr));
    return {};
}

void CudaState::commit() { std::swap(m_committed, m_work); }

std::size_t CudaState::release_pool() {
    if (m_pages) {
        std::size_t freed = m_pages->release_pool();
        if (m_pool_lent) {  // a pool its fork gave back and this state has not taken yet
            std::lock_guard lock(m_pool_lent->lock);
            if (m_pool_lent->returned) freed += m_pool_lent->returned->release_pool();
        }
        return freed;
    }
    // Borrowed mirrors go back to their lender; lent ones still in use by a fork stay there.
    std::size_t freed = give_back_all(false);
    if (!take_back(false)) return freed;
    // Dense mirrors: rows and means go (the host cache has every row); the next call uploads
    // them again (catch_up), or turns paged if the budget no longer has room for them.
    for (KvMirror& k : m_kv) {
        m_model.release_kv(k.charged);
        freed += k.charged;
        k = KvMirror{};
    }
    return freed;
}

void*& CudaState::graph_slot(int segment, int segments) {
    // The span list is fixed per model and attention options (the same for every call of this
    // state), so the slots only ever grow from empty to `segments`.
    auto& graphs = m_graphs[m_work == static_cast<float*>(m_b.data()) ? 1 : 0];
    if (graphs.size() < std::size_t(segments)) graphs.resize(std::size_t(segments), nullptr);
    return graphs[std::size_t(segment)];
}

Result<void> CudaState::reserve(int j, std::int64_t rows) {
    KvMirror& k = m_kv[std::size_t(j)];
    if (rows <= k.capacity) return {};
    // The kernels take positions as int (offsets are 64-bit).
    const std::int64_t max_rows = INT_MAX;
    if (rows > max_rows)
        return make_error("sparse attention on the GPU: " + std::to_string(rows) +
                          " KV rows are more than its 32-bit positions allow");
    const auto bytes_for = [&](std::int64_t cap) {
        return std::size_t(cap) * m_C * sizeof(float) * 2 +
               std::size_t(cap / m_chunk_size + 1) * m_C * sizeof(float);
    };
    // Growth by a quarter (decode appends one row at a time: few copies, little slack; a long
    // prefill reserves its whole call at once), falling back to the exact need near the budget.
    // Blocks grow one after another, so the transient old + new copy is one block's.
    std::int64_t cap = std::max<std::int64_t>(
        {rows, std::min(k.capacity + k.capacity / 4 + m_chunk_size, max_rows), 1024});
    m_model.release_kv(k.charged);
    if (!m_model.charge_kv(bytes_for(cap))) {
        cap = rows;
        if (auto exact = m_model.charge_kv(bytes_for(cap)); !exact) {
            (void)m_model.charge_kv(k.charged);  // the old buffers are still held
            // A borrowed mirror that cannot grow beside its lender's: the fork keeps the rows
            // and grows within their charge (the lender uploads them again when it next runs).
            if (adopt(j)) return reserve(j, rows);
            m_reserve_failed = true;
            return exact.error();
        }
    }
    const std::size_t old_charge = k.charged;
    k.charged = bytes_for(cap);
    auto fail = [&](Error e) {  // keep the old buffers and their charge
        m_reserve_failed = true;
        m_model.release_kv(k.charged);
        (void)m_model.charge_kv(old_charge);
        k.charged = old_charge;
        return e;
    };
    const std::size_t row_bytes = m_C * sizeof(float);
    auto keys = DeviceBuffer::allocate(std::size_t(cap) * row_bytes);
    if (!keys) return fail(keys.error());
    auto values = DeviceBuffer::allocate(std::size_t(cap) * row_bytes);
    if (!values) return fail(values.error());
    auto means = DeviceBuffer::allocate(std::size_t(cap / m_chunk_size + 1) * row_bytes);
    if (!means) return fail(means.error());
    const std::pair<const DeviceBuffer*, DeviceBuffer*> moves[] = {
        {&k.keys, &*keys}, {&k.values, &*values}, {&k.means, &*means}};
    for (auto [from, to] : moves) {
        const std::size_t n = from == &k.means ? std::size_t(k.mean_chunks) : std::size_t(k.rows);
        if (n > 0 && cudaMemcpy(to->data(), from->data(), n * row_bytes,
                                cudaMemcpyDeviceToDevice) != cudaSuccess)
            return fail(make_error("copying the KV mirror to its larger buffer failed"));
    }
    if (k.borrowed) {  // the lender's buffers go back to it; the rows are in the copies
        const std::int64_t kept_rows = k.rows, kept_means = k.mean_chunks;
        std::lock_guard lock(m_borrowed->lock);
        give_back(j, *m_borrowed);
        k.rows = kept_rows;
        k.mean_chunks = kept_means;
    }
    k.keys = std::move(*keys);
    k.values = std::move(*values);
    k.means = std::move(*means);
    k.capacity = cap;
    k.mean_capacity = cap / m_chunk_size + 1;
    return {};
}

Result<void> CudaState::update_means(int j, std::int64_t rows) {
    KvMirror& k = m_kv[std::size_t(j)];
    const std::int64_t complete = rows / m_chunk_size;
    if (complete <= k.mean_chunks) return {};
    SparseAttentionShape shape;
    shape.n_head = int(m_C / sparse_head_dim);
    shape.chunk_size = m_chunk_size;
    shape.top_k = 1;
    if (auto ok = chunk_means(static_cast<const float*>(k.keys.data()), shape,
                              int(k.mean_chunks), int(complete - k.mean_chunks),
                              static_cast<float*>(k.means.data()), nullptr);
        !ok)
        return ok;
    k.mean_chunks = complete;
    return {};
}

Result<void> CudaState::catch_up(int j, const KvCache::Impl& host) {
    KvMirror& k = m_kv[std::size_t(j)];
    const std::int64_t want = host.rows();
    if (host.compressed)
        return make_error("a compressed (compat) KV cache cannot run native attention");
    if (want < k.rows) {  // cannot happen in native mode (append-only); start over to be safe
        k.rows = 0;
        k.mean_chunks = 0;
    }
    if (want == k.rows) return {};
    if (auto ok = reserve(j, want); !ok) return ok;
    const int B = m_chunk_size;
    const std::int64_t chunk_rows = host.store.chunk_count() * B;
    // Rows go a chunk at a time, packed as the host stores them and widened on the device; the
    // host packs the next chunk while the last one's DMA runs.
    KvUploader upload(m_model);
    // A reopened document: its chunk files start reading from disk, all of them, while the first
    // are packed (ChunkStore::prefetch).
    std::vector<std::int64_t> chunks;
    for (std::int64_t c = k.rows / B; c < host.store.chunk_count(); ++c) chunks.push_back(c);
    host.store.prefetch(chunks);
    auto* keys = static_cast<float*>(k.keys.data());
    auto* values = static_cast<float*>(k.values.data());
    for (std::int64_t r0 = k.rows; r0 < want;) {
        const std::int64_t n = r0 < chunk_rows ? std::min<std::int64_t>((r0 / B + 1) * B, want) - r0
                                               : std::min<std::int64_t>(want - r0, B);
        if (auto sent = upload.upload(host, r0, n, m_C, keys + std::size_t(r0) * m_C,
                                      values + std::size_t(r0) * m_C);
            !sent) {
            (void)upload.finish();
            return sent;
        }
        r0 += n;
    }
    // The rows count once they are there (and before the means, on the default stream, read
    // them).
    if (auto done = upload.finish(); !done) return done;
    k.rows = want;
    return update_means(j, k.rows);
}

}  // namespace lectern::cuda
