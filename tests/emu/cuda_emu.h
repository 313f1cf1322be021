// A CPU stand-in for <cuda_runtime.h>, large enough to run every kernel of kernels/ and the engine's
// CUDA backend (kernels/model), rewritten by cuda_to_cpp.py, on the host, so that their indexing,
// dispatch, barriers and warp exchanges, and the backend's use of them, are checked on machines
// without a GPU (CI). 16-bit floats: cuda_emu_fp16.h; the host API (memory, streams, capture,
// graphs, events): cuda_emu_runtime.h; cuBLAS: cublas_emu.h.
// Model: a launch runs its blocks one after another; each GPU thread of a block is a fiber
// (cuda_emu_context.h) with its own stack, all on the calling OS thread, switched only at
// __syncthreads, __syncwarp and shuffles; __shared__ variables are function statics (one instance,
// reused by every block), refilled with 0xFF bytes (float NaN) when the first thread of each block
// reaches the declaration (cuda_to_cpp.py adds the call, fresh_shared); dynamic shared memory is
// one buffer per launch, refilled with 0xFF bytes before every block and followed by a guard zone
// checked after it. So a read of shared memory nothing of the block wrote shows as NaN.
// Fibers rather than OS threads: with a std::thread per GPU thread and std::barrier the test's
// cases took minutes on 2 cores; fibers take seconds and are deterministic.
// Limits (what this does NOT check):
// - no memory-model or timing fidelity: races are not detected as such; a missing __syncthreads
//   or __syncwarp shows only where the schedule (a warp runs ahead of the others until it waits;
//   forward, or with LECTERN_EMU_SCHEDULE=reverse from the last thread and block down, see
//   cuda_emu_fiber.h) makes a thread read data another has not written yet or has overwritten, as
//   a wrong result; the kernel tests run under both schedules;
// - only the CUDA subset these kernels use: 1-D blocks, 2-D grids, static and dynamic shared
//   memory (up to the 48 KiB a launch gets without an opt-in), full-mask __shfl_sync /
//   __shfl_xor_sync / __any_sync / __syncwarp in whole warps, int atomicAdd, wmma
//   (cuda_emu_wmma.h), __ldg, gemv.cu's non-coherent load; a kernel using anything else fails to compile (undeclared) or
//   aborts at run time;
// - host memory: device pointers are host pointers (a kernel given a host pointer works here);
//   work runs in issue order whatever the stream, when issued or (LECTERN_EMU_ASYNC=1) when the
//   host first waits for it (cuda_emu_runtime.h);
// - float math is the host's (expf, fmaf from libm), so results match the GPU only to tolerance;
// - events time host wall clock.
// It is strict where CUDA is undefined and a kernel might get away with it on today's hardware: a
// full-mask shuffle or __syncwarp with an exited lane, a __syncthreads after any thread of the
// block exited, a full-mask warp operation in a partial warp (blockDim.x not a multiple of 32), a
// misaligned vector load, a write past the dynamic shared memory, a launch of more threads per
// block than the kernel's __launch_bounds__ (which CUDA refuses), and a deadlock (threads waiting
// at different barriers) abort with a message. Built with AddressSanitizer (the asan preset), a
// kernel touching a byte past the end of a cudaMalloc'd buffer is reported (cuda_emu_runtime.h).
#pragma once

#if defined(__CUDACC__) || defined(__CUDA_RUNTIME_H__)
#error "cuda_emu.h replaces the CUDA runtime; the real CUDA headers must not be included as well"
#endif
#define LECTERN_CUDA_EMU 1

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuda_emu_log.h"

