// The host side of the CUDA runtime for the CPU emulator (cuda_emu.h includes it): errors, device
// memory, one emulated device, streams, events, stream capture and graphs, so that the engine's
// CUDA backend (kernels/model) runs unchanged on machines without a GPU.
// Model: the device is the host. Device memory is aligned host memory, tracked so that misuse CUDA
// would report (freeing a pointer twice, a host pointer where a copy's kind says device, more than
// the emulated card holds; with LECTERN_EMU_DEVICE_POINTERS=1, a kernel launched with a host
// pointer) fails here too. Work runs in issue order, whatever the stream: a missing
// synchronisation between streams cannot show (the one ordering is always a valid one). By default
// it runs when issued; with LECTERN_EMU_ASYNC=1 (set for the GPU tests and the CLI run on the
// emulator) asynchronous work waits in a queue until the host synchronises on it (a synchronous
// copy or memset, a stream, device or event synchronisation, freeing memory), as late as a GPU may
// run it, so host code that reuses a pinned buffer before its copy ran, or reads results it never
// waited for, sees the stale bytes it would see on a GPU. Copies between device memory and
// pageable host memory keep CUDA's rules: host-to-device takes the source bytes when issued,
// device-to-host completes before returning; pinned memory is read and written when the copy
// runs. Stream capture records each operation issued to the capturing stream (kernel
// arguments copied, as CUDA copies them) and a graph launch replays them, so a graph that bakes in
// a pointer or a size which later calls change replays the stale one, as on a GPU. While a capture
// is under way on the calling thread, the calls CUDA forbids there (synchronous copies and
// allocations, synchronisation, work on the legacy stream) fail and invalidate the capture.
// Tests may inject a refused launch or a faulting kernel (emu::arm_fault, below).
// The emulated card: LECTERN_EMU_DEVICE_MEMORY_MB (default 8192) of memory, compute capability 9.0.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

// Under AddressSanitizer the bytes between an allocation's end and its 256-byte rounding are
// poisoned, so a kernel reading or writing even one byte past a cudaMalloc'd buffer is reported
// (a GPU may not fault there, compute-sanitizer's memcheck does).
#if defined(__SANITIZE_ADDRESS__)
#define LECTERN_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LECTERN_EMU_ASAN 1
#endif
#endif
#ifdef LECTERN_EMU_ASAN
#include <sanitizer/asan_interface.h>
#endif

enum cudaError_t {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureImplicit = 906
};
enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2
};
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0, cudaEventDisableTiming = 2;
constexpr unsigned cudaHostAllocDefault = 0;

// A stream: only whether it is capturing, and into what.
struct CUgraph_st {
    std::vector<std::function<void()>> nodes;
};
struct CUstream_st {
    CUgraph_st* capture = nullptr;  // non-null while capturing
    bool invalidated = false;       // the capture met a forbidden call
};
struct CUgraphExec_st {
    std::vector<std::function<void()>> nodes;
};
struct CUevent_st {
    std::chrono::steady_clock::time_point at;
    std::uint64_t issued = 0;  // the queue position of its last record (LECTERN_EMU_ASYNC)
};
using cudaStream_t = CUstream_st*;  // the same type as lectern::cuda::cuda_stream
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;
using cudaEvent_t = CUevent_st*;

