// ThreadPool: size()-1 persistent std::thread workers plus the calling thread. A parallel_for
// publishes one job (a generation number), every participant pulls chunks from an atomic
// counter, and the caller waits until all workers have checked out of the job.
//
// Wake-up: workers spin briefly on the generation counter (the CPU backend issues many short
// jobs back to back, one per matmul of a layer) and then sleep on a condition variable, so an
// idle pool costs nothing. The caller waits the same way for completion.
//
// Exceptions: the engine does not throw, but if fn does, the first exception is captured, the
// remaining chunks are skipped, every participant still checks out, and the exception is
// rethrown on the calling thread after the job is complete. Nothing ever terminates or deadlocks.
#include "cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#define LECTERN_CPU_RELAX() _mm_pause()
#else
#define LECTERN_CPU_RELAX() std::this_thread::yield()
#endif

namespace lectern {
namespace {

// Set while a thread runs inside a job (worker threads: always). A parallel_for issued from such
// a thread runs serially: the pool is busy with the outer job, and waiting on it would deadlock.
thread_local bool tl_inside_job = false;

// About 20-50 µs of polling on current x86 cores before a thread goes to sleep: long enough to
// bridge the gap between consecutive ops of a forward pass, short enough not to steal a shared
// core from other processes for long.
constexpr int spin_iterations = 2000;

// One polling step. Every 16th step yields the core: when the machine is oversubscribed (more
// runnable threads than cores, common on a shared desktop), the thread we wait for may be the
// one waiting for our core. Measured on 2 busy cores: 4-50 µs per empty job instead of 150 µs.
inline void relax(int i) {
    if ((i & 15) == 15)
        std::this_thread::yield();
    else
        LECTERN_CPU_RELAX();
}

}  // namespace

struct ThreadPool::Impl {
    int threads = 1;
    std::vector<std::thread> workers;

    // Serialises parallel_for calls from different threads (the contract asks callers not to do
    // that; this keeps it merely slow rather than wrong).
    std::mutex submit_mutex;

    std::mutex mutex;  // guards the sleeping side of `generation`, `active` and `stop`
    std::condition_variable wake_cv;
    std::condition_variable done_cv;
    std::atomic<std::uint64_t> generation{0};
    std::atomic<int> active{0};  // workers that have not finished the current job
    bool stop = false;

