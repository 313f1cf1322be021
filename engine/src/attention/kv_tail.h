// KvTail: the float32 rows of a KvCache's still-growing chunk, per head [rows][64], shared
// between forks without copying them. A question forks the document's state; copying this
// partial chunk (up to chunk_size - 1 rows of every head: 168 MB at the RWKV-X 3.6B shape with
// 1,024 rows) and then re-reserving it on the fork's first append cost ~0.4 s per question.
//
// Rows are append-only until the chunk completes, so every holder of a buffer reads only rows it
// has seen written: a fork keeps its parent's buffer and row count. The buffer's frontier is the
// number of rows written to it; the holder whose row count equals the frontier may append in
// place (claiming the rows with one compare-and-swap), any other copies its rows into a buffer
// of its own first. So of a document's state and its question, whichever appends first writes in
// place, and neither ever sees the other's rows.
// Tests: tests/cpu/tst_kv_tail.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace lectern {

class KvTail {
public:
    KvTail(int n_head, int chunk_size);

    int rows() const { return m_rows; }
    // Row 0 of head h's keys / values: rows() rows, 64 floats each, contiguous. Null while no
    // row was ever appended.
    const float* keys(int h) const;
    const float* values(int h) const;

    // Append n rows of every head: row i's head h at k + i * stride + h * 64 (likewise v).
    // Precondition: rows() + n <= the chunk size.
    void append(const float* k, const float* v, int n, std::size_t stride);
    // Replace the rows with `rows` rows per head, head h's at k[h] and v[h] ([rows][64] each).
    void assign(int rows, const float* const* k, const float* const* v);
    // No rows (the chunk they formed was built). A buffer no other holder shares is kept.
    void clear();

private:
    struct Buffer {
        std::unique_ptr<float[]> k, v;  // [head][chunk_size][64], written up to the frontier
        std::atomic<int> frontier{0};
    };
    std::size_t head_floats() const;
    // A buffer of our own with our rows in it and its frontier at rows() + claim.
    void own_copy(int claim);

    int m_heads;
    int m_chunk;
    int m_rows = 0;
    std::shared_ptr<Buffer> m_buffer;
};

}  // namespace lectern
