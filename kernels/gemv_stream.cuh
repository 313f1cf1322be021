// The decode GEMV's streamed row walk (LECTERN_CUDA_GEMV=stream or stream8; gemv.cu). Written
// for the block matrices' bandwidth: session 12's Nsight Compute table has the default walk at
// ~2.4 TB/s on a block's 13-52 MB matrices against 3.9 TB/s on the head. Two reasons, both read
// from the code, neither timed yet:
// - each lane loads kUnroll words, waits for all of them, sums them, and only then loads again,
//   and a row's last words (10 per lane at C = 2560: 4 + 4 + 1 + 1) go one at a time: a full
//   memory latency per group, and again at every row's end;
// - a job's blocks are a fixed number of rows each, so a 10,240-row matrix is 640 blocks on an
//   H200's 132 SMs x 4 resident blocks: 1.2 waves, the second one mostly idle SMs.
// Here a warp's rows are one stream of words: lane l reads words l, l + 32, ... of its first row,
// then of the next, and keeps Depth loads in flight without a gap, a word's register refilled
// with the word Depth places later as soon as it is summed; a row ends with the warp's reduction
// and store while the next row's words are already on their way. And a streamed job's blocks are
// its share (by bytes) of the blocks the device holds at once, its rows spread evenly over their
// warps (gemv.cu sizes the grid). The first Depth words are loaded before the wait for the
// previous kernel (weights never change), so under programmatic dependent launch they overlap
// its tail in registers rather than through L2.
// Sums: every lane adds its words in the order of the default walk (and of matmul's T == 1 path),
// and the reduction tree is the same: the same bits.
#pragma once

#include "gemv_rows.cuh"

namespace lectern::cuda::gemv_detail {

// A warp's rows [first, end) of a streamed job: rows * w / warps for warp w of the job.
struct StreamRange {
    long long first = 0, end = 0;
};

__device__ inline StreamRange stream_range(const Entry& e, unsigned local_block) {
    const long long w = (long long)local_block * kWarps + (long long)(threadIdx.x / 32);
    return {w * e.rows / (long long)e.warps, (w + 1) * e.rows / (long long)e.warps};
}

// 16-byte words per row (a streamed job is vectorised: rows of whole words).
__device__ inline int stream_row_words(const Entry& e) {
    return int(std::size_t(e.cols) * (e.dtype == kF32 ? 4u : 2u) / 16u);
}

// A place in a warp's stream: the row (from the range's first) and the lane's slot in it, word
// lane + 32 * slot of the row (a slot past the row's words holds nothing).
struct StreamCursor {
    long long row = 0;
    int slot = 0;
    __device__ void advance(int slots) {
        if (++slot == slots) {
            slot = 0;
            ++row;
        }
    }
};

// The stream's first Depth words into raw (those past the range's end, or past a row's words,
// are left alone).
template <int Depth>
__device__ void stream_prologue(const Entry& e, StreamRange range, uint4 (&raw)[Depth]) {
    const int lane = int(threadIdx.x % 32);
    const int words = stream_row_words(e);
    const int slots = (words + 31) / 32;
    const long long n = (range.end - range.first) * slots;
    const uint4* base = static_cast<const uint4*>(e.w) + std::size_t(range.first) * words;
#pragma unroll
    for (int u = 0; u < Depth; ++u) {
        if (u >= n) break;
        const int word = lane + 32 * (u % slots);
        if (word < words) raw[u] = load_weights(base + std::size_t(u / slots) * words + word);
    }
}

// The warp's rows, raw holding the stream's first Depth words (stream_prologue).
template <typename W, bool Staged, int Depth>
__device__ void stream_rows(const Entry& e, StreamRange range, const float* x,
                            uint4 (&raw)[Depth]) {
    constexpr int x_vecs = int(16 / sizeof(W)) / 4;
    const int lane = int(threadIdx.x % 32);
    const int words = stream_row_words(e);
    const int slots = (words + 31) / 32;
    const long long n = (range.end - range.first) * slots;
    const uint4* base = static_cast<const uint4*>(e.w) + std::size_t(range.first) * words;
    const float4* xw = reinterpret_cast<const float4*>(x);
    StreamCursor use;                                 // the word summed next
    StreamCursor next{Depth / slots, Depth % slots};  // the word loaded next
    float acc = 0.0f;
    for (long long f0 = 0; f0 < n; f0 += Depth) {
#pragma unroll
        for (int u = 0; u < Depth; ++u) {
            if (f0 + u >= n) break;  // uniform within the warp, as every branch below
            const int word = lane + 32 * use.slot;
            if (word < words)
                acc = fma_word<W, Staged>(raw[u], xw + std::size_t(word) * x_vecs, acc);
            if (f0 + u + Depth < n) {
                const int later = lane + 32 * next.slot;
                if (later < words)
                    raw[u] = load_weights(base + std::size_t(next.row) * words + later);
                next.advance(slots);
            }
            if (use.slot == slots - 1) {
#pragma unroll
                for (int offset = 16; offset > 0; offset /= 2)
                    acc += __shfl_xor_sync(0xffffffffu, acc, offset);
                const long long row = range.first + use.row;
                if (lane == 0) e.y[row] = epilogue(e, int(row), acc);
                acc = 0.0f;
            }
            use.advance(slots);
        }
    }
}

template <bool Staged, int Depth>
__device__ void stream_job(const Entry& e, StreamRange range, const float* x, uint4 (&raw)[Depth]) {
    switch (e.dtype) {
        case kF32:
            stream_rows<float, Staged, Depth>(e, range, x, raw);
            break;
        case kF16:
            stream_rows<__half, Staged, Depth>(e, range, x, raw);
            break;
        default:
            stream_rows<__nv_bfloat16, Staged, Depth>(e, range, x, raw);
            break;
    }
}

// One block of a streamed job: the first words, the wait for the previous kernel, x staged when
// the job says so, then the stream.
template <int Depth>
__device__ void stream_block(const Entry& e, unsigned local_block, float* shared_x) {
    const StreamRange range = stream_range(e, local_block);
    uint4 raw[Depth] = {};
    stream_prologue<Depth>(e, range, raw);  // weights only: before the wait
    // Everything below may read what the previous kernel wrote (x, the residual) or write
    // what it reads (y): only after it has finished.
    wait_for_prior_grids();
    if (e.staged)
        stream_job<true, Depth>(e, range, stage_x(e, shared_x), raw);
    else
        stream_job<false, Depth>(e, range, e.x, raw);
}

}  // namespace lectern::cuda::gemv_detail
