// The decode GEMV's per-row device code (kernels/gemv.cu): the job table, the 16-byte weight
// loads, a lane's dot product in matmul's T == 1 order, the epilogues, and the row walk of the
// default kernel (a warp takes rows_per_warp turns of one row, or of 32 / lanes short rows). The
// streamed walk of gemv_stream.cuh reuses the loads, the dot product's word step and the epilogues.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "grid_dependency.cuh"
#include "lectern/cuda/matmul.h"
#include "widen.cuh"

namespace lectern::cuda::gemv_detail {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kUnroll = 4;          // independent 16-byte weight loads in flight per lane
constexpr int kMaxRowsPerWarp = 4;  // rows a warp walks in turn (amortises staging x)
constexpr int kTargetBlocks = 512;  // ~4 blocks per H100 SM before rows are doubled up

enum : int { kF32 = 0, kF16 = 1, kBf16 = 2 };

struct Entry {
    const void* w;
    const float* x;
    float* y;
    const float* resid;
    int rows;
    int cols;
    int dtype;
    int epilogue;  // GemvEpilogue as int
    int rows_per_warp;
    int lanes;       // lanes per row: 32, or 16, 8, 4 for short vectorised rows (row_lanes)
    int vectorised;  // 16-byte path: aligned rows of whole words, x staged or 16-byte aligned
    int staged;      // x copied to shared memory first
    unsigned block_begin;
    int streamed;    // the kernel of gemv_stream.cuh walks this job's rows as one word stream
    unsigned warps;  // streamed: the job's warps (its blocks * kWarps), rows spread evenly
};

struct Table {
    Entry job[kMaxGemvJobs];
    int count;
    int warm_l2;  // prefetch_first_row before staging x (see l2_warming_enabled)
};

// 16 bytes of weights: read-only data path, no L1 allocation (the weights stream past once).
__device__ inline uint4 load_weights(const uint4* p) {
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(__cvta_generic_to_global(p)));
    return v;
}

// acc += the word's weights times x[8 or 4 floats at xs], j ascending (matmul's order).
template <typename W, bool Staged>
__device__ inline float fma_word(uint4 raw, const float4* xs, float acc) {
    constexpr int per_word = int(16 / sizeof(W));
    W values[per_word];
    static_assert(sizeof(values) == sizeof(raw));
    memcpy(values, &raw, sizeof(raw));
    float xf[per_word];
#pragma unroll
    for (int q = 0; q < per_word / 4; ++q) {
        const float4 v = Staged ? xs[q] : __ldg(xs + q);
        xf[4 * q] = v.x;
        xf[4 * q + 1] = v.y;
        xf[4 * q + 2] = v.z;
        xf[4 * q + 3] = v.w;
    }
#pragma unroll
    for (int j = 0; j < per_word; ++j) acc = fmaf(widen(values[j]), xf[j], acc);
    return acc;
}

// Lane `lane`'s part of row · x over whole 16-byte words: words lane, lane + Lanes, ... in that
// order, exactly as matmul's gemv_kernel (Lanes = 32), but kUnroll words are loaded before any is
// used. Short rows (Lanes < 32, at most Lanes words) give each lane at most one word, as the
// 32-lane order does, so the sums are the same.
template <typename W, bool Staged, int Lanes>
__device__ float dot_vectorised(const W* row, const float* x, int cols, int lane) {
    constexpr int per_word = int(16 / sizeof(W));
    constexpr int x_vecs = per_word / 4;
    const int words = cols / per_word;
    const uint4* rw = reinterpret_cast<const uint4*>(row);
    const float4* xw = reinterpret_cast<const float4*>(x);
    float acc = 0.0f;
    int i = lane;
    for (; i + Lanes * (kUnroll - 1) < words; i += Lanes * kUnroll) {
        uint4 raw[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) raw[u] = load_weights(rw + i + Lanes * u);
#pragma unroll
        for (int u = 0; u < kUnroll; ++u)
            acc = fma_word<W, Staged>(raw[u], xw + std::size_t(i + Lanes * u) * x_vecs, acc);
    }
    for (; i < words; i += Lanes)
        acc = fma_word<W, Staged>(load_weights(rw + i), xw + std::size_t(i) * x_vecs, acc);
    return acc;
}

// Unaligned rows or cols not a multiple of a word: element by element, matmul's scalar order.
template <typename W>
__device__ float dot_scalar(const W* row, const float* x, int cols, int lane) {
    float acc = 0.0f;
    for (int c = lane; c < cols; c += 32) acc = fmaf(widen(row[c]), x[c], acc);
    return acc;
}

// The exact formulas of activations.cu and of the residual saxpy (fma(1, out, x) = x + out).
__device__ inline float epilogue(const Entry& e, int row, float acc) {
    switch (GemvEpilogue(e.epilogue)) {
        case GemvEpilogue::none:
            break;
        case GemvEpilogue::add:
            return e.resid[row] + acc;
        case GemvEpilogue::relu_square: {
            const float r = acc > 0.0f ? acc : 0.0f;
            return r * r;
        }
        case GemvEpilogue::tanh:
            return tanhf(acc);
        case GemvEpilogue::sigmoid:
            return 1.0f / (1.0f + expf(-acc));
    }
    return acc;
}

// The first of the rows a warp computes in its turn q: 32 / Lanes consecutive rows per warp and
// turn (one with 32 lanes per row), kWarps warps per block.
__device__ inline long long first_row(const Entry& e, unsigned local_block, int q, int warp,
                                      int lanes) {
    const int groups = 32 / lanes;
    return ((long long)local_block * (kWarps * e.rows_per_warp) + (long long)q * kWarps + warp) *
           groups;
}

