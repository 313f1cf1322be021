// The execution engine of cuda_emu.h: runs one CUDA block as fibers (cuda_emu_context.h), one per
// GPU thread, on the calling OS thread, and implements the block barrier, the warp barrier and the
// warp shuffle exchange on top of them. See cuda_emu.h for the model and its limits.
// A fiber runs until it waits at a barrier or exits; then the next ready lane of its own warp runs,
// and only when the whole warp waits, the next warp. So a warp runs as far ahead of the others as
// its barriers allow (the first warp to pass a __syncthreads is the last one to have reached it).
// Why not round-robin over all fibers: that moves every warp one shuffle at a time, in lockstep,
// which hides a missing __syncthreads (a warp overwriting shared data the others have not read
// yet); running ahead exposes it as a wrong result.
// One order shows only half of the races: a warp reading what a *lower* warp wrote without a
// barrier between gets the right data by luck (the lower warp ran first). The reverse schedule
// (LECTERN_EMU_SCHEDULE=reverse, or set_schedule) runs the lanes and warps from the last one down
// and the blocks from the last one down (cuda_emu.h), so for every pair of threads, warps or blocks
// one of the two schedules runs the reader first; the kernel tests run under both.
// Everything is single-threaded, so the scheduler's state needs no locking.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "cuda_emu_context.h"

// AddressSanitizer must be told about stack switches, or it reports false positives (the asan
// preset builds this test too). LECTERN_EMU_ASAN: cuda_emu_runtime.h, included before this file.
#ifdef LECTERN_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

// Included by cuda_emu.h after it has defined dim3, emu::thread_idx and emu::fail.
namespace emu {

enum class WarpOp { sync, shuffle };

// Which thread of a block runs first, and which block of a grid (see the top of this file).
enum class Schedule { forward, reverse };
inline Schedule& schedule_setting() {
    static Schedule s = [] {
        const char* e = std::getenv("LECTERN_EMU_SCHEDULE");
        if (!e || !*e || std::strcmp(e, "forward") == 0) return Schedule::forward;
        if (std::strcmp(e, "reverse") == 0) return Schedule::reverse;
        std::fprintf(stderr, "cuda_emu: LECTERN_EMU_SCHEDULE must be forward or reverse, not %s\n",
                     e);
        std::abort();
    }();
    return s;
}
inline Schedule schedule() { return schedule_setting(); }
// For the emulator's own tests; takes effect at the next launch.
inline void set_schedule(Schedule s) { schedule_setting() = s; }

class BlockRunner;
inline BlockRunner* running_block = nullptr;

class BlockRunner {
  public:
    explicit BlockRunner(unsigned n_threads)
        : fibers_(n_threads), warps_((n_threads + 31) / 32) {
        for (auto& f : fibers_) f.stack = take_stack();
    }
    ~BlockRunner() {
        for (auto& f : fibers_) spare_stacks().push_back(f.stack);
    }
    BlockRunner(const BlockRunner&) = delete;
    BlockRunner& operator=(const BlockRunner&) = delete;

    // Runs body() on every thread of the block; returns when all have returned.
    void run(const std::function<void()>& body) {
        body_ = &body;
        block_arrived_ = 0;
        exited_ = 0;
        for (auto& w : warps_) w = Warp{};
        for (auto& f : fibers_) {
            f.state = State::ready;
            f.shuffles = 0;
#ifdef LECTERN_EMU_ASAN
            // A fiber ends by switching away, never returning: ASan's poisoned redzones of its
            // last frames stay on the stack, which the next block reuses.
            ASAN_UNPOISON_MEMORY_REGION(f.stack, stack_bytes);
#endif
            context_make(f.ctx, f.stack, stack_bytes, &BlockRunner::entry);
        }
        running_block = this;
        reverse_ = schedule() == Schedule::reverse;
        current_ = reverse_ ? unsigned(fibers_.size()) - 1 : 0;
        thread_idx = dim3(current_);
        starting_from_main_ = true;
        switch_context(main_ctx_, fibers_[current_].ctx, fibers_[current_].stack, stack_bytes,
                       false);
        running_block = nullptr;
    }