// Qualifiers: nothing to do on the host. __shared__ as `static`: one instance shared by the
// fibers of the running block (blocks run one at a time, so one instance is enough).
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __launch_bounds__(...)  // checked at the start of the kernel (check_launch_bounds)
#define __grid_constant__  // a kernel parameter in constant memory: an ordinary copy here
#define __align__(n) __attribute__((aligned(n)))  // GCC/clang: allowed among decl-specifiers

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(8) uint2 {
    unsigned x, y;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

#include "cuda_emu_runtime.h"  // errors, memory, the device, streams, capture, graphs, events

// Built-in variables: the running fiber's indices (set by the scheduler at every switch).
#define threadIdx (::emu::thread_idx)
#define blockIdx (::emu::block_idx)
#define blockDim (::emu::block_dim)
#define gridDim (::emu::grid_dim)
namespace emu {
inline dim3 thread_idx, block_idx, block_dim, grid_dim;

// Stops the program: a kernel did something CUDA leaves undefined, or outside the emulated subset.
[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "cuda_emu: %s (block %u,%u thread %u)\n", what, block_idx.x, block_idx.y,
                 thread_idx.x);
    std::abort();
}

inline void require_full_mask(unsigned mask, const char* what) {
    if (mask != 0xffffffffu) fail(what);
}

// What gemv.cu's `ld.global.nc.v4.u32` inline PTX becomes (cuda_to_cpp.py): a plain 16-byte load,
// which the instruction requires to be 16-byte aligned.
inline uint4 load_global_nc(const uint4* p) {
    if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0) fail("misaligned 16-byte global load");
    return *p;
}

// The running launch's dynamic shared memory (extern __shared__ arrays, see cuda_to_cpp.py).
inline unsigned char* dynamic_shared = nullptr;
inline void* dynamic_shared_memory() { return dynamic_shared; }

// Called by every thread of a kernel declared with __launch_bounds__ (cuda_to_cpp.py adds the
// call): CUDA refuses a launch of more threads per block than the bound (ptxas sized the kernel's
// registers for at most that many), so a launcher that exceeds it would fail on a GPU.
inline void check_launch_bounds(int max_threads) {
    if (std::size_t(block_dim.x) * block_dim.y * block_dim.z > std::size_t(max_threads))
        fail("a launch with more threads per block than the kernel's __launch_bounds__");
}

// A kernel's pointer parameter as check_restrict sees it (cuda_to_cpp.py lists them).
struct PointerParam {
    const char* name;
    const void* value;
    bool restrict_qualified, to_const;
};
// Called by the first thread of a launch of a kernel with a __restrict__ pointer parameter
// (cuda_to_cpp.py adds the call, guarded by first_thread_of_launch): a launch passing one address
// as a __restrict__ pointer and as another pointer, not both to const, breaks the promise nvcc
// compiled the kernel on (a const __restrict__ input may be read through the non-coherent cache,
// loads moved past stores), so it may be wrong on a GPU. Only equal addresses are caught, not
// overlapping ranges.
inline bool first_thread_of_launch() {
    return thread_idx.x == 0 && block_idx.x == 0 && block_idx.y == 0;
}
inline void check_restrict(std::initializer_list<PointerParam> params) {
    for (auto a = params.begin(); a != params.end(); ++a)
        for (auto b = a + 1; b != params.end(); ++b)
            if (a->value && a->value == b->value && (a->restrict_qualified || b->restrict_qualified) &&
                !(a->to_const && b->to_const)) {
                std::fprintf(stderr, "cuda_emu: %s and %s are the same address, one __restrict__\n",
                             a->name, b->name);
                fail("a __restrict__ kernel parameter aliased by another");
            }
}

// Counts the blocks run in the process, so fresh_shared knows a new block from the same one.
inline std::uint64_t block_serial = 0;
// Called by every thread after a static __shared__ declaration (cuda_to_cpp.py adds the call): the
// first thread of each block to get there fills the variable with 0xFF bytes, as the GPU gives a
// block shared memory holding whatever was there, never what this block's kernel left.
inline void fresh_shared(void* variable, std::size_t bytes) {
    static std::vector<std::pair<void*, std::uint64_t>> filled;  // variable -> block it was filled for
    for (auto& [p, serial] : filled)
        if (p == variable) {
            if (serial != block_serial) {
                std::memset(variable, 0xFF, bytes);
                serial = block_serial;
            }
            return;
        }
    std::memset(variable, 0xFF, bytes);
    filled.emplace_back(variable, block_serial);
}
}  // namespace emu

#include "cuda_emu_fiber.h"  // NOLINT(build/include_order): needs the definitions above

