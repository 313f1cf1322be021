// ThreadPool, first version: runs parallel_for serially (replaced by a real pool).
#include "cpu/thread_pool.h"

#include <thread>

namespace lectern {

struct ThreadPool::Impl {
    int threads = 1;
};

ThreadPool::ThreadPool(int threads) : m_impl(std::make_unique<Impl>()) {
    m_impl->threads = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
}

ThreadPool::~ThreadPool() = default;

int ThreadPool::size() const { return m_impl->threads; }

void ThreadPool::parallel_for(std::size_t n, std::size_t /*grain*/,
                              const std::function<void(std::size_t, std::size_t)>& fn) {
    if (n) fn(0, n);
}

}  // namespace lectern
