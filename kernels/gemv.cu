// The decode GEMV (T == 1) with fused epilogues, single and batched (see the gemv_batched part of
// lectern/cuda/matmul.h): the kernels and their launch. CPU twins: lectern::matmul at T == 1
// (engine/src/cpu/matmul.h), then lectern::lora_inner (cpu/lora.h), lectern::relu_square
// (cpu/channel_mix.h) or the residual add x += out; test: tests/kernels/tst_gemv_cuda.cpp.
//
// Layout: 256-thread blocks, one warp per row (a block owns 8 * rows_per_warp consecutive rows of
// one job), or 32 / lanes rows per warp when rows are short (row_lanes); the job table is a
// __grid_constant__ kernel parameter, jobs own consecutive block ranges. Bandwidth: matmul's
// warp-per-row kernel has one 16-byte load per lane in flight, which leaves an H100 at ~30 % of
// its weight bandwidth; here each lane issues kUnroll independent loads before using any of them
// (gemv_rows.cuh). The loads are non-coherent and skip L1 (weights are streamed once per token),
// so L1 keeps x when it is read from global memory. LECTERN_CUDA_GEMV=stream (stream8) walks the
// long rows as one stream per warp instead, Depth = 4 (8) loads always in flight, on a grid of
// the blocks the device holds at once (gemv_stream.cuh); an A/B switch, not yet timed.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda_check.cuh"
#include "gemv_rows.cuh"
#include "gemv_stream.cuh"
#include "grid_dependency.cuh"
#include "lectern/cuda/matmul.h"