// Device intrinsics. Full masks only: every lane of the warp must take part, as the kernels do.
inline void __syncthreads() { emu::current_block().sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    emu::require_full_mask(mask, "__syncwarp with a partial mask (only full masks are emulated)");
    emu::current_block().sync_warp(emu::WarpOp::sync);
}
template <typename T>
T __shfl_sync(unsigned mask, T value, int src_lane) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    emu::require_full_mask(mask, "__shfl_sync with a partial mask (only full masks are emulated)");
    T out;
    emu::current_block().shuffle(&value, &out, sizeof(T), src_lane & 31);
    return out;
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    emu::require_full_mask(mask,
                           "__shfl_xor_sync with a partial mask (only full masks are emulated)");
    const int src = int(emu::thread_idx.x % 32) ^ lane_mask;
    T out;
    // A source outside the warp gives the lane its own value (CUDA's rule for width 32).
    emu::current_block().shuffle(&value, &out, sizeof(T), src < 32 ? src : -1);
    return out;
}
// Whether any lane's predicate is nonzero, for every lane: an OR across the warp by shuffles (the
// same rendezvous the hardware's vote needs: all 32 lanes).
inline int __any_sync(unsigned mask, int predicate) {
    emu::require_full_mask(mask, "__any_sync with a partial mask (only full masks are emulated)");
    int any = predicate != 0;
    for (int offset = 16; offset > 0; offset >>= 1) any |= __shfl_xor_sync(mask, any, offset);
    return any;
}
// Fibers switch only at barriers and shuffles, so a read-modify-write is atomic here.
inline int atomicAdd(int* p, int value) {
    const int old = *p;
    *p = old + value;
    return old;
}
template <typename T>
T __ldg(const T* p) {
    return *p;
}
// The _rn intrinsics exist to forbid FMA contraction; the emulated kernels are compiled with
// -ffp-contract=off, so plain operations round the same way.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
using std::isnan;
using std::max;
using std::min;

namespace emu {

// Runs kernel(args...) on every thread of every block of `grid`, now.
template <typename... P, typename... A>
void run_launch(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t dynamic_smem, A... args) {
    // One launch at a time in the process: the built-in variables and the scheduler are global.
    static std::recursive_mutex one_at_a_time;
    std::lock_guard<std::recursive_mutex> hold(one_at_a_time);
    launch_log().push_back({grid.x, grid.y, block.x});
    const std::function<void()> body = [&] { kernel(P(args)...); };
    block_dim = block;
    grid_dim = grid;
    // Dynamic shared memory, 16-byte aligned as on the GPU, then a guard zone.
    constexpr std::size_t guard = 64;
    constexpr unsigned char guard_byte = 0xA5;
    const std::unique_ptr<float4[]> smem(new float4[(dynamic_smem + guard + 15) / 16]);
    dynamic_shared = reinterpret_cast<unsigned char*>(smem.get());
    BlockRunner runner(block.x);
    const bool reverse = schedule() == Schedule::reverse;  // last block first (cuda_emu_fiber.h)
    for (unsigned iy = 0; iy < grid.y; ++iy)
        for (unsigned ix = 0; ix < grid.x; ++ix) {
            block_idx = reverse ? dim3(grid.x - 1 - ix, grid.y - 1 - iy) : dim3(ix, iy);
            ++block_serial;
            std::memset(dynamic_shared, 0xFF, dynamic_smem);  // NaN: unwritten reads show
            std::memset(dynamic_shared + dynamic_smem, guard_byte, guard);
            runner.run(body);
            for (std::size_t i = 0; i < guard; ++i)
                if (dynamic_shared[dynamic_smem + i] != guard_byte)
                    fail("a write past the launch's dynamic shared memory");
        }
    dynamic_shared = nullptr;
}

// A launch: checked as CUDA checks it when issued (a configuration CUDA would refuse, or this
// emulator cannot run, sets the error cudaGetLastError returns), then run now or recorded into the
// stream's capture (the arguments copied, as CUDA copies them).
template <typename... P, typename... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t dynamic_smem,
            cudaStream_t stream, A... args) {
    static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
    if (const cudaError_t e = sticky_error(); e != cudaSuccess) {
        last_error = e;
        return;
    }
    const bool cuda_ok = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.y <= 65535 &&
                         grid.z <= 65535 && block.x >= 1 && block.x <= 1024 &&
                         std::size_t(block.x) * block.y * block.z <= 1024;
    if (!cuda_ok) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    // More than 48 KiB of dynamic shared memory needs cudaFuncSetAttribute first (not emulated).
    if (dynamic_smem > 48 * 1024) {
        last_error = cudaErrorInvalidValue;
        return;
    }
    if (block.y != 1 || block.z != 1 || grid.z != 1)
        fail("launch: only 1-D blocks and 2-D grids");
    if (check_kernel_pointers()) {
        int index = 0;
        const auto check = [&index](const auto& arg) {
            if constexpr (std::is_pointer_v<std::decay_t<decltype(arg)>>) {
                if (arg && !kernel_may_read(arg)) {
                    std::fprintf(stderr, "cuda_emu: kernel argument %d is a host pointer\n", index);
                    std::abort();
                }
            }
            ++index;
        };
        (check(args), ...);
    }
    // An injected fault (cuda_emu_runtime.h): refused here, or a kernel that faults when it runs.
    if (const std::optional<Fault> fault = launch_fault_due()) {
        if (*fault == Fault::refused_launch) {
            last_error = cudaErrorLaunchOutOfResources;
            return;
        }
        if (const cudaError_t e =
                enqueue(stream, [] { faults().sticky = cudaErrorIllegalAddress; });
            e != cudaSuccess)
            last_error = e;
        return;
    }
    if (const cudaError_t e = enqueue(stream, [=] {
            run_launch(kernel, grid, block, dynamic_smem, args...);
        });
        e != cudaSuccess)
        last_error = e;
}

