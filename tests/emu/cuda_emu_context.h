// Fiber contexts for cuda_emu_fiber.h: make a context that starts a function on a given stack, and
// switch from one context to another. On x86-64 the switch is cuda_emu_switch.cpp's few
// instructions (callee-saved registers and the stack pointer): glibc's swapcontext also saves the
// signal mask with a system call, which made that half of the emulator's run time (a kernel
// switches fibers about 32 times per shuffle). Elsewhere: ucontext.
// Not saved on x86-64: the SSE/x87 control words (the kernels never change rounding modes).
// LECTERN_EMU_UCONTEXT forces the ucontext version (to test it on x86-64).
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) && !defined(LECTERN_EMU_UCONTEXT)
#define LECTERN_EMU_X86_64_SWITCH 1
#else
#include <ucontext.h>
#endif

namespace emu {

#ifdef LECTERN_EMU_X86_64_SWITCH

extern "C" void lectern_emu_switch(void** save_sp, void* load_sp);

struct Context {
    void* sp = nullptr;
};

// The new stack ends with what lectern_emu_switch pops: six callee-saved registers (zero), then
// `entry` as the return address; `entry` then starts with rsp % 16 == 8, as after a call.
inline void context_make(Context& c, void* stack, std::size_t size, void (*entry)()) {
    auto top = (reinterpret_cast<std::uintptr_t>(stack) + size) & ~std::uintptr_t(15);
    auto* frame = reinterpret_cast<std::uintptr_t*>(top) - 8;
    for (int i = 0; i < 6; ++i) frame[i] = 0;
    frame[6] = reinterpret_cast<std::uintptr_t>(entry);
    frame[7] = 0;  // entry never returns (a fiber ends by switching away)
    c.sp = frame;
}

inline void context_switch(Context& from, Context& to) { lectern_emu_switch(&from.sp, to.sp); }

#else

struct Context {
    ucontext_t uc{};
};

inline void context_make(Context& c, void* stack, std::size_t size, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, entry, 0);
}

inline void context_switch(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }

#endif

}  // namespace emu
