// A fixed pool of worker threads for data-parallel loops in the CPU backend.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

namespace lectern {

class ThreadPool {
public:
    // threads <= 0: one per hardware thread.
    explicit ThreadPool(int threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const;

    // Run fn(begin, end) over disjoint ranges covering [0, n), in parallel, and wait. Ranges are
    // at least `grain` long (except the last). Safe to call from one thread at a time per pool;
    // a nested call from inside fn runs serially.
    void parallel_for(std::size_t n, std::size_t grain,
                      const std::function<void(std::size_t, std::size_t)>& fn);

    // Like parallel_for, but cut into one range per participant (boundaries at multiples of
    // `align`), for loops that stream memory: each core then reads one long contiguous run that
    // its software prefetch can run ahead in, where 16 short chunks per thread each started
    // cold (decode matrix-vector products, ~7% faster at 0.4B). A participant that finishes
    // early takes a range nobody has started; none is split further, so a core stolen by
    // another process delays the whole job. Serial when n < 2 * min_n.
    void parallel_for_split(std::size_t n, std::size_t min_n, std::size_t align,
                            const std::function<void(std::size_t, std::size_t)>& fn);

    struct Impl;

private:
    void run(std::size_t n, std::size_t chunk,
             const std::function<void(std::size_t, std::size_t)>& fn);

    std::unique_ptr<Impl> m_impl;
};

}  // namespace lectern
