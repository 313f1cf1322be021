// The store of complete, fixed-size KV chunks behind KvCache: each chunk holds chunk_size rows of
// k and v for every head in the cache precision (f32, f16 or int8 with a per-chunk, per-head
// absmax scale) plus its per-head mean key. Chunks are immutable once built, so forks share them
// through shared_ptr<const KvChunk>. The attention math only sees chunks through `KvRows` views
// and `ChunkStore::means`, so a disk-backed (mmap) store can replace the in-memory one.
// Tests: tests/cpu/tst_sparse_attention.cpp, tests/store/tst_chunk_files.cpp,
// tests/store/tst_disk_backed_cache.cpp.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/byte_stream.h"
#include "core/compiler.h"
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
LECTERN_ALWAYS_INLINE inline float kv_half_to_float(std::uint16_t h) {
    const std::uint32_t em = h & 0x7fffu;
    const float scaled = std::bit_cast<float>(em << 13) * 0x1p112f;
    const std::uint32_t special = 0u - std::uint32_t(em >= 0x7c00u);
    const std::uint32_t u =
        (std::bit_cast<std::uint32_t>(scaled) & ~special) | ((0x7f800000u | (em << 13)) & special);
    return std::bit_cast<float>(u | (std::uint32_t(h & 0x8000u) << 16));
}

// Row `i` of a head's keys (or values) as float32 into out[64].
void kv_load_row(const KvRows& rows, bool values, int i, float* out);

// n values of one head's keys (or values) stored in `dtype` as a chunk stores them (int8: one
// absmax scale for the n) and read back as kv_load_row reads them, into out (may equal x).
void kv_round_trip(KvDType dtype, const float* x, std::size_t n, float* out);

// The mean key of `rows` (double accumulation in row order) into out[64]: what a chunk stores as
// its mean, and what verify_chunk_file recomputes to check a file's stored means bit for bit.
void kv_mean_key(const KvRows& rows, float* out);

class KvChunk {
public:
    // A chunk whose k/v data live in memory someone else owns (a mapped chunk file): `owner`
    // keeps that memory alive as long as the chunk; `means` ([H][64]) are given, not recomputed.
    // Head h's keys start at k + h * head_stride bytes, its values at v + h * head_stride (a
    // chunk file keeps each head's k and v slices together: head_stride = 2 * slice bytes).
    // k_scales / v_scales ([H]) are read for int8 only. `head_crc` ([H], CRC-32 of head h's k
    // slice then v slice, then (int8) its k scale and v scale) is checked by checked_head() the
    // first time a head is used. `head_checks` ([H] states, 0 unchecked / 1 good / 2 bad) may be
    // shared with earlier views of the same file, so that a head is checked once per process
    // rather than once per mapping (an LRU that remaps a chunk must not pay the CRC again).
    static std::shared_ptr<const KvChunk> view(KvDType dtype, int n_head, int rows,
                                               const std::byte* k, const std::byte* v,
                                               std::size_t head_stride, const float* k_scales,
                                               const float* v_scales, const float* means,
                                               const std::uint32_t* head_crc,
                                               std::shared_ptr<const void> owner,
                                               std::string origin,
                                               std::shared_ptr<std::atomic<std::uint8_t>[]>
                                                   head_checks = nullptr);

    // Convert `rows` float rows per head (k_heads[h], v_heads[h]: [rows][64]) to `dtype` and
    // compute the per-head mean key from the stored (rounded) values.
    static std::shared_ptr<const KvChunk> build(KvDType dtype, int n_head, int rows,
                                                const float* const* k_heads,
                                                const float* const* v_heads);

    KvDType dtype() const { return m_dtype; }
    int rows() const { return m_rows; }
    int heads() const { return m_heads; }
    KvRows head(int h) const;
    // head(h) after checking its CRC once (views only; in-memory chunks always succeed). The
    // error names the chunk's origin (its file) and the head. Thread-safe.
    Result<KvRows> checked_head(int h) const;
    const float* mean(int h) const { return m_mean + std::size_t(h) * kv_head_dim; }
    bool is_view() const { return m_head_crc != nullptr; }
    // The per-head check states of a view (null for in-memory chunks), to share with later views
    // of the same file.
    const std::shared_ptr<std::atomic<std::uint8_t>[]>& head_checks() const { return m_checked; }
    const std::string& origin() const { return m_origin; }  // "" for in-memory chunks

    // Image: k data, v data, (int8) k scales, v scales; means are recomputed on read. The same
    // bytes for a view as for the in-memory chunk it was written from; a view's heads are checked
    // first (an error names its file).
    Result<void> write(ByteWriter& out) const;
    static Result<std::shared_ptr<const KvChunk>> read(ByteReader& in, KvDType dtype, int n_head,
                                                       int rows);

private:
    KvChunk(KvDType dtype, int n_head, int rows);  // owning, zeroed
    KvChunk(KvDType dtype, int n_head, int rows, std::nullptr_t);  // view, pointers set by view()
    void compute_means();
    std::size_t slice_bytes() const;  // one head's k (or v): rows * 64 elements

