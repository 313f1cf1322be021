// The decode GEMV (T == 1) with fused epilogues, single and batched (see the gemv_batched part of
// lectern/cuda/matmul.h). CPU twins: lectern::matmul at T == 1 (engine/src/cpu/matmul.h), then
// lectern::lora_inner (cpu/lora.h), lectern::relu_square (cpu/channel_mix.h) or the residual
// add x += out; test: tests/kernels/tst_gemv_cuda.cpp.
//
// Layout: 256-thread blocks, one warp per row (a block owns 8 * rows_per_warp consecutive rows of
// one job), or 32 / lanes rows per warp when rows are short (row_lanes); the job table is a __grid_constant__ kernel parameter, jobs own consecutive block
// ranges. Bandwidth: matmul's warp-per-row kernel has one 16-byte load per lane in flight, which
// leaves an H100 at ~30 % of its weight bandwidth; here each lane issues kUnroll independent
// loads before using any of them. The loads are non-coherent and skip L1 (weights are streamed
// once per token), so L1 keeps x when it is read from global memory.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda_check.cuh"
#include "grid_dependency.cuh"
#include "widen.cuh"
#include "lectern/cuda/matmul.h"

namespace lectern::cuda {
namespace {

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
    for (std::size_t b = std::size_t(lane % e.lanes) * 128; b < bytes; b += std::size_t(e.lanes) * 128)
        prefetch_l2(w + b);
}

__global__ void __launch_bounds__(kThreads)
    gemv_batched_kernel(const __grid_constant__ Table table) {
    extern __shared__ float4 shared_x4[];  // float4: 16-byte aligned for the vector reads
    allow_dependent_grids();  // the next GEMV may start (it waits for this one's results)
    int j = 0;
    while (j + 1 < table.count && blockIdx.x >= table.job[j + 1].block_begin) ++j;
    const Entry& e = table.job[j];
    const unsigned local_block = blockIdx.x - e.block_begin;
    if (table.warm_l2) {
        if (e.dtype == kF32)
            prefetch_first_row<float>(e, local_block);
        else
            prefetch_first_row<std::uint16_t>(e, local_block);
    }
    // Everything below may read what the previous kernel wrote (x, the residual) or write
    // what it reads (y): only after it has finished.
    wait_for_prior_grids();
    if (e.staged) {
        // e is the same for every thread of the block (one job per block): this branch, and so
        // the barrier inside it, is taken by all threads or by none.
        float* sx = reinterpret_cast<float*>(shared_x4);
        for (int c = int(threadIdx.x); c < e.cols; c += kThreads) sx[c] = e.x[c];
        __syncthreads();
        run_job<true>(e, local_block, sx);
    } else {
        run_job<false>(e, local_block, e.x);
    }
}

// On a device of compute capability 9.0 or later, GEMVs are launched with programmatic stream
// serialization (grid_dependency.cuh), so a GEMV's blocks start and warm L2 with their weights
// while the kernel before it finishes: 2.9B decode +7 % on an H200 (session 16's A/B,
// docs/performance.md). LECTERN_CUDA_PDL=0 launches them plainly (an A/B, or a driver in doubt).
bool pdl_enabled() {
    static const bool enabled = [] {
        const char* v = std::getenv("LECTERN_CUDA_PDL");
        if (v && std::string(v) == "0") return false;
        cudaDeviceProp p{};
        return cudaGetDeviceProperties(&p, 0) == cudaSuccess && p.major >= 9;
    }();
    return enabled;
}

// The first-row L2 warming, unless LECTERN_CUDA_GEMV_WARM=0: an A/B switch. Session 16's Nsight
// Compute table found the r, k, v batch at 22.1 us per launch against session 12's 17.2 (another
// H200), and the warming (session 14, then always on) is one of the suspects.
bool l2_warming_enabled() {
    static const bool enabled = [] {
        const char* v = std::getenv("LECTERN_CUDA_GEMV_WARM");
        return !(v && std::string(v) == "0");
    }();
    return enabled;
}

// Lanes per row: a vectorised row of at most 16 words gets the smallest power of two (from 4) that
// gives each lane at most one word; longer rows, and the scalar path, a whole warp.
// LECTERN_CUDA_GEMV_LANES=32: every row on a whole warp again (an A/B switch; not yet timed).
int row_lanes(int words, bool vectorised) {
    static const bool whole_warps = [] {
        const char* v = std::getenv("LECTERN_CUDA_GEMV_LANES");
        return v && std::string(v) == "32";
    }();
    if (whole_warps || !vectorised || words > 16) return 32;
    int lanes = 4;
    while (lanes < words) lanes *= 2;
    return lanes;
}

int rows_per_warp(int rows) {
    const int per = rows / (kWarps * kTargetBlocks);
    return per < 1 ? 1 : (per > kMaxRowsPerWarp ? kMaxRowsPerWarp : per);
}

bool overlaps(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) {
    const auto pa = reinterpret_cast<std::uintptr_t>(a);
    const auto pb = reinterpret_cast<std::uintptr_t>(b);
    return pa < pb + b_bytes && pb < pa + a_bytes;
}

// Checks one job and fills its table entry (block_begin excluded); "" or the reason.
std::string make_entry(const GemvJob& g, Entry& e) {
    const DeviceMatrix& w = g.w;
    int code = kF32;
    switch (w.dtype) {
        case DType::f32:
            code = kF32;
            break;
        case DType::f16:
            code = kF16;
            break;
        case DType::bf16:
            code = kBf16;
            break;
        default:
            return "unknown dtype";
    }
    if (!g.y || (w.cols > 0 && (!g.x || !w.data))) return "null device pointer";
    if (g.epilogue == GemvEpilogue::add && !g.resid) return "add epilogue without resid";
    const int ep = int(g.epilogue);
    if (ep < int(GemvEpilogue::none) || ep > int(GemvEpilogue::sigmoid)) return "unknown epilogue";
    const std::size_t x_bytes = std::size_t(w.cols) * sizeof(float);
    if (overlaps(g.y, std::size_t(w.rows) * sizeof(float), g.x, x_bytes)) return "y overlaps x";
    const bool fits = x_bytes <= std::size_t(kGemvSharedXBytes);
    if (g.x_source == GemvX::shared && !fits)
        return "x of " + std::to_string(w.cols) + " floats does not fit in shared memory";
    const bool staged =
        w.cols > 0 && (g.x_source == GemvX::shared || (g.x_source == GemvX::automatic && fits));
    const std::size_t elem = dtype_size(w.dtype);
    const bool x_aligned = reinterpret_cast<std::uintptr_t>(g.x) % 16 == 0;
    e.w = w.data;
    e.x = g.x;
    e.y = g.y;
    e.resid = g.resid;
    e.rows = w.rows;
    e.cols = w.cols;
    e.dtype = code;
    e.epilogue = ep;
    e.vectorised = reinterpret_cast<std::uintptr_t>(w.data) % 16 == 0 &&
                   (std::size_t(w.cols) * elem) % 16 == 0 && (staged || x_aligned);
    e.lanes = row_lanes(int(std::size_t(w.cols) * elem / 16), e.vectorised != 0);
    // Turns per warp from the warp's share of rows: 32 / lanes rows per turn.
    const int groups = 32 / e.lanes;
    e.rows_per_warp = rows_per_warp((w.rows + groups - 1) / groups);
    e.staged = staged;
    return {};
}

}  // namespace