// `kernel<<<grid, block, smem, stream>>>(args)` becomes `emu::Launch{grid, block, smem, stream}(
// kernel, args)` (cuda_to_cpp.py); dim3 converts from the integers a launch may give.
struct Launch {
    dim3 grid, block;
    std::size_t dynamic_smem = 0;
    cudaStream_t stream = nullptr;
    template <typename... P, typename... A>
    void operator()(void (*kernel)(P...), A... args) const {
        launch(kernel, grid, block, dynamic_smem, stream, args...);
    }
};

}  // namespace emu

// cudaLaunchKernelEx with the one attribute the kernels use (programmatic stream serialization,
// grid_dependency.cuh): launches run one after another here, so the attribute changes nothing.
enum cudaLaunchAttributeID { cudaLaunchAttributeProgrammaticStreamSerialization = 5 };
union cudaLaunchAttributeValue {
    int programmaticStreamSerializationAllowed;
};
struct cudaLaunchAttribute {
    cudaLaunchAttributeID id;
    cudaLaunchAttributeValue val;
};
// CUDA's members gridDim and blockDim would collide with the built-in variables' macros here, so
// they have other names; the kernels' launchers initialise the struct by position.
struct cudaLaunchConfig_t {
    dim3 grid, block;
    std::size_t dynamicSmemBytes = 0;
    cudaStream_t stream = nullptr;
    cudaLaunchAttribute* attrs = nullptr;
    unsigned int numAttrs = 0;
};
template <typename... P, typename... A>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t* config, void (*kernel)(P...), A&&... args) {
    for (unsigned i = 0; i < config->numAttrs; ++i)
        if (config->attrs[i].id != cudaLaunchAttributeProgrammaticStreamSerialization)
            emu::fail("cudaLaunchKernelEx: an attribute the emulator does not know");
    const cudaError_t before = emu::last_error;
    emu::last_error = cudaSuccess;
    emu::launch(kernel, config->grid, config->block, config->dynamicSmemBytes,
                config->stream, args...);
    // As CUDA: the launch's own error is returned (and stays the last error).
    const cudaError_t mine = emu::last_error;
    if (mine == cudaSuccess) emu::last_error = before;
    return mine;
}

// The occupancy calculator: the blocks of `kernel` one SM holds at once. The emulated device runs
// one block at a time; it answers 2 (what some real kernel and device could answer), so a grid
// sized by it has more blocks than SMs. Refuses what CUDA refuses.
template <typename... P>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, void (*kernel)(P...),
                                                          int block_size,
                                                          std::size_t dynamic_smem) {
    if (!blocks || !kernel || block_size < 1 || block_size > 1024 || dynamic_smem > 48 * 1024)
        return cudaErrorInvalidValue;
    *blocks = 2;
    return cudaSuccess;
}