    KvDType m_dtype;
    int m_heads;
    int m_rows;
    // What the attention reads: owned storage below for in-memory chunks, a mapping for views.
    const std::byte* m_k = nullptr;  // head h at m_k + h * m_head_stride
    const std::byte* m_v = nullptr;
    std::size_t m_head_stride = 0;
    const float* m_k_scale = nullptr;  // [H], int8 only
    const float* m_v_scale = nullptr;
    const float* m_mean = nullptr;     // [H][64]

    // In-memory chunks own their bytes.
    std::vector<std::byte> m_k_store, m_v_store;  // [H][rows][64] elements of m_dtype
    std::vector<float> m_scale_store;             // [2][H] (k then v), int8 only
    std::vector<float> m_mean_store;              // [H][64]

    // Views: the owner of the memory, per-head CRCs and whether each head was checked yet
    // (0 unchecked, 1 good, 2 corrupt; two threads may both check a head, which is harmless).
    std::shared_ptr<const void> m_owner;
    const std::uint32_t* m_head_crc = nullptr;
    std::shared_ptr<std::atomic<std::uint8_t>[]> m_checked;  // per head: 0 unchecked, 1 good, 2 bad
    std::string m_origin;
};

// Where complete chunks live when they are not held in memory: chunk files of a document store
// (store/chunk_files.h). load() maps chunk c; the chunk stays valid while the pointer lives.
class ChunkSource {
public:
    virtual ~ChunkSource() = default;
    virtual Result<std::shared_ptr<const KvChunk>> load(std::int64_t c) const = 0;
    // A hint that chunk c will be loaded soon: start reading it (from disk) without waiting.
    virtual void prefetch(std::int64_t c) const { (void)c; }
};

// Complete chunks in order, chunk c covering cache rows [c*B, (c+1)*B), with the mean keys kept
// contiguous per head ([chunk][64]) so that scoring all chunks is one linear sweep. A chunk is
// either held in memory or, when the store has a source, read from it on demand (acquire); the
// means of every chunk are always in memory (64 floats per head and chunk).
class ChunkStore {
public:
    ChunkStore(int n_head, int chunk_size, KvDType dtype);

    int chunk_size() const { return m_chunk_size; }
    KvDType dtype() const { return m_dtype; }
    std::int64_t chunk_count() const { return std::int64_t(m_chunks.size()); }

    void append_chunk(std::shared_ptr<const KvChunk> chunk);
    // Chunk c, from memory or from the source. Errors (I/O, a corrupt file) name the file.
    Result<std::shared_ptr<const KvChunk>> acquire(std::int64_t c) const;
    bool resident(std::int64_t c) const;  // held in memory (no source access needed)
    // Announce chunks about to be acquired: those only in the source start reading now, so that
    // acquiring them one after another does not wait on the disk for each (the GPU's paged KV
    // cache announces every chunk a call needs before loading the first).
    void prefetch(std::span<const std::int64_t> chunks) const;
    // In-memory chunks only (compat mode, tests): precondition resident(c).
    const KvChunk& chunk(std::int64_t c) const { return *m_chunks[std::size_t(c)]; }
    // The in-memory chunk c, null when it lives only in the source.
    const std::shared_ptr<const KvChunk>& shared_chunk(std::int64_t c) const {
        return m_chunks[std::size_t(c)];
    }

    // Store support. set_source: chunks without an in-memory copy are read from `source`.
    // append_from_source: a chunk that exists only in the source, with its means ([H][64]).
    // drop_resident(end): forget the in-memory copies of chunks [0, end) (they were written to
    // the source's files), so ingest memory does not grow with the document. Without a source it
    // does nothing (the chunks would be lost); `end` is clamped to chunk_count().
    // A copied store (KvCache::fork) shares the source.
    void set_source(std::shared_ptr<const ChunkSource> source);
    const std::shared_ptr<const ChunkSource>& source() const { return m_source; }
    void append_from_source(const float* means);
    void drop_resident(std::int64_t end);
    const float* means(int h) const { return m_means[std::size_t(h)].data(); }
    void clear();  // forgets every chunk; keeps the source
    // Forgets chunks [count, chunk_count()) (a failed call's, kv_cache_mark.h); allocates nothing.
    void truncate(std::int64_t count);

private:
    int m_heads;
    int m_chunk_size;
    KvDType m_dtype;
    std::vector<std::shared_ptr<const KvChunk>> m_chunks;  // null: only in m_source
    std::vector<std::vector<float>> m_means;  // [H][chunk][64]
    std::shared_ptr<const ChunkSource> m_source;
};

}  // namespace lectern
