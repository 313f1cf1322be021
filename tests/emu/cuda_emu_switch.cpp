// The x86-64 fiber switch of cuda_emu_context.h: saves the System V callee-saved registers on the
// current stack, stores the stack pointer in *save_sp (rdi), loads load_sp (rsi) and pops the
// other fiber's registers; `ret` resumes it (or starts it: see context_make). Compiled once, in
// the emulated kernels' library, because a header's top-level asm would be defined per file.
#if defined(__x86_64__)
asm(R"(
    .pushsection .text
    .globl lectern_emu_switch
    .type lectern_emu_switch, @function
lectern_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size lectern_emu_switch, .-lectern_emu_switch
    .popsection
)");
#endif