Result<void> gemv_batched(const GemvJob* jobs, int count, cuda_stream stream) {
    if (count < 0 || count > kMaxGemvJobs)
        return make_error("gemv_batched: " + std::to_string(count) + " jobs (at most " +
                          std::to_string(kMaxGemvJobs) + ")");
    if (count > 0 && !jobs) return make_error("gemv_batched: null job table");
    Table table{};
    std::size_t blocks = 0;
    int shared_floats = 0;
    for (int i = 0; i < count; ++i) {
        const GemvJob& g = jobs[i];
        if (g.w.rows < 0 || g.w.cols < 0)
            return make_error("gemv_batched: negative shape in job " + std::to_string(i));
        if (g.w.rows == 0) continue;  // nothing to write: no blocks
        Entry& e = table.job[table.count];
        if (const std::string why = make_entry(g, e); !why.empty())
            return make_error("gemv_batched: job " + std::to_string(i) + ": " + why);
        e.block_begin = unsigned(blocks);
        const std::size_t per_block =
            std::size_t(kWarps) * std::size_t(e.rows_per_warp) * std::size_t(32 / e.lanes);
        blocks += (std::size_t(e.rows) + per_block - 1) / per_block;
        if (e.staged && e.cols > shared_floats) shared_floats = e.cols;
        ++table.count;
    }
    if (table.count == 0) return {};
    if (blocks > std::size_t(INT_MAX)) return make_error("gemv_batched: too many rows");
    table.warm_l2 = l2_warming_enabled() ? 1 : 0;
    // <= kGemvSharedXBytes = 32 KiB: under the 48 KiB every device allows without an opt-in.
    const std::size_t shared_bytes = std::size_t(shared_floats) * sizeof(float);
    if (pdl_enabled()) {
        cudaLaunchAttribute attribute[1];
        attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attribute[0].val.programmaticStreamSerializationAllowed = 1;
        // By position (grid, block, shared bytes, stream, attributes, count): the emulator's
        // version cannot name gridDim and blockDim.
        const cudaLaunchConfig_t config{dim3(unsigned(blocks)), dim3(kThreads), shared_bytes,
                                        stream, attribute, 1};
        LECTERN_CUDA_TRY(cudaLaunchKernelEx(&config, gemv_batched_kernel, table));
        return {};
    }
    gemv_batched_kernel<<<unsigned(blocks), kThreads, shared_bytes, stream>>>(table);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> gemv(const GemvJob& job, cuda_stream stream) {
    return gemv_batched(&job, 1, stream);
}

}  // namespace lectern::cuda