namespace lectern::cuda {
namespace {

using namespace gemv_detail;

// The default kernel (LECTERN_CUDA_GEMV unset): every job on the row walk of gemv_rows.cuh.
__global__ void __launch_bounds__(kThreads)
    gemv_batched_kernel(const __grid_constant__ Table table) {
    extern __shared__ float4 shared_x4[];  // float4: 16-byte aligned for the vector reads
    allow_dependent_grids();  // the next GEMV may start (it waits for this one's results)
    const Entry& e = block_job(table);
    run_block(e, blockIdx.x - e.block_begin, table.warm_l2, reinterpret_cast<float*>(shared_x4));
}

// The streamed kernel (LECTERN_CUDA_GEMV=stream, stream8): jobs of long vectorised rows on the
// streamed walk, the others (short rows, the scalar path) on the default one.
template <int Depth>
__global__ void __launch_bounds__(kThreads)
    gemv_stream_kernel(const __grid_constant__ Table table) {
    extern __shared__ float4 shared_x4[];
    allow_dependent_grids();
    const Entry& e = block_job(table);
    float* shared_x = reinterpret_cast<float*>(shared_x4);
    if (e.streamed)
        stream_block<Depth>(e, blockIdx.x - e.block_begin, shared_x);
    else
        run_block(e, blockIdx.x - e.block_begin, table.warm_l2, shared_x);
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

// LECTERN_CUDA_GEMV=stream (Depth 4) or stream8 (Depth 8): long rows on the streamed walk
// (gemv_stream.cuh); 0 (unset, or anything else): the default walk. An A/B switch, not yet timed.
int stream_depth() {
    static const int depth = [] {
        const char* v = std::getenv("LECTERN_CUDA_GEMV");
        const std::string mode = v ? v : "";
        return mode == "stream" ? 4 : mode == "stream8" ? 8 : 0;
    }();
    return depth;
}

using GemvKernel = void (*)(const Table);

// The blocks of `kernel` the device holds at once with `shared_bytes` of staged x: its SMs times
// what the occupancy calculator says one SM holds (one per SM while it refuses), asked once per
// depth and KiB of x. LECTERN_CUDA_GEMV_BLOCKS=N sets it instead (the tests: grids much smaller
// and larger than the emulated device's one SM gives).
int resident_blocks(GemvKernel kernel, int depth, std::size_t shared_bytes) {
    static const int forced = [] {
        const char* v = std::getenv("LECTERN_CUDA_GEMV_BLOCKS");
        return v ? std::atoi(v) : 0;
    }();
    if (forced > 0) return forced;
    static const int sms = [] {
        cudaDeviceProp p{};
        return cudaGetDeviceProperties(&p, 0) == cudaSuccess && p.multiProcessorCount > 0
                   ? p.multiProcessorCount
                   : 1;
    }();
    static std::atomic<int> per_sm[2][kGemvSharedXBytes / 1024 + 1];  // 0: not asked yet
    const std::size_t kib = std::min<std::size_t>((shared_bytes + 1023) / 1024,
                                                  std::size_t(kGemvSharedXBytes / 1024));
    std::atomic<int>& known = per_sm[depth == 8 ? 1 : 0][kib];
    int n = known.load(std::memory_order_relaxed);
    if (n == 0) {
        // A refusal (a capture that forbids the call, say) is not kept: asked again next time.
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, kThreads, kib * 1024) !=
                cudaSuccess ||
            n < 1) {
            (void)cudaGetLastError();  // not the next launch's error
            return sms;
        }
        known.store(n, std::memory_order_relaxed);
    }
    return sms * n;
}

// Blocks of a job: a streamed one (e.streamed) gets its share of `resident` by its weight bytes
// (`of` in all streamed jobs), at least one and at most one per kWarps rows (more would only
// add warps without a row); the others 8 * rows_per_warp turns of 32 / lanes rows per block.
std::size_t job_blocks(const Entry& e, long long resident, double bytes, double of) {
    if (!e.streamed) {
        const std::size_t per_block =
            std::size_t(kWarps) * std::size_t(e.rows_per_warp) * std::size_t(32 / e.lanes);
        return (std::size_t(e.rows) + per_block - 1) / per_block;
    }
    const long long most = (e.rows + kWarps - 1) / kWarps;
    return std::size_t(std::clamp(std::llround(double(resident) * bytes / of), 1LL, most));
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
    return gemv_batched(jobs, count, stream, GemvWalk::setting);
}

Result<void> gemv_batched(const GemvJob* jobs, int count, cuda_stream stream, GemvWalk walk) {
    if (count < 0 || count > kMaxGemvJobs)
        return make_error("gemv_batched: " + std::to_string(count) + " jobs (at most " +
                          std::to_string(kMaxGemvJobs) + ")");
    if (count > 0 && !jobs) return make_error("gemv_batched: null job table");
    Table table{};
    int shared_floats = 0;
    const int depth = walk == GemvWalk::setting   ? stream_depth()
                      : walk == GemvWalk::stream4 ? 4
                      : walk == GemvWalk::stream8 ? 8
                                                  : 0;
    double streamed_bytes = 0.0;
    double job_bytes[kMaxGemvJobs] = {};  // a streamed job's weights
    for (int i = 0; i < count; ++i) {
        const GemvJob& g = jobs[i];
        if (g.w.rows < 0 || g.w.cols < 0)
            return make_error("gemv_batched: negative shape in job " + std::to_string(i));
        if (g.w.rows == 0) continue;  // nothing to write: no blocks
        Entry& e = table.job[table.count];
        if (const std::string why = make_entry(g, e); !why.empty())
            return make_error("gemv_batched: job " + std::to_string(i) + ": " + why);
        e.streamed = depth != 0 && e.vectorised && e.lanes == 32 && e.cols > 0;
        if (e.streamed) {
            job_bytes[table.count] = double(e.rows) * e.cols * dtype_size(g.w.dtype);
            streamed_bytes += job_bytes[table.count];
        }
        if (e.staged && e.cols > shared_floats) shared_floats = e.cols;
        ++table.count;
    }
    if (table.count == 0) return {};
    // <= kGemvSharedXBytes = 32 KiB: under the 48 KiB every device allows without an opt-in.
    const std::size_t shared_bytes = std::size_t(shared_floats) * sizeof(float);
    const GemvKernel kernel = depth == 0   ? gemv_batched_kernel
                              : depth == 4 ? gemv_stream_kernel<4>
                                           : gemv_stream_kernel<8>;
    const long long resident =
        streamed_bytes > 0.0 ? resident_blocks(kernel, depth, shared_bytes) : 0;
    std::size_t blocks = 0;
    for (int i = 0; i < table.count; ++i) {
        Entry& e = table.job[i];
        const std::size_t b = job_blocks(e, resident, job_bytes[i], streamed_bytes);
        e.block_begin = unsigned(blocks);
        e.warps = unsigned(b * kWarps);
        blocks += b;
        if (blocks > std::size_t(INT_MAX)) return make_error("gemv_batched: too many rows");
    }
    table.warm_l2 = l2_warming_enabled() ? 1 : 0;
    if (pdl_enabled()) {
        LECTERN_CUDA_TRY(launch_programmatic(kernel, dim3(unsigned(blocks)), dim3(kThreads),
                                             shared_bytes, stream, table));
        return {};
    }
    kernel<<<unsigned(blocks), kThreads, shared_bytes, stream>>>(table);
    LECTERN_CUDA_TRY(cudaGetLastError());
    return {};
}

Result<void> gemv(const GemvJob& job, cuda_stream stream) {
    return gemv_batched(&job, 1, stream);
}

}  // namespace lectern::cuda
