// parallel_rows: run fn(t0, t1) over token rows [0, T) on the pool, for the elementwise and
// per-row ops of a forward pass (layer norms, token shifts, time-mix preparation, group norm).
// At prefill these ran on one thread while the others waited, ~10% of the wall time at 0.1B;
// at decode (T small) they stay serial, where a hand-off would cost more than the work.
#pragma once

#include <cstddef>

#include "cpu/thread_pool.h"

namespace lectern {

template <class Fn>
void parallel_rows(ThreadPool* pool, int T, const Fn& fn) {
    constexpr std::size_t grain = 16;  // rows; a row is C = 768-4096 floats
    if (pool && pool->size() > 1 && std::size_t(T) >= 2 * grain)
        pool->parallel_for(std::size_t(T), grain, [&](std::size_t t0, std::size_t t1) {
            fn(int(t0), int(t1));
        });
    else if (T > 0)
        fn(0, T);
}

}  // namespace lectern