    // The current job. Written by the caller before `generation` is bumped (release) and read by
    // workers after they observe the new generation (acquire).
    const std::function<void(std::size_t, std::size_t)>* fn = nullptr;
    std::size_t n = 0;
    std::size_t chunk = 1;
    std::size_t chunks = 0;
    std::atomic<std::size_t> next_chunk{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;  // first exception thrown by fn, guarded by `mutex`

    void run_chunks() {
        for (;;) {
            if (failed.load(std::memory_order_relaxed)) return;
            const std::size_t c = next_chunk.fetch_add(1, std::memory_order_relaxed);
            if (c >= chunks) return;
            const std::size_t begin = c * chunk;
            const std::size_t end = std::min(n, begin + chunk);
            try {
                (*fn)(begin, end);
            } catch (...) {
                std::lock_guard<std::mutex> lock(mutex);
                if (!error) error = std::current_exception();
                failed.store(true, std::memory_order_relaxed);
            }
        }
    }

    void worker_loop() {
        tl_inside_job = true;
        std::uint64_t seen = 0;
        for (;;) {
            std::uint64_t g = generation.load(std::memory_order_acquire);
            for (int i = 0; i < spin_iterations && g == seen; ++i) {
                relax(i);
                g = generation.load(std::memory_order_acquire);
            }
            if (g == seen) {
                std::unique_lock<std::mutex> lock(mutex);
                wake_cv.wait(lock, [&] {
                    return stop || generation.load(std::memory_order_acquire) != seen;
                });
                if (stop) return;
                g = generation.load(std::memory_order_acquire);
            }
            seen = g;
            run_chunks();
            if (active.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                // Last one out: the caller may be asleep. Taking the mutex orders this notify
                // after the caller's predicate check, so the wake-up cannot be lost.
                std::lock_guard<std::mutex> lock(mutex);
                done_cv.notify_one();
            }
        }
    }
};

ThreadPool::ThreadPool(int threads) : m_impl(std::make_unique<Impl>()) {
    m_impl->threads =
        threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
    m_impl->workers.reserve(std::size_t(m_impl->threads - 1));
    for (int i = 1; i < m_impl->threads; ++i)
        m_impl->workers.emplace_back([impl = m_impl.get()] { impl->worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(m_impl->mutex);
        m_impl->stop = true;
    }
    m_impl->wake_cv.notify_all();
    for (std::thread& t : m_impl->workers) t.join();
}

int ThreadPool::size() const { return m_impl->threads; }

void ThreadPool::parallel_for(std::size_t n, std::size_t grain,
                              const std::function<void(std::size_t, std::size_t)>& fn) {
    if (n == 0) return;
    grain = std::max<std::size_t>(grain, 1);
    Impl& p = *m_impl;
    // Serial cases: one thread, too little work for two ranges, or a nested call.
    if (p.workers.empty() || n < 2 * grain || tl_inside_job) {
        fn(0, n);
        return;
    }

    // Many chunks per thread so a participant delayed by another process (the cores are shared)
    // does not hold up the whole job, and so the other threads wait at most one small chunk at
    // the end of each job (decode runs ~60 jobs per token; with 4 chunks per thread the idle
    // tail was ~1/16 of every job); never below `grain`. A chunk costs one atomic increment.
    const std::size_t target_chunks = std::size_t(p.threads) * 16;
    run(n, std::max(grain, (n + target_chunks - 1) / target_chunks), fn);
}

void ThreadPool::parallel_for_split(std::size_t n, std::size_t min_n, std::size_t align,
                                    const std::function<void(std::size_t, std::size_t)>& fn) {
    if (n == 0) return;
    min_n = std::max<std::size_t>(min_n, 1);
    align = std::max<std::size_t>(align, 1);
    Impl& p = *m_impl;
    if (p.workers.empty() || n < 2 * min_n || tl_inside_job) {
        fn(0, n);
        return;
    }
    const std::size_t per_thread = (n + std::size_t(p.threads) - 1) / std::size_t(p.threads);
    run(n, (per_thread + align - 1) / align * align, fn);
}

void ThreadPool::run(std::size_t n, std::size_t chunk,
                     const std::function<void(std::size_t, std::size_t)>& fn) {
    Impl& p = *m_impl;
    std::lock_guard<std::mutex> submit(p.submit_mutex);
    p.chunk = chunk;
    p.chunks = (n + p.chunk - 1) / p.chunk;
    p.n = n;
    p.fn = &fn;
    p.next_chunk.store(0, std::memory_order_relaxed);
    p.failed.store(false, std::memory_order_relaxed);
    p.error = nullptr;
    p.active.store(int(p.workers.size()), std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(p.mutex);
        p.generation.fetch_add(1, std::memory_order_release);
    }
    p.wake_cv.notify_all();

    tl_inside_job = true;
    p.run_chunks();
    tl_inside_job = false;

    for (int i = 0; i < spin_iterations && p.active.load(std::memory_order_acquire) != 0; ++i)
        relax(i);
    if (p.active.load(std::memory_order_acquire) != 0) {
        std::unique_lock<std::mutex> lock(p.mutex);
        p.done_cv.wait(lock, [&] { return p.active.load(std::memory_order_acquire) == 0; });
    }
    p.fn = nullptr;
    if (p.error) {
        std::exception_ptr e = p.error;
        p.error = nullptr;
        std::rethrow_exception(e);
    }
}

}  // namespace lectern
