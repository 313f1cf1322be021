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

    struct Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

}  // namespace lectern