    // __syncthreads: every thread of the block (none may have exited; see cuda_emu.h).
    void sync_block() {
        if (exited_ > 0) fail("__syncthreads after a thread of the block exited");
        if (++block_arrived_ == fibers_.size()) {
            block_arrived_ = 0;
            for (auto& f : fibers_)
                if (f.state == State::at_block) f.state = State::ready;
            return;
        }
        fibers_[current_].state = State::at_block;
        yield();
    }

    // A full-mask warp operation: waits until all 32 lanes of the warp have arrived.
    void sync_warp(WarpOp op) {
        if (lanes(current_ / 32) != 32)
            fail("full-mask warp operation in a partial warp (blockDim.x not a multiple of 32)");
        Warp& w = warps_[current_ / 32];
        if (w.exited > 0) fail("full-mask warp operation after a lane of the warp exited");
        if (w.arrived == 0)
            w.op = op;
        else if (w.op != op)
            fail("lanes of one warp at different warp operations (__syncwarp vs shuffle)");
        if (++w.arrived == 32) {
            w.arrived = 0;
            const unsigned first = current_ / 32 * 32;
            for (unsigned i = first; i < first + 32; ++i)
                if (fibers_[i].state == State::at_warp) fibers_[i].state = State::ready;
            return;
        }
        fibers_[current_].state = State::at_warp;
        yield();
    }

    // Lane value exchange: each lane publishes `in`, then reads lane src's (its own when src < 0).
    // Two buffers, alternated per shuffle: a lane can only write the buffer of shuffle n + 2 after
    // every lane has passed shuffle n + 1's barrier, hence after every read of shuffle n.
    void shuffle(const void* in, void* out, std::size_t bytes, int src) {
        Fiber& f = fibers_[current_];
        Warp& w = warps_[current_ / 32];
        auto& buffer = w.exchange[f.shuffles++ & 1];
        std::memcpy(buffer[current_ % 32], in, bytes);
        sync_warp(WarpOp::shuffle);
        std::memcpy(out, src < 0 ? in : buffer[src], bytes);
    }

  private:
    enum class State { ready, at_warp, at_block, done };
    struct Fiber {
        Context ctx;
        void* stack = nullptr;
        State state = State::ready;
        unsigned shuffles = 0;  // parity picks the exchange buffer
    };
    struct Warp {
        unsigned arrived = 0;
        unsigned exited = 0;
        WarpOp op = WarpOp::sync;
        unsigned char exchange[2][32][8] = {};
    };

#ifdef LECTERN_EMU_ASAN
    static constexpr std::size_t stack_bytes = 1u << 20;  // ASan's redzones grow frames
#else
    static constexpr std::size_t stack_bytes = 128u << 10;
#endif
    static constexpr std::size_t page = 4096;

    // A stack with an inaccessible page below it, so an overflow crashes instead of corrupting
    // the neighbouring fiber's stack. MAP_NORESERVE: only touched pages cost memory.
    static void* allocate_stack() {
        void* p = mmap(nullptr, stack_bytes + page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) fail("mmap of a fiber stack failed");
        mprotect(p, page, PROT_NONE);
        return static_cast<char*>(p) + page;
    }

    // Stacks outlive their runners and are reused by the next launch (launches run one at a time,
    // cuda_emu.h): mapping and unmapping a stack per thread per launch was most of the time of
    // the whole-model tests, which launch thousands of kernels.
    static std::vector<void*>& spare_stacks() {
        static std::vector<void*> spare;
        return spare;
    }
    static void* take_stack() {
        auto& spare = spare_stacks();
        if (spare.empty()) return allocate_stack();
        void* s = spare.back();
        spare.pop_back();
        return s;
    }

