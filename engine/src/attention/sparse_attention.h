// The attention part of an RWKV-X sparse attention block (spec §3): given the projected q, k, v of
// T new tokens, attend over the block's KV cache and the new tokens with the `native` (MoBA, §3.3)
// or `compat` (rwkv-x 0.1.3, §3.4-§3.6) semantics, then append k, v to the cache.
// Shapes: T new tokens, C = H * 64 channels, head h owns channels [64h, 64h+64).
// Tests: tests/cpu/tst_sparse_attention.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "lectern/inference.h"
#include "lectern/result.h"

namespace lectern {

class ThreadPool;

// Checks what sparse_attention and KvCache rely on: C = 64 * H > 0, chunk_size >= 1,
// 1 <= top_k <= 64, and for compat KV management (kv_max > 0): 0 <= kv_window < kv_min.
Result<void> validate_attention_options(const AttentionOptions& options, int n_embd, int n_head);

// One attention block's KV cache: rows of k and v ([C] each) in the precision of
// AttentionOptions::kv_dtype, kept in fixed-size chunks of chunk_size rows with one mean key per
// complete chunk and head. Complete chunks are immutable and shared between forks.
class KvCache {
public:
    KvCache(int n_embd, int n_head, const AttentionOptions& options);
    KvCache(KvCache&&) noexcept;
    KvCache& operator=(KvCache&&) noexcept;
    ~KvCache();

    KvCache fork() const;           // cheap: complete chunks shared copy-on-write
    std::int64_t rows() const;      // rows held (== tokens seen unless compat compression ran)
    std::int64_t chunk_count() const;  // complete chunks (rows / chunk_size)

    // Append a self-describing image of the cache; read it back (errors on any inconsistency).
    // The image is magic, version, its own length, C, H, chunk size, KV dtype, counts, chunk
    // data, means, tail, CRC-32. deserialize takes exactly one image (no trailing bytes) and
    // checks it against n_embd, n_head, options.chunk_size and options.kv_dtype.
    // serialize fails only when a chunk that lives on disk cannot be read or is corrupt (the
    // error names the file); `out` is then unchanged.
    Result<void> serialize(std::vector<std::byte>& out) const;
    static Result<KvCache> deserialize(std::span<const std::byte> in, int n_embd, int n_head,
                                       const AttentionOptions& options);
    // Length of the image that starts at in[0] (checks magic, version and that it fits), so a
    // reader can split several concatenated images.
    static Result<std::size_t> image_size(std::span<const std::byte> in);

    struct Impl;
    Impl& impl() { return *m_impl; }
    const Impl& impl() const { return *m_impl; }

private:
    explicit KvCache(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Provenance: which complete cache chunks each (new token, head) attended to besides its own
// chunk (native) or the remainder (compat decode). Only filled when passed; costs nothing
// otherwise. Chunk indices are cache chunk numbers (native: chunk c = positions [cB, cB+B)).
struct AttentionTrace {
    int width = 0;                     // entries per (token, head) = options.top_k
    std::vector<std::int32_t> chunks;  // [T][H][width], best first, -1 = unused slot. Compat
                                       // full / chunk-local attention records no chunks.
    // Same shape: the share of the (token, head)'s softmax mass that went to each chunk's rows,
    // in [0, 1] (native; compat leaves 0). The rest went to the query's own chunk.
    std::vector<float> weights;
};

// For each new token t (row-major [T][C] float32 inputs): y[t] = softmax attention output
// (before the output projection) under options.mode; then k, v are appended to `cache`.
// `ln1` is the block's LN1 output for the new tokens: compat-mode prefill compression uses it as
// the "queries" (a quirk of the official code, §3.6); it may be null when options.kv_max == 0.
// y may alias q, never k or v. `pool` may be null. Validates first (options, shapes, that the
// options match the cache's chunk size and dtype, native on an uncompressed cache): on error the
// cache is unchanged.
Result<void> sparse_attention(const AttentionOptions& options, KvCache& cache, int T, int n_embd,
                              int n_head, const float* q, const float* k, const float* v,
                              const float* ln1, float* y, ThreadPool* pool,
                              AttentionTrace* trace = nullptr);

}  // namespace lectern
