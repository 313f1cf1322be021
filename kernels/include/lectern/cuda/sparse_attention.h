// GPU native sparse attention (docs rwkvx-spec.md §3.3 made stateful; exact semantics in the header
// comment of engine/src/attention/native_attention.cpp). For the query at absolute position s,
// head h: keys = own chunk rows floor(s/B)*B .. s, plus all B rows of each of the top (K-1)
// complete earlier chunks ranked by q_{s,h} · mean_{c,h} (unscaled; ties to the lower chunk index);
// one softmax with scale 1/8 over the union. Head size 64, C = 64 * n_head.
// Pointers are device pointers; work is queued on `stream`. Test:
// tests/kernels/tst_sparse_attention_cuda.cpp.
#pragma once

#include <cstddef>

#include "lectern/cuda/cuda_stream.h"
#include "lectern/result.h"

namespace lectern::cuda {

constexpr int sparse_head_dim = 64;
constexpr int sparse_max_top_k = 16;  // top_k <= 16: each selection list lives in registers

struct SparseAttentionShape {
    int n_head = 0;      // C = 64 * n_head
    int chunk_size = 0;  // B
    int top_k = 0;       // K >= 1: own chunk + (K - 1) selected chunks
};

// Device scratch for stage 2. Prefill: the tensor-core path (queries grouped by the chunk they
// selected; kernels/sparse_attention_grouped.cu). A call given at least
// sparse_attention_scratch_bytes(T, p0, shape) bytes takes it, a call given none (data == null)
// the float32 kernels. Results differ by rounding: the tensor-core path multiplies q / 8, k, v
// and the softmax weights as IEEE halves (float32 sums), the float32 kernels do not round them.
// Decode (T * n_head <= 1024): each (query, head)'s keys split among `splits` blocks whose partial
// softmaxes are merged (float32 throughout; the sums' order differs from one block per pair by
// rounding only). splits == 0 picks the count from the device's SM count (or
// LECTERN_CUDA_ATTN_SPLITS); 1 is one block per pair, as without scratch; at most 16.
struct SparseAttentionScratch {
    void* data = nullptr;
    std::size_t bytes = 0;
    int splits = 0;
};

// Bytes of scratch stage 2 takes for T queries at p0. Prefill: what the tensor-core path needs;
// 0 when such a call would not take it anyway (chunk_size not a multiple of 64, or
// LECTERN_CUDA_ATTN=tiled in the environment); grows with p0 (one list per head and complete
// chunk) and with T * n_head * (top_k - 1) (a partial softmax of 66 floats per pick). Decode:
// a partial softmax of 66 floats per (query, head) and split, at the most splits.
std::size_t sparse_attention_scratch_bytes(int T, int p0, const SparseAttentionShape& shape);

// means[c][C] = mean over the B rows of chunk c of keys[row][C], for c in first .. first + count -
// 1 (float32 sums in row order, then / B). `means` is the base of the whole [chunks][C] array.
Result<void> chunk_means(const float* keys, const SparseAttentionShape& shape, int first, int count,
                         float* means, cuda_stream stream);

// Stage 1. For the T queries q [T][C] at positions p0 .. p0+T-1: selected[t][h][i], i < K-1, = the
// chunk indices chosen, best first, -1 where fewer than K-1 complete earlier chunks exist.
// `means` must hold chunks 0 .. floor((p0+T-1)/B) - 1. Nothing is launched when K == 1.
Result<void> sparse_attention_select(const float* q, int T, int p0, const float* means,
                                     const SparseAttentionShape& shape, int* selected,
                                     cuda_stream stream);

// Stage 2. y [T][C] = attention over the own chunk (causal) and the chunks of `selected` (from
// stage 1; may be null when K == 1). keys/values [rows][C] hold every position 0 .. p0+T-1.
// `scratch`: see SparseAttentionScratch; one with data but fewer bytes than needed is an error.
Result<void> sparse_attention_attend(const float* q, int T, int p0, const float* keys,
                                     const float* values, const int* selected,
                                     const SparseAttentionShape& shape, float* y,
                                     cuda_stream stream, SparseAttentionScratch scratch = {});

// Stage 2 over a paged KV cache: chunk c's B rows live in slot page[c] of the pools, row r of chunk
// c at key_pool[(page[c] * B + r % B) * C] (the same for value_pool). `page` is a device array
// indexed by chunk; only the entries of chunks the launch reads are looked at (each query's own
// chunk and its selected chunks), and the caller guarantees those are resident (>= 0). page ==
// nullptr is the dense layout of sparse_attention_attend (row r at keys[r * C]). Same results as
// sparse_attention_attend on the same rows.
Result<void> sparse_attention_attend_paged(const float* q, int T, int p0, const float* key_pool,
                                           const float* value_pool, const int* page,
                                           const int* selected, const SparseAttentionShape& shape,
                                           float* y, cuda_stream stream,
                                           SparseAttentionScratch scratch = {});

// For traces (lectern::ForwardTrace; the CPU twin is AttentionTrace::weights of native_attention):
// weights[t][h][i] = the share of the softmax mass of query t (position p0 + t), head h, that went
// to the rows of chunk selected[t][h][i], in [0, 1]; the rest went to the own chunk. The softmax
// is the one of sparse_attention_attend_paged with the same arguments: the own chunk's rows up to
// the query (causal) plus every row of the selected chunks, scores q·k / 8. Per chunk c, m_c = its
// max score and s_c = sum exp(score - m_c); M = max m_c, Z = sum_c s_c exp(m_c - M); weight =
// s_c exp(m_c - M) / Z, clamped to [0, 1]. selected [T][n_head][K-1] as stage 1 writes it (K =
// shape.top_k, 2 .. 16); the chunks up to the first -1 are used (each complete and before the
// query's own chunk (p0+t)/B, as stage 1 guarantees), and from the first -1 on the weight is 0.
// Rows addressed as in sparse_attention_attend_paged (page == nullptr: the dense layout); keys
// 16-byte aligned. weights [T][n_head][K-1] floats. Not optimised: traced calls only.
Result<void> sparse_attention_chunk_weights(const float* q, int T, int p0, const float* key_pool,
                                            const int* page, const int* selected,
                                            const SparseAttentionShape& shape, float* weights,
                                            cuda_stream stream);

// Both stages; `selected_scratch` holds T * n_head * (K-1) ints (may be null when K == 1).
Result<void> sparse_attention(const float* q, int T, int p0, const float* keys, const float* values,
                              const float* means, const SparseAttentionShape& shape,
                              int* selected_scratch, float* y, cuda_stream stream,
                              SparseAttentionScratch scratch = {});

}  // namespace lectern::cuda