namespace emu {
inline cudaError_t last_error = cudaSuccess;  // what cudaGetLastError reports (and clears)

// Injected faults, for tests of the engine's error paths (tst_cuda_faults_emu), in the two forms a
// GPU shows them:
// - a refused launch: the launch's error is reported at once (cudaGetLastError), its kernel never
//   runs, nothing else is affected (as for a launch that asks for too many resources);
// - a kernel fault: the launch is accepted, and its kernel faults when it runs (an illegal
//   address). As on a GPU, whose context is then lost, the error is sticky: that kernel and all
//   work after it never run, and every later call returns the error (cudaGetLastError does not
//   clear it) until clear_faults(), a fresh context no real process gets; cudaFree and
//   cudaFreeHost still free, so that the test's process ends clean.
// Kernel launches are counted (launches_issued) whether or not a fault is armed, so a test can
// aim a fault at the n-th launch of a call; graph replays and cuBLAS calls are not launches here.
enum class Fault { refused_launch, kernel_fault };
struct FaultPlan {
    std::mutex lock;
    std::uint64_t launches = 0;   // kernel launches issued (captures included)
    std::int64_t countdown = -1;  // launches to let through before the armed fault; -1: none
    Fault kind = Fault::refused_launch;
    std::atomic<int> sticky{cudaSuccess};  // a kernel fault's error, once its kernel "ran"
};
inline FaultPlan& faults() {
    static FaultPlan f;
    return f;
}
// The next kernel launch after `after_launches` more fails as `kind` says.
inline void arm_fault(Fault kind, std::uint64_t after_launches) {
    std::lock_guard<std::mutex> g(faults().lock);
    faults().kind = kind;
    faults().countdown = std::int64_t(after_launches);
}
// Disarms the plan and forgets a sticky error.
inline void clear_faults() {
    std::lock_guard<std::mutex> g(faults().lock);
    faults().countdown = -1;
    faults().sticky = cudaSuccess;
    last_error = cudaSuccess;
}
inline std::uint64_t launches_issued() {
    std::lock_guard<std::mutex> g(faults().lock);
    return faults().launches;
}
inline cudaError_t sticky_error() {
    return cudaError_t(faults().sticky.load());
}
// Counts a launch; the fault it must fail with, if the armed one is due now.
inline std::optional<Fault> launch_fault_due() {
    std::lock_guard<std::mutex> g(faults().lock);
    ++faults().launches;
    if (faults().countdown < 0) return std::nullopt;
    if (faults().countdown-- > 0) return std::nullopt;
    return faults().kind;
}

// Driver calls that cost a real GPU program time beyond their work, counted so that a test can
// bound what a path asks of the driver (a question's fork and first tokens, say): allocations and
// frees (cudaFree and cudaFreeHost wait for the device, page-locked allocations map pages),
// blocking copies and waits, graph instantiations. reset_driver_calls() zeroes them.
struct DriverCalls {
    std::atomic<int> malloc{0}, free{0}, host_alloc{0}, free_host{0};
    std::atomic<int> blocking_copy{0};  // cudaMemcpy, cudaMemset (host waits)
    std::atomic<int> sync{0};           // cudaDeviceSynchronize, cudaStreamSynchronize
    std::atomic<int> event_sync{0};     // cudaEventSynchronize
    std::atomic<int> graph_instantiate{0};
};
inline DriverCalls& driver_calls() {
    static DriverCalls c;
    return c;
}
inline void reset_driver_calls() {
    DriverCalls& c = driver_calls();
    for (std::atomic<int>* n : {&c.malloc, &c.free, &c.host_alloc, &c.free_host, &c.blocking_copy,
                                &c.sync, &c.event_sync, &c.graph_instantiate})
        n->store(0);
}

[[noreturn]] inline void fail_host(const char* what) {
    std::fprintf(stderr, "cuda_emu: %s\n", what);
    std::abort();
}

// Device and pinned host allocations: start -> bytes. One lock for the table (the engine may call
// from more than one thread, one at a time).
struct Allocations {
    std::mutex lock;
    std::map<const unsigned char*, std::size_t> device, pinned;
    std::size_t device_bytes = 0;
};
inline Allocations& allocations() {
    static Allocations a;
    return a;
}
inline std::size_t device_memory_total() {
    static const std::size_t total = [] {
        const char* mb = std::getenv("LECTERN_EMU_DEVICE_MEMORY_MB");
        return std::size_t(mb && std::atoll(mb) > 0 ? std::atoll(mb) : 8192) << 20;
    }();
    return total;
}
// Whether [p, p + n) lies inside one table entry.
inline bool inside(const std::map<const unsigned char*, std::size_t>& table, const void* p,
                   std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    auto it = table.upper_bound(b);
    if (it == table.begin()) return false;
    --it;
    return b >= it->first && b + n <= it->first + it->second;
}
// Bytes to allocate for n: at least one, a whole number of the 256-byte alignment (aligned_alloc).
inline std::size_t allocation_bytes(std::size_t n) {
    return (std::max<std::size_t>(n, 1) + 255) / 256 * 256;
}
// A new allocation of n bytes at p: its tail past n made unreachable under ASan (see the top).
inline void poison_tail(unsigned char* p, std::size_t n) {
#ifdef LECTERN_EMU_ASAN
    ASAN_POISON_MEMORY_REGION(p + n, allocation_bytes(n) - n);
#else
    (void)p;
    (void)n;
#endif
}
// Before p (n bytes) goes back to the C library.
inline void unpoison_tail(void* p, std::size_t n) {
#ifdef LECTERN_EMU_ASAN
    ASAN_UNPOISON_MEMORY_REGION(static_cast<unsigned char*>(p) + n, allocation_bytes(n) - n);
#else
    (void)p;
    (void)n;
#endif
}
inline bool is_device(const void* p, std::size_t n) {
    std::lock_guard<std::mutex> g(allocations().lock);
    return inside(allocations().device, p, n);
}
inline bool is_pinned(const void* p, std::size_t n) {
    std::lock_guard<std::mutex> g(allocations().lock);
    return inside(allocations().pinned, p, n);
}
// Whether a kernel may dereference p on a GPU: inside (or just past the end of) a device
// allocation, or pinned host memory (mapped for the device).
inline bool kernel_may_read(const void* p) {
    std::lock_guard<std::mutex> g(allocations().lock);
    const auto* b = static_cast<const unsigned char*>(p);
    for (const auto* table : {&allocations().device, &allocations().pinned}) {
        auto it = table->upper_bound(b);
        if (it == table->begin()) continue;
        --it;
        if (b >= it->first && b <= it->first + it->second) return true;
    }
    return false;
}
// LECTERN_EMU_DEVICE_POINTERS=1: every pointer a kernel is launched with must be one
// (kernel_may_read); set for the GPU tests run on the emulator, which use device buffers only
// (the emulator's own tests hand kernels host vectors).
inline bool check_kernel_pointers() {
    static const bool on = [] {
        const char* e = std::getenv("LECTERN_EMU_DEVICE_POINTERS");
        return e && e[0] == '1';
    }();
    return on;
}

// The capture under way on this thread, if any (ThreadLocal or Global mode: the calls CUDA then
// forbids fail here).
inline thread_local CUstream_st* capturing_here = nullptr;
// A forbidden call during a capture: the capture is invalidated and the call fails.
inline cudaError_t forbidden_during_capture(cudaError_t e = cudaErrorStreamCaptureUnsupported) {
    capturing_here->invalidated = true;
    return e;
}
// LECTERN_EMU_ASYNC=1: issued work waits in one queue (issue order, every stream) until the
// host synchronises on it.
inline bool deferring() {
    static const bool on = [] {
        const char* e = std::getenv("LECTERN_EMU_ASYNC");
        return e && e[0] == '1';
    }();
    return on;
}
struct Queue {
    std::mutex lock;                 // the queue and the counter
    std::recursive_mutex running;    // one drain at a time, so work runs in issue order
    std::deque<std::pair<std::uint64_t, std::function<void()>>> work;
    std::uint64_t issued = 0;        // the position of the last work queued
};
inline Queue& queue() {
    static Queue q;
    return q;
}
// Runs the queued work up to position `upto` (everything by default): what a synchronisation
// waits for.
inline void drain(std::uint64_t upto = UINT64_MAX) {
    Queue& q = queue();
    std::lock_guard<std::recursive_mutex> hold(q.running);
    for (;;) {
        std::function<void()> next;
        {
            std::lock_guard<std::mutex> g(q.lock);
            if (q.work.empty() || q.work.front().first > upto) return;
            next = std::move(q.work.front().second);
            q.work.pop_front();
        }
        if (sticky_error() == cudaSuccess) next();  // after a kernel fault nothing runs
    }
}
// Runs `work` now (or, with LECTERN_EMU_ASYNC, queues it), or records it when `stream` is
// capturing. Work on the legacy stream while this thread captures another stream is an implicit
// dependency CUDA refuses. `position`: where the work went in the queue (0 when it ran or was
// recorded).
inline cudaError_t enqueue(cudaStream_t stream, std::function<void()> work,
                           std::uint64_t* position = nullptr) {
    if (position) *position = 0;
    if (const cudaError_t e = sticky_error(); e != cudaSuccess) return e;
    if (stream && stream->capture) {
        stream->capture->nodes.push_back(std::move(work));
        return cudaSuccess;
    }
    if (capturing_here && !stream) return forbidden_during_capture(cudaErrorStreamCaptureImplicit);
    if (!deferring()) {
        work();
        return cudaSuccess;
    }
    Queue& q = queue();
    std::lock_guard<std::mutex> g(q.lock);
    q.work.emplace_back(++q.issued, std::move(work));
    if (position) *position = q.issued;
    return cudaSuccess;
}
// A call that synchronises with the device before it acts (refused during a capture).
inline cudaError_t synchronize() {
    if (capturing_here) return forbidden_during_capture();
    drain();
    return sticky_error();
}
}  // namespace emu