// Rows of `Lanes` lanes each (row_lanes): a short row on a whole warp left most lanes without a
// word to load (a LoRA up's 64-96 columns are 8-12 bf16 words: 0.39 TB/s in session 12's Nsight
// Compute table), so 32 / Lanes rows share a warp. The reduction tree is the 32-lane one without
// its first levels, which only added the zeros of lanes past the row's words.
template <typename W, bool Staged, int Lanes>
__device__ void run_rows(const Entry& e, unsigned local_block, const float* x) {
    const int warp = int(threadIdx.x / 32);
    const int lane = int(threadIdx.x % 32);
    const int sub = lane % Lanes;
    for (int q = 0; q < e.rows_per_warp; ++q) {
        const long long first = first_row(e, local_block, q, warp, Lanes);
        // Uniform within the warp, so the shuffles below always see all 32 lanes; later q only
        // give larger rows. No barrier follows, so warps may leave independently.
        if (first >= e.rows) return;
        const long long row = first + lane / Lanes;
        float acc = 0.0f;
        if (row < e.rows) {  // a warp's last group may be past the end: it adds zeros
            const W* w = static_cast<const W*>(e.w) + std::size_t(row) * std::size_t(e.cols);
            acc = e.vectorised ? dot_vectorised<W, Staged, Lanes>(w, x, e.cols, sub)
                               : dot_scalar<W>(w, x, e.cols, sub);
        }
#pragma unroll
        for (int offset = Lanes / 2; offset > 0; offset /= 2)
            acc += __shfl_xor_sync(0xffffffffu, acc, offset);
        if (sub == 0 && row < e.rows) e.y[row] = epilogue(e, int(row), acc);
    }
}

template <typename W, bool Staged>
__device__ void run_lanes(const Entry& e, unsigned local_block, const float* x) {
    switch (e.lanes) {
        case 4:
            run_rows<W, Staged, 4>(e, local_block, x);
            break;
        case 8:
            run_rows<W, Staged, 8>(e, local_block, x);
            break;
        case 16:
            run_rows<W, Staged, 16>(e, local_block, x);
            break;
        default:
            run_rows<W, Staged, 32>(e, local_block, x);
            break;
    }
}

template <bool Staged>
__device__ void run_job(const Entry& e, unsigned local_block, const float* x) {
    switch (e.dtype) {
        case kF32:
            run_lanes<float, Staged>(e, local_block, x);
            break;
        case kF16:
            run_lanes<__half, Staged>(e, local_block, x);
            break;
        default:
            run_lanes<__nv_bfloat16, Staged>(e, local_block, x);
            break;
    }
}

// The weights of the warp's first row into L2, a 128-byte line per lane at a time: issued before
// x is staged, so that its DRAM latency passes while the block copies x and meets at its barrier
// (ncu, session 12: the block GEMVs lose a fixed ~5 us per launch, part of it this wait), and
// before the wait for the previous kernel when launched with PDL, where they overlap its tail
// (the weights never change). Prefetches into L2 rather than loads into registers: holding the
// first words across the staging cost ~40 registers (104 per thread, half the blocks per SM).
template <typename W>
__device__ void prefetch_first_row(const Entry& e, unsigned local_block) {
    const int lane = int(threadIdx.x % 32);
    const long long row =
        first_row(e, local_block, 0, int(threadIdx.x / 32), e.lanes) + lane / e.lanes;
    if (row >= e.rows) return;
    const char* w = static_cast<const char*>(e.w) + std::size_t(row) * e.cols * sizeof(W);
    const std::size_t bytes = std::size_t(e.cols) * sizeof(W);
    for (std::size_t b = std::size_t(lane % e.lanes) * 128; b < bytes;
         b += std::size_t(e.lanes) * 128)
        prefetch_l2(w + b);
}

// The job whose block range holds this block (jobs own consecutive ranges).
__device__ inline const Entry& block_job(const Table& table) {
    int j = 0;
    while (j + 1 < table.count && blockIdx.x >= table.job[j + 1].block_begin) ++j;
    return table.job[j];
}

// x into shared memory, for every thread of the block. e is the same for every thread of the
// block (one job per block): a caller's `if (e.staged)` around it, and so the barrier inside it,
// is taken by all threads or by none.
__device__ inline const float* stage_x(const Entry& e, float* shared_x) {
    for (int c = int(threadIdx.x); c < e.cols; c += kThreads) shared_x[c] = e.x[c];
    __syncthreads();
    return shared_x;
}

// One block of the default row walk: the first rows' weights asked of L2 (warm_l2), the wait for
// the previous kernel, x staged when the job says so, then the rows.
__device__ inline void run_block(const Entry& e, unsigned local_block, int warm_l2,
                                 float* shared_x) {
    if (warm_l2) {
        if (e.dtype == kF32)
            prefetch_first_row<float>(e, local_block);
        else
            prefetch_first_row<std::uint16_t>(e, local_block);
    }
    // Everything below may read what the previous kernel wrote (x, the residual) or write
    // what it reads (y): only after it has finished.
    wait_for_prior_grids();
    if (e.staged)
        run_job<true>(e, local_block, stage_x(e, shared_x));
    else
        run_job<false>(e, local_block, e.x);
}

}  // namespace lectern::cuda::gemv_detail
