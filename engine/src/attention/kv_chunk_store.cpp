// Complete KV chunks: conversion to the cache precision, per-head means computed from the stored
// values (so a chunk read back from an image behaves exactly like the one that was written),
// views of mapped chunk files with per-head CRC checks, and the ChunkStore (in memory or backed by
// a ChunkSource).
#include "attention/kv_chunk_store.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "lectern/dtype.h"

namespace lectern {

std::size_t kv_dtype_size(KvDType t) {
    switch (t) {
        case KvDType::f32:
            return 4;
        case KvDType::f16:
            return 2;
        case KvDType::int8:
            return 1;
    }
    return 4;
}

void kv_load_row(const KvRows& rows, bool values, int i, float* out) {
    const void* base = values ? rows.v : rows.k;
    const std::size_t off = std::size_t(i) * rows.stride;
    switch (rows.dtype) {
        case KvDType::f32:
            std::memcpy(out, static_cast<const float*>(base) + off, kv_head_dim * sizeof(float));
            return;
        case KvDType::f16: {
            const auto* p = static_cast<const std::uint16_t*>(base) + off;
            for (int d = 0; d < kv_head_dim; ++d) out[d] = kv_half_to_float(p[d]);
            return;
        }
        case KvDType::int8: {
            const auto* p = static_cast<const std::int8_t*>(base) + off;
            const float s = values ? rows.v_scale : rows.k_scale;
            for (int d = 0; d < kv_head_dim; ++d) out[d] = float(p[d]) * s;
            return;
        }
    }
}

void kv_mean_key(const KvRows& rows, float* out) {
    // Double accumulation in row order: deterministic, and close to the exact mean of the stored
    // values whatever the chunk size.
    float row[kv_head_dim];
    double acc[kv_head_dim] = {};
    for (int i = 0; i < rows.count; ++i) {
        kv_load_row(rows, false, i, row);
        for (int d = 0; d < kv_head_dim; ++d) acc[d] += row[d];
    }
    for (int d = 0; d < kv_head_dim; ++d) out[d] = float(acc[d] / rows.count);
}

namespace {

// Symmetric absmax quantisation of one head's rows: q = round(x / s), s = absmax / 127, so every
// element is off by at most s / 2 = absmax / 254.
float quantize_int8(const float* x, std::size_t n, std::int8_t* q) {
    float absmax = 0.0f;
    for (std::size_t i = 0; i < n; ++i) absmax = std::max(absmax, std::fabs(x[i]));
    if (!(absmax > 0.0f) || !std::isfinite(absmax)) {
        std::fill(q, q + n, std::int8_t(0));
        return 0.0f;
    }
    const float scale = absmax / 127.0f;
    for (std::size_t i = 0; i < n; ++i) {
        const float r = std::nearbyint(x[i] / scale);
        q[i] = std::int8_t(std::clamp(r, -127.0f, 127.0f));
    }
    return scale;
}

void store_rows(KvDType dtype, const float* x, std::size_t n, std::byte* dst, float* scale) {
    switch (dtype) {
        case KvDType::f32:
            std::memcpy(dst, x, n * sizeof(float));
            return;
        case KvDType::f16: {
            f32_to_f16_n(x, reinterpret_cast<std::uint16_t*>(dst), n);
            return;
        }
        case KvDType::int8:
            *scale = quantize_int8(x, n, reinterpret_cast<std::int8_t*>(dst));
            return;
    }
}

}  // namespace

void kv_round_trip(KvDType dtype, const float* x, std::size_t n, float* out) {
    switch (dtype) {
        case KvDType::f32:
            if (out != x) std::memmove(out, x, n * sizeof(float));
            return;
        case KvDType::f16:
            for (std::size_t i = 0; i < n; ++i) out[i] = kv_half_to_float(f32_to_f16(x[i]));
            return;
        case KvDType::int8: {
            std::vector<std::int8_t> q(n);
            const float s = quantize_int8(x, n, q.data());
            for (std::size_t i = 0; i < n; ++i) out[i] = float(q[i]) * s;  // as kv_load_row
            return;
        }
    }
}

KvChunk::KvChunk(KvDType dtype, int n_head, int rows)
    : m_dtype(dtype), m_heads(n_head), m_rows(rows) {
    const std::size_t bytes = std::size_t(n_head) * slice_bytes();
    m_k_store.resize(bytes);
    m_v_store.resize(bytes);
    if (dtype == KvDType::int8) m_scale_store.assign(2 * std::size_t(n_head), 0.0f);
    m_mean_store.assign(std::size_t(n_head) * kv_head_dim, 0.0f);
    m_k = m_k_store.data();
    m_v = m_v_store.data();
    m_head_stride = slice_bytes();
    if (dtype == KvDType::int8) {
        m_k_scale = m_scale_store.data();
        m_v_scale = m_scale_store.data() + n_head;
    }
    m_mean = m_mean_store.data();
}

KvChunk::KvChunk(KvDType dtype, int n_head, int rows, std::nullptr_t)
    : m_dtype(dtype), m_heads(n_head), m_rows(rows) {}

std::size_t KvChunk::slice_bytes() const {
    return std::size_t(m_rows) * kv_head_dim * kv_dtype_size(m_dtype);
}

std::shared_ptr<const KvChunk> KvChunk::view(KvDType dtype, int n_head, int rows,
                                             const std::byte* k, const std::byte* v,
                                             std::size_t head_stride, const float* k_scales,
                                             const float* v_scales, const float* means,
                                             const std::uint32_t* head_crc,
                                             std::shared_ptr<const void> owner,
                                             std::string origin,
                                             std::shared_ptr<std::atomic<std::uint8_t>[]>
                                                 head_checks) {
    std::shared_ptr<KvChunk> c(new KvChunk(dtype, n_head, rows, nullptr));
    c->m_k = k;
    c->m_v = v;
    c->m_head_stride = head_stride;
    if (dtype == KvDType::int8) {
        c->m_k_scale = k_scales;
        c->m_v_scale = v_scales;
    }
    c->m_mean = means;
    c->m_head_crc = head_crc;
    if (head_checks) {
        c->m_checked = std::move(head_checks);
    } else {
        c->m_checked = std::shared_ptr<std::atomic<std::uint8_t>[]>(
            new std::atomic<std::uint8_t>[std::size_t(n_head)]());
    }
    c->m_owner = std::move(owner);
    c->m_origin = std::move(origin);
    return c;
}

std::shared_ptr<const KvChunk> KvChunk::build(KvDType dtype, int n_head, int rows,
                                              const float* const* k_heads,
                                              const float* const* v_heads) {
    std::shared_ptr<KvChunk> c(new KvChunk(dtype, n_head, rows));
    const std::size_t n = std::size_t(rows) * kv_head_dim;
    const std::size_t head_bytes = c->slice_bytes();
    for (int h = 0; h < n_head; ++h) {
        const bool q = dtype == KvDType::int8;
        float* ks = q ? &c->m_scale_store[std::size_t(h)] : nullptr;
        float* vs = q ? &c->m_scale_store[std::size_t(n_head + h)] : nullptr;
        store_rows(dtype, k_heads[h], n, c->m_k_store.data() + h * head_bytes, ks);
        store_rows(dtype, v_heads[h], n, c->m_v_store.data() + h * head_bytes, vs);
    }
    c->compute_means();
    return c;
}

KvRows KvChunk::head(int h) const {
    KvRows r;
    r.dtype = m_dtype;
    r.k = m_k + std::size_t(h) * m_head_stride;
    r.v = m_v + std::size_t(h) * m_head_stride;
    r.stride = kv_head_dim;
    if (m_dtype == KvDType::int8) {
        r.k_scale = m_k_scale[h];
        r.v_scale = m_v_scale[h];
    }
    r.count = m_rows;
    return r;
}

Result<KvRows> KvChunk::checked_head(int h) const {
    if (h < 0 || h >= m_heads)
        return make_error((m_origin.empty() ? std::string("KV chunk") : m_origin) + ": head " +
                          std::to_string(h) + " out of range (" + std::to_string(m_heads) +
                          " heads)");
    if (!m_head_crc) return head(h);
    std::atomic<std::uint8_t>& state = m_checked[std::size_t(h)];
    std::uint8_t s = state.load(std::memory_order_acquire);
    if (s == 0) {
        const std::size_t n = slice_bytes();
        std::uint32_t crc = crc32({m_k + std::size_t(h) * m_head_stride, n});
        crc = crc32({m_v + std::size_t(h) * m_head_stride, n}, crc);
        if (m_dtype == KvDType::int8) {
            crc = crc32(std::as_bytes(std::span(m_k_scale + h, 1)), crc);
            crc = crc32(std::as_bytes(std::span(m_v_scale + h, 1)), crc);
        }
        bool good = crc == m_head_crc[h];
        // A matching CRC over a NaN or negative scale can only come from a writer bug; refuse it
        // all the same, as KvChunk::read does.
        if (good && m_dtype == KvDType::int8)
            good = std::isfinite(m_k_scale[h]) && m_k_scale[h] >= 0.0f &&
                   std::isfinite(m_v_scale[h]) && m_v_scale[h] >= 0.0f;
        s = good ? 1 : 2;
        state.store(s, std::memory_order_release);
    }
    if (s == 2)
        return make_error(m_origin + ": head " + std::to_string(h) +
                          " fails its checksum (the file is corrupt; rebuild the document's "
                          "store)");
    return head(h);
}

void KvChunk::compute_means() {
    for (int h = 0; h < m_heads; ++h)
        kv_mean_key(head(h), m_mean_store.data() + std::size_t(h) * kv_head_dim);
}

Result<void> KvChunk::write(ByteWriter& out) const {
    if (m_head_crc) {
        for (int h = 0; h < m_heads; ++h)
            if (auto ok = checked_head(h); !ok) return ok.error();
    }
    // Heads one after the other, keys then values: the layout of an in-memory chunk, whatever
    // the layout of the memory a view points into.
    const std::size_t n = slice_bytes();
    for (int h = 0; h < m_heads; ++h) out.put_bytes(m_k + std::size_t(h) * m_head_stride, n);
    for (int h = 0; h < m_heads; ++h) out.put_bytes(m_v + std::size_t(h) * m_head_stride, n);
    if (m_dtype == KvDType::int8) {
        out.put_bytes(m_k_scale, std::size_t(m_heads) * sizeof(float));
        out.put_bytes(m_v_scale, std::size_t(m_heads) * sizeof(float));
    }
    return {};
}

Result<std::shared_ptr<const KvChunk>> KvChunk::read(ByteReader& in, KvDType dtype, int n_head,
                                                     int rows) {
    std::shared_ptr<KvChunk> c(new KvChunk(dtype, n_head, rows));
    if (!in.get_bytes(c->m_k_store.data(), c->m_k_store.size()) ||
        !in.get_bytes(c->m_v_store.data(), c->m_v_store.size()))
        return make_error("truncated chunk data");
    if (dtype == KvDType::int8) {
        if (!in.get_bytes(c->m_scale_store.data(), c->m_scale_store.size() * sizeof(float)))
            return make_error("truncated chunk scales");
        for (float s : c->m_scale_store)
            if (!std::isfinite(s) || s < 0.0f) return make_error("invalid int8 scale");
    }
    c->compute_means();
    return std::shared_ptr<const KvChunk>(std::move(c));
}

ChunkStore::ChunkStore(int n_head, int chunk_size, KvDType dtype)
    : m_heads(n_head),
      m_chunk_size(chunk_size),
      m_dtype(dtype),
      m_means(static_cast<std::size_t>(n_head)) {}

void ChunkStore::append_chunk(std::shared_ptr<const KvChunk> chunk) {
    for (int h = 0; h < m_heads; ++h) {
        const float* m = chunk->mean(h);
        m_means[std::size_t(h)].insert(m_means[std::size_t(h)].end(), m, m + kv_head_dim);
    }
    m_chunks.push_back(std::move(chunk));
}

bool ChunkStore::resident(std::int64_t c) const {
    return c >= 0 && c < chunk_count() && m_chunks[std::size_t(c)] != nullptr;
}

void ChunkStore::prefetch(std::span<const std::int64_t> chunks) const {
    if (!m_source) return;
    for (const std::int64_t c : chunks)
        if (c >= 0 && c < chunk_count() && !m_chunks[std::size_t(c)]) m_source->prefetch(c);
}

Result<std::shared_ptr<const KvChunk>> ChunkStore::acquire(std::int64_t c) const {
    if (c < 0 || c >= chunk_count())
        return make_error("KV chunk " + std::to_string(c) + " out of range (" +
                          std::to_string(chunk_count()) + " chunks)");
    if (const auto& held = m_chunks[std::size_t(c)]) return held;
    if (!m_source)
        return make_error("KV chunk " + std::to_string(c) + " is neither in memory nor on disk");
    auto loaded = m_source->load(c);
    if (!loaded) return loaded.error();
    const KvChunk& k = **loaded;
    // A source with other dimensions would make the attention read out of bounds.
    if (k.dtype() != m_dtype || k.heads() != m_heads || k.rows() != m_chunk_size)
        return make_error((k.origin().empty() ? "KV chunk " + std::to_string(c) : k.origin()) +
                          ": shape differs from the cache's");
    return loaded;
}

void ChunkStore::set_source(std::shared_ptr<const ChunkSource> source) {
    m_source = std::move(source);
}

void ChunkStore::append_from_source(const float* means) {
    for (int h = 0; h < m_heads; ++h) {
        const float* m = means + std::size_t(h) * kv_head_dim;
        m_means[std::size_t(h)].insert(m_means[std::size_t(h)].end(), m, m + kv_head_dim);
    }
    m_chunks.emplace_back();
}

void ChunkStore::drop_resident(std::int64_t end) {
    if (!m_source) return;  // nothing else holds those chunks
    end = std::min(end, chunk_count());
    for (std::int64_t c = 0; c < end; ++c) m_chunks[std::size_t(c)].reset();
}

void ChunkStore::clear() {
    m_chunks.clear();
    for (auto& m : m_means) m.clear();
}

void ChunkStore::truncate(std::int64_t count) {
    if (count < 0 || count >= chunk_count()) return;
    m_chunks.erase(m_chunks.begin() + std::ptrdiff_t(count), m_chunks.end());
    for (auto& m : m_means) m.resize(std::size_t(count) * kv_head_dim);
}

}  // namespace lectern