inline cudaError_t cudaGetLastError() {
    if (const cudaError_t e = emu::sticky_error(); e != cudaSuccess) return e;
    const cudaError_t e = emu::last_error;
    emu::last_error = cudaSuccess;
    return e;
}
inline cudaError_t cudaPeekAtLastError() {
    const cudaError_t e = emu::sticky_error();
    return e != cudaSuccess ? e : emu::last_error;
}
inline const char* cudaGetErrorName(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
        case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
        case cudaErrorNoDevice: return "cudaErrorNoDevice";
        case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
        case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
        case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
        case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
        case cudaErrorStreamCaptureImplicit: return "cudaErrorStreamCaptureImplicit";
    }
    return "cudaErrorUnknown";
}
inline const char* cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }

// Memory. 256-byte alignment, as cudaMalloc gives.
inline cudaError_t cudaMalloc(void** p, std::size_t n) {
    *p = nullptr;
    ++emu::driver_calls().malloc;
    if (emu::capturing_here) return emu::forbidden_during_capture();
    if (const cudaError_t e = emu::sticky_error(); e != cudaSuccess) return e;
    auto& a = emu::allocations();
    std::lock_guard<std::mutex> g(a.lock);
    if (a.device_bytes + n > emu::device_memory_total()) return cudaErrorMemoryAllocation;
    const std::size_t rounded = emu::allocation_bytes(n);
    auto* q = static_cast<unsigned char*>(std::aligned_alloc(256, rounded));
    if (!q) return cudaErrorMemoryAllocation;
    // New device memory holds whatever was there before; NaN bytes make a read of memory nothing
    // wrote show in the results (as the NaN-filled shared memory does).
    std::memset(q, 0xFF, rounded);
    emu::poison_tail(q, n);
    a.device[q] = n;
    a.device_bytes += n;
    *p = q;
    return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
    if (!p) return cudaSuccess;
    ++emu::driver_calls().free;
    if (emu::capturing_here) return emu::forbidden_during_capture();
    emu::drain();  // cudaFree waits for the device's work
    auto& a = emu::allocations();
    std::lock_guard<std::mutex> g(a.lock);
    const auto it = a.device.find(static_cast<unsigned char*>(p));
    if (it == a.device.end()) emu::fail_host("cudaFree of a pointer cudaMalloc did not return");
    a.device_bytes -= it->second;
    emu::unpoison_tail(p, it->second);
    a.device.erase(it);
    std::free(p);
    return cudaSuccess;
}
namespace emu {
// Page-locked memory refused (tests of the pageable fallbacks): while set, cudaHostAlloc fails
// as a driver out of page-locked memory does, and counts the refusals.
inline std::atomic<bool> refuse_pinned{false};
inline std::atomic<int> pinned_refused{0};
}  // namespace emu
inline cudaError_t cudaHostAlloc(void** p, std::size_t n, unsigned) {
    *p = nullptr;
    ++emu::driver_calls().host_alloc;
    if (emu::capturing_here) return emu::forbidden_during_capture();
    if (const cudaError_t e = emu::sticky_error(); e != cudaSuccess) return e;
    if (emu::refuse_pinned) {
        ++emu::pinned_refused;
        return cudaErrorMemoryAllocation;
    }
    auto* q = static_cast<unsigned char*>(std::aligned_alloc(256, emu::allocation_bytes(n)));
    if (!q) return cudaErrorMemoryAllocation;
    emu::poison_tail(q, n);
    std::lock_guard<std::mutex> g(emu::allocations().lock);
    emu::allocations().pinned[q] = n;
    *p = q;
    return cudaSuccess;
}
inline cudaError_t cudaFreeHost(void* p) {
    if (!p) return cudaSuccess;
    ++emu::driver_calls().free_host;
    emu::drain();
    std::lock_guard<std::mutex> g(emu::allocations().lock);
    auto& pinned = emu::allocations().pinned;
    const auto it = pinned.find(static_cast<unsigned char*>(p));
    if (it == pinned.end()) emu::fail_host("cudaFreeHost of a pointer cudaHostAlloc did not return");
    emu::unpoison_tail(p, it->second);
    pinned.erase(it);
    std::free(p);
    return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total) {
    std::lock_guard<std::mutex> g(emu::allocations().lock);
    *total = emu::device_memory_total();
    *free_bytes = *total - emu::allocations().device_bytes;
    return cudaSuccess;
}

