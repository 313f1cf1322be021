// Complete KV chunks: conversion to the cache precision, per-head means computed from the stored
// values (so a chunk read back from an image behaves exactly like the one that was written), and
// the in-memory ChunkStore.
#include "attention/kv_chunk_store.h"

#include <algorithm>
#include <cmath>

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
            auto* p = reinterpret_cast<std::uint16_t*>(dst);
            for (std::size_t i = 0; i < n; ++i) p[i] = f32_to_f16(x[i]);
            return;
        }
        case KvDType::int8:
            *scale = quantize_int8(x, n, reinterpret_cast<std::int8_t*>(dst));
            return;
    }
}

}  // namespace

KvChunk::KvChunk(KvDType dtype, int n_head, int rows)
    : m_dtype(dtype), m_heads(n_head), m_rows(rows) {
    const std::size_t bytes = std::size_t(n_head) * rows * kv_head_dim * kv_dtype_size(dtype);
    m_k.resize(bytes);
    m_v.resize(bytes);
    if (dtype == KvDType::int8) {
        m_k_scale.assign(std::size_t(n_head), 0.0f);
        m_v_scale.assign(std::size_t(n_head), 0.0f);
    }
    m_mean.assign(std::size_t(n_head) * kv_head_dim, 0.0f);
}

std::shared_ptr<const KvChunk> KvChunk::build(KvDType dtype, int n_head, int rows,
                                              const float* const* k_heads,
                                              const float* const* v_heads) {
    std::shared_ptr<KvChunk> c(new KvChunk(dtype, n_head, rows));
    const std::size_t n = std::size_t(rows) * kv_head_dim;
    const std::size_t head_bytes = n * kv_dtype_size(dtype);
    for (int h = 0; h < n_head; ++h) {
        float* ks = dtype == KvDType::int8 ? &c->m_k_scale[std::size_t(h)] : nullptr;
        float* vs = dtype == KvDType::int8 ? &c->m_v_scale[std::size_t(h)] : nullptr;
        store_rows(dtype, k_heads[h], n, c->m_k.data() + h * head_bytes, ks);
        store_rows(dtype, v_heads[h], n, c->m_v.data() + h * head_bytes, vs);
    }
    c->compute_means();
    return c;
}

KvRows KvChunk::head(int h) const {
    const std::size_t head_bytes = std::size_t(m_rows) * kv_head_dim * kv_dtype_size(m_dtype);
    KvRows r;
    r.dtype = m_dtype;
    r.k = m_k.data() + h * head_bytes;
    r.v = m_v.data() + h * head_bytes;
    r.stride = kv_head_dim;
    if (m_dtype == KvDType::int8) {
        r.k_scale = m_k_scale[std::size_t(h)];
        r.v_scale = m_v_scale[std::size_t(h)];
    }
    r.count = m_rows;
    return r;
}

void KvChunk::compute_means() {
    // Double accumulation in row order: deterministic, and close to the exact mean of the stored
    // values whatever the chunk size.
    float row[kv_head_dim];
    for (int h = 0; h < m_heads; ++h) {
        const KvRows r = head(h);
        double acc[kv_head_dim] = {};
        for (int i = 0; i < m_rows; ++i) {
            kv_load_row(r, false, i, row);
            for (int d = 0; d < kv_head_dim; ++d) acc[d] += row[d];
        }
        float* m = m_mean.data() + std::size_t(h) * kv_head_dim;
        for (int d = 0; d < kv_head_dim; ++d) m[d] = float(acc[d] / m_rows);
    }
}

void KvChunk::write(ByteWriter& out) const {
    out.put_bytes(m_k.data(), m_k.size());
    out.put_bytes(m_v.data(), m_v.size());
    if (m_dtype == KvDType::int8) {
        out.put_bytes(m_k_scale.data(), m_k_scale.size() * sizeof(float));
        out.put_bytes(m_v_scale.data(), m_v_scale.size() * sizeof(float));
    }
}

Result<std::shared_ptr<const KvChunk>> KvChunk::read(ByteReader& in, KvDType dtype, int n_head,
                                                     int rows) {
    std::shared_ptr<KvChunk> c(new KvChunk(dtype, n_head, rows));
    if (!in.get_bytes(c->m_k.data(), c->m_k.size()) || !in.get_bytes(c->m_v.data(), c->m_v.size()))
        return make_error("truncated chunk data");
    if (dtype == KvDType::int8) {
        if (!in.get_bytes(c->m_k_scale.data(), c->m_k_scale.size() * sizeof(float)) ||
            !in.get_bytes(c->m_v_scale.data(), c->m_v_scale.size() * sizeof(float)))
            return make_error("truncated chunk scales");
        for (std::size_t h = 0; h < c->m_k_scale.size(); ++h) {
            if (!std::isfinite(c->m_k_scale[h]) || c->m_k_scale[h] < 0.0f ||
                !std::isfinite(c->m_v_scale[h]) || c->m_v_scale[h] < 0.0f)
                return make_error("invalid int8 scale");
        }
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

void ChunkStore::clear() {
    m_chunks.clear();
    for (auto& m : m_means) m.clear();
}

}  // namespace lectern
