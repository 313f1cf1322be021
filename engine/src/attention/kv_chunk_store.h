// The store of complete, fixed-size KV chunks behind KvCache: each chunk holds chunk_size rows of
// k and v for every head in the cache precision (f32, f16 or int8 with a per-chunk, per-head
// absmax scale) plus its per-head mean key. Chunks are immutable once built, so forks share them
// through shared_ptr<const KvChunk>. The attention math only sees chunks through `KvRows` views
// and `ChunkStore::means`, so a disk-backed (mmap) store can replace the in-memory one.
// Tests: tests/cpu/tst_sparse_attention.cpp.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/byte_stream.h"
#include "lectern/inference.h"
#include "lectern/result.h"

namespace lectern {

inline constexpr int kv_head_dim = 64;  // N: every RWKV-X head has 64 channels

std::size_t kv_dtype_size(KvDType t);  // bytes per stored element: 4, 2 or 1

// `count` rows of one head (64 elements each, `stride` elements apart) in a storage precision.
// int8 values are q * scale; f32 and f16 ignore the scales.
struct KvRows {
    KvDType dtype = KvDType::f32;
    const void* k = nullptr;
    const void* v = nullptr;
    std::size_t stride = kv_head_dim;
    float k_scale = 1.0f;
    float v_scale = 1.0f;
    int count = 0;
};

// Exact IEEE half -> float in straight-line integer/float code (no branch), so loops over f16
// rows vectorise without F16C. Shifting exponent+mantissa into float position and scaling by
// 2^112 re-biases the exponent and normalises subnormals in one multiply; infinities and NaNs
// are selected with a mask (a float compare could trap, which blocks vectorisation).
// lectern::f16_to_f32 is the oracle: tst_sparse_attention compares all 65536 inputs.
[[gnu::always_inline]] inline float kv_half_to_float(std::uint16_t h) {
    const std::uint32_t em = h & 0x7fffu;
    const float scaled = std::bit_cast<float>(em << 13) * 0x1p112f;
    const std::uint32_t special = 0u - std::uint32_t(em >= 0x7c00u);
    const std::uint32_t u =
        (std::bit_cast<std::uint32_t>(scaled) & ~special) | ((0x7f800000u | (em << 13)) & special);
    return std::bit_cast<float>(u | (std::uint32_t(h & 0x8000u) << 16));
}

// Row `i` of a head's keys (or values) as float32 into out[64].
void kv_load_row(const KvRows& rows, bool values, int i, float* out);

class KvChunk {
public:
    // Convert `rows` float rows per head (k_heads[h], v_heads[h]: [rows][64]) to `dtype` and
    // compute the per-head mean key from the stored (rounded) values.
    static std::shared_ptr<const KvChunk> build(KvDType dtype, int n_head, int rows,
                                                const float* const* k_heads,
                                                const float* const* v_heads);

    KvDType dtype() const { return m_dtype; }
    int rows() const { return m_rows; }
    int heads() const { return m_heads; }
    KvRows head(int h) const;
    const float* mean(int h) const { return m_mean.data() + std::size_t(h) * kv_head_dim; }

    // Image: k data, v data, (int8) k scales, v scales; means are recomputed on read.
    void write(ByteWriter& out) const;
    static Result<std::shared_ptr<const KvChunk>> read(ByteReader& in, KvDType dtype, int n_head,
                                                       int rows);

private:
    KvChunk(KvDType dtype, int n_head, int rows);
    void compute_means();

    KvDType m_dtype;
    int m_heads;
    int m_rows;
    std::vector<std::byte> m_k, m_v;          // [H][rows][64] elements of m_dtype
    std::vector<float> m_k_scale, m_v_scale;  // [H], int8 only
    std::vector<float> m_mean;                // [H][64]
};

// Complete chunks in order, chunk c covering cache rows [c*B, (c+1)*B), with the mean keys kept
// contiguous per head ([chunk][64]) so that scoring all chunks is one linear sweep.
class ChunkStore {
public:
    ChunkStore(int n_head, int chunk_size, KvDType dtype);

    int chunk_size() const { return m_chunk_size; }
    KvDType dtype() const { return m_dtype; }
    std::int64_t chunk_count() const { return std::int64_t(m_chunks.size()); }

    void append_chunk(std::shared_ptr<const KvChunk> chunk);
    const KvChunk& chunk(std::int64_t c) const { return *m_chunks[std::size_t(c)]; }
    const std::shared_ptr<const KvChunk>& shared_chunk(std::int64_t c) const {
        return m_chunks[std::size_t(c)];
    }
    const float* means(int h) const { return m_means[std::size_t(h)].data(); }
    void clear();

private:
    int m_heads;
    int m_chunk_size;
    KvDType m_dtype;
    std::vector<std::shared_ptr<const KvChunk>> m_chunks;
    std::vector<std::vector<float>> m_means;  // [H][chunk][64]
};

}  // namespace lectern