namespace emu {
// A copy whose pointers contradict its kind is an error on a GPU (an invalid argument or a fault);
// here it would silently work, so it is stopped.
inline void check_copy(void* dst, const void* src, std::size_t n, cudaMemcpyKind kind) {
    if (n == 0) return;
    const bool to_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool from_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind != cudaMemcpyDefault && to_device != is_device(dst, n))
        fail_host(to_device ? "cudaMemcpy: the destination is not n bytes of device memory"
                            : "cudaMemcpy: the destination is device memory but the kind says host");
    if (kind != cudaMemcpyDefault && from_device != is_device(src, n))
        fail_host(from_device ? "cudaMemcpy: the source is not n bytes of device memory"
                              : "cudaMemcpy: the source is device memory but the kind says host");
}
}  // namespace emu

inline cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t n, cudaMemcpyKind kind) {
    ++emu::driver_calls().blocking_copy;
    if (emu::capturing_here) return emu::forbidden_during_capture();
    emu::check_copy(dst, src, n, kind);
    emu::drain();  // on the legacy stream: after the work issued before it, and waited for
    if (const cudaError_t e = emu::sticky_error(); e != cudaSuccess) return e;
    if (n) std::memmove(dst, src, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t n, cudaMemcpyKind kind,
                                   cudaStream_t stream = nullptr) {
    emu::check_copy(dst, src, n, kind);
    if (n && emu::deferring() && !(stream && stream->capture) && !emu::capturing_here) {
        // Pageable host memory, as CUDA treats it: a source is staged before the call returns (the
        // caller may rewrite it at once); a destination is written before it returns.
        const bool device_src = emu::is_device(src, n), device_dst = emu::is_device(dst, n);
        if (!device_src && !emu::is_pinned(src, n)) {
            auto staged = std::make_shared<std::vector<unsigned char>>(
                static_cast<const unsigned char*>(src), static_cast<const unsigned char*>(src) + n);
            return emu::enqueue(stream, [=] { std::memmove(dst, staged->data(), n); });
        }
        if (!device_dst && !emu::is_pinned(dst, n)) {
            emu::drain();
            if (const cudaError_t e = emu::sticky_error(); e != cudaSuccess) return e;
            std::memmove(dst, src, n);
            return cudaSuccess;
        }
    }
    return emu::enqueue(stream, [=] {
        if (n) std::memmove(dst, src, n);
    });
}
inline cudaError_t cudaMemset(void* p, int value, std::size_t n) {
    ++emu::driver_calls().blocking_copy;
    if (emu::capturing_here) return emu::forbidden_during_capture();
    if (n && !emu::is_device(p, n)) emu::fail_host("cudaMemset: not n bytes of device memory");
    emu::drain();
    if (const cudaError_t e = emu::sticky_error(); e != cudaSuccess) return e;
    if (n) std::memset(p, value, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int value, std::size_t n, cudaStream_t stream = nullptr) {
    if (n && !emu::is_device(p, n)) emu::fail_host("cudaMemsetAsync: not n bytes of device memory");
    return emu::enqueue(stream, [=] {
        if (n) std::memset(p, value, n);
    });
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) {
    ++emu::driver_calls().sync;
    return emu::synchronize();
}
inline cudaError_t cudaDeviceSynchronize() {
    ++emu::driver_calls().sync;
    return emu::synchronize();
}

// One device.
struct cudaDeviceProp {
    char name[256];
    int major, minor;
    std::size_t totalGlobalMem;
    int multiProcessorCount;
};
inline cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
    if (device != 0) return cudaErrorInvalidValue;
    *p = {};
    std::snprintf(p->name, sizeof p->name, "%s", "Lectern CPU emulator");
    p->major = 9;
    p->minor = 0;
    p->totalGlobalMem = emu::device_memory_total();
    p->multiProcessorCount = 1;
    return cudaSuccess;
}

// Streams, capture and graphs.
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
    *s = new CUstream_st{};
    return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
    if (!s || s->capture) return cudaErrorInvalidValue;
    if (!emu::capturing_here) emu::drain();  // its queued work still runs
    delete s;
    return cudaSuccess;
}
inline cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
    if (!s || s->capture || emu::capturing_here) return cudaErrorStreamCaptureUnsupported;
    s->capture = new CUgraph_st{};
    s->invalidated = false;
    emu::capturing_here = s;
    return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
    *graph = nullptr;
    if (!s || !s->capture) return cudaErrorInvalidValue;
    std::unique_ptr<CUgraph_st> g(s->capture);
    s->capture = nullptr;
    emu::capturing_here = nullptr;
    if (s->invalidated) return cudaErrorStreamCaptureInvalidated;
    *graph = g.release();
    return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                        unsigned long long = 0) {
    ++emu::driver_calls().graph_instantiate;
    *exec = new CUgraphExec_st{graph->nodes};
    return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete g;
    return cudaSuccess;
}
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    if (!emu::capturing_here) emu::drain();  // a queued launch still replays it
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
    if (!exec) return cudaErrorInvalidValue;
    return emu::enqueue(stream, [exec] {
        for (const auto& node : exec->nodes)
            if (emu::sticky_error() == cudaSuccess) node();
    });
}

// Events: host wall-clock time when the recorded work ran.
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
    *e = new CUevent_st{};
    return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
    if (e && !emu::capturing_here) emu::drain(e->issued);  // a queued record still writes it
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t stream = nullptr) {
    std::uint64_t position = 0;
    const cudaError_t r =
        emu::enqueue(stream, [e] { e->at = std::chrono::steady_clock::now(); }, &position);
    if (r == cudaSuccess && position) e->issued = position;
    return r;
}
// Waits for the work issued before the event's record, not for what came after.
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    ++emu::driver_calls().event_sync;
    if (emu::capturing_here) return emu::forbidden_during_capture();
    emu::drain(e->issued);
    return emu::sticky_error();
}
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned = 0) {
    return cudaSuccess;  // work already ran in issue order
}
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
    emu::drain(std::max(start->issued, stop->issued));
    *ms = std::chrono::duration<float, std::milli>(stop->at - start->at).count();
    return cudaSuccess;
}