    static void entry() {
        BlockRunner& b = *running_block;
#ifdef LECTERN_EMU_ASAN
        const void* from_bottom = nullptr;
        std::size_t from_size = 0;
        __sanitizer_finish_switch_fiber(nullptr, &from_bottom, &from_size);
        if (b.starting_from_main_) {
            b.main_stack_ = from_bottom;
            b.main_stack_size_ = from_size;
        }
#endif
        b.starting_from_main_ = false;
        (*b.body_)();
        b.exit_current();
    }

    [[noreturn]] void exit_current() {
        Warp& w = warps_[current_ / 32];
        if (w.arrived > 0) fail("a lane exited while its warp waits at a full-mask operation");
        if (block_arrived_ > 0) fail("a thread exited while others wait at __syncthreads");
        ++w.exited;
        ++exited_;
        fibers_[current_].state = State::done;
        yield();
        fail("resumed an exited fiber");
    }

    // The current fiber cannot continue: switch to the next ready fiber (the order is explained at
    // the top), or back to run() when all are done. None ready while some wait is a deadlock.
    void yield() {
        const unsigned from = current_;
        const bool exiting = fibers_[from].state == State::done;
        const unsigned next = next_ready(from);
        if (next != none) {
            current_ = next;
            thread_idx = dim3(next);
            switch_context(fibers_[from].ctx, fibers_[next].ctx, fibers_[next].stack,
                           stack_bytes, exiting);
            return;
        }
        if (exited_ != fibers_.size())
            fail("deadlock: threads wait at barriers that can never complete");
        switch_context(fibers_[from].ctx, main_ctx_, main_stack_, main_stack_size_, true);
    }

    static constexpr unsigned none = ~0u;

    // Lanes of warp w: 32, fewer in the last warp when blockDim.x is not a multiple of 32.
    unsigned lanes(unsigned w) const {
        const unsigned n = unsigned(fibers_.size());
        return n - w * 32 < 32 ? n - w * 32 : 32;
    }

    // The next ready lane of from's warp after from, else the first ready lane of the following
    // warps (wrapping around); `none` if no fiber is ready. Reverse schedule: "next" and "first"
    // count downwards (the lane and warp before, the last ready lane of a warp).
    unsigned next_ready(unsigned from) const {
        const unsigned n_warps = unsigned(warps_.size());
        const unsigned warp = from / 32;
        const unsigned n_lanes = lanes(warp);
        for (unsigned k = 1; k < n_lanes; ++k) {
            const unsigned step = reverse_ ? n_lanes - k : k;
            const unsigned i = warp * 32 + (from % 32 + step) % n_lanes;
            if (fibers_[i].state == State::ready) return i;
        }
        for (unsigned k = 1; k <= n_warps; ++k) {
            const unsigned w = (warp + (reverse_ ? n_warps - k : k)) % n_warps;
            for (unsigned j = 0; j < lanes(w); ++j) {
                const unsigned i = w * 32 + (reverse_ ? lanes(w) - 1 - j : j);
                if (fibers_[i].state == State::ready) return i;
            }
        }
        return none;
    }

    void switch_context(Context& from, Context& to, const void* to_stack,
                        std::size_t to_size, bool exiting) {
#ifdef LECTERN_EMU_ASAN
        void* fake_stack = nullptr;
        __sanitizer_start_switch_fiber(exiting ? nullptr : &fake_stack, to_stack, to_size);
        context_switch(from, to);
        __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#else
        (void)to_stack;
        (void)to_size;
        (void)exiting;
        context_switch(from, to);
#endif
    }

    std::vector<Fiber> fibers_;
    std::vector<Warp> warps_;
    const std::function<void()>* body_ = nullptr;
    Context main_ctx_;
    const void* main_stack_ = nullptr;
    std::size_t main_stack_size_ = 0;
    bool starting_from_main_ = false;
    unsigned current_ = 0;
    bool reverse_ = false;  // this block's schedule (Schedule::reverse)
    std::size_t block_arrived_ = 0;
    unsigned exited_ = 0;
};

inline BlockRunner& current_block() { return *running_block; }

}  // namespace emu
