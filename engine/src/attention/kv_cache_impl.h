// KvCache internals shared by the attention modes: the store of complete chunks plus the growing
// float32 tail chunk. Cache row r lives in chunk r / B at row r % B, or in the tail when
// r >= chunk_count * B. Native mode never compresses, so there row == absolute token position.
#pragma once

#include <cstdint>
#include <vector>

#include "attention/kv_chunk_store.h"
#include "attention/kv_tail.h"
#include "attention/sparse_attention.h"

namespace lectern {

struct KvCache::Impl {
    Impl(int n_embd_, int n_head_, const AttentionOptions& options_);

    int n_embd;
    int n_head;
    AttentionOptions options;
    ChunkStore store;
    // The still-growing chunk, float32, per head [rows][64]. Kept unrounded so a query's own
    // chunk is seen at full precision however the sequence was split into calls. Shared with
    // forks until one of them appends (kv_tail.h).
    KvTail tail;
    std::int64_t tokens = 0;  // rows ever appended (== rows() until compat compression runs)
    bool compressed = false;  // compat compression re-packed rows: row != token position

    int chunk_size() const { return store.chunk_size(); }
    std::int64_t rows() const { return store.chunk_count() * chunk_size() + tail.rows(); }

    // The first `count` tail rows of head h.
    KvRows tail_head(int h, int count) const;
    // Row r (any cache row) of head h as float32 into out[64]. Compat compression only, whose
    // chunks are always in memory (a source-backed store is native-only): precondition
    // store.resident(r / chunk_size()) for rows in complete chunks.
    void load_row(int h, std::int64_t r, bool values, float* out) const;

    // Copy n rows ([n][C], rows `stride` floats apart) into the tail without completing it; the
    // caller guarantees tail.rows() + n <= B.
    void append_tail(const float* k, const float* v, int n, std::size_t stride);
    // Turn a full tail into an immutable chunk (means from the stored values).
    void complete_tail_if_full();
    // Append n rows, completing chunks as they fill.
    void append(const float* k, const float* v, int n, std::size_t stride);
};

}  // namespace lectern
