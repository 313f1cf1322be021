// Run-time CPU feature checks for choosing SIMD code paths. GCC's and clang's
// __builtin_cpu_supports disagree on names (clang 14 has no "f16c"), so F16C is read from CPUID.
// MSVC has no __builtin_cpu_supports: there the bits come from __cpuid/__cpuidex, and XGETBV
// checks that the OS saves the AVX (and AVX-512) register state, which __builtin_cpu_supports
// also checks (a CPU flag alone is not enough: the kernels would fault).
#pragma once

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#define LECTERN_X86 1
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#include <immintrin.h>  // _xgetbv
#define LECTERN_X86 1
#define LECTERN_X86_MSVC 1
#endif

namespace lectern {

#if defined(LECTERN_X86_MSVC)
namespace cpu_detail {

// CPUID leaf/subleaf registers {eax, ebx, ecx, edx}; zeros when the leaf is not supported.
inline void cpuid(int leaf, int subleaf, int regs[4]) {
    int max_leaf[4] = {};
    __cpuid(max_leaf, 0);
    if (leaf > max_leaf[0]) {
        regs[0] = regs[1] = regs[2] = regs[3] = 0;
        return;
    }
    __cpuidex(regs, leaf, subleaf);
}

inline bool bit(int reg, int n) { return (static_cast<unsigned>(reg) >> n) & 1u; }

// XCR0 state components the OS saves on context switches (0 without OSXSAVE).
inline unsigned long long os_saved_state() {
    int r[4];
    cpuid(1, 0, r);
    if (!bit(r[2], 27)) return 0;  // OSXSAVE
    return _xgetbv(0);
}

}  // namespace cpu_detail
#endif

inline bool cpu_has_f16c() {
#if defined(LECTERN_X86_MSVC)
    int r[4];
    cpu_detail::cpuid(1, 0, r);
    return cpu_detail::bit(r[2], 29);  // leaf 1, ECX bit 29
#elif defined(LECTERN_X86)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;  // leaf 1, ECX bit 29
#else
    return false;
#endif
}

// AVX2 + FMA + F16C: the set our AVX2 kernels are compiled for.
inline bool cpu_has_avx2_fma_f16c() {
#if defined(LECTERN_X86_MSVC)
    using namespace cpu_detail;
    int r1[4], r7[4];
    cpuid(1, 0, r1);
    cpuid(7, 0, r7);
    const bool avx_state = (os_saved_state() & 0x6) == 0x6;  // XMM and YMM state
    return avx_state && bit(r1[2], 28) /* AVX */ && bit(r1[2], 12) /* FMA */ &&
           bit(r1[2], 29) /* F16C */ && bit(r7[1], 5) /* AVX2 */;
#elif defined(LECTERN_X86)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
#else
    return false;
#endif
}

// AVX-512 F/BW/VL on top of the AVX2 set.
inline bool cpu_has_avx512_f_bw_vl() {
#if defined(LECTERN_X86_MSVC)
    using namespace cpu_detail;
    int r7[4];
    cpuid(7, 0, r7);
    const bool zmm_state = (os_saved_state() & 0xe6) == 0xe6;  // + opmask, ZMM_Hi256, Hi16_ZMM
    return cpu_has_avx2_fma_f16c() && zmm_state && bit(r7[1], 16) /* AVX512F */ &&
           bit(r7[1], 30) /* AVX512BW */ && bit(r7[1], 31) /* AVX512VL */;
#elif defined(LECTERN_X86)
    return cpu_has_avx2_fma_f16c() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

}  // namespace lectern
