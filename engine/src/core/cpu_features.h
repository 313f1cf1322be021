// Run-time CPU feature checks for choosing SIMD code paths. GCC's and clang's
// __builtin_cpu_supports disagree on names (clang 14 has no "f16c"), so F16C is read from CPUID.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define LECTERN_X86 1
#endif

namespace lectern {

inline bool cpu_has_f16c() {
#if defined(LECTERN_X86)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;  // leaf 1, ECX bit 29
#else
    return false;
#endif
}

// AVX2 + FMA + F16C: the set our AVX2 kernels are compiled for.
inline bool cpu_has_avx2_fma_f16c() {
#if defined(LECTERN_X86)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
#else
    return false;
#endif
}

// AVX-512 F/BW/VL on top of the AVX2 set.
inline bool cpu_has_avx512_f_bw_vl() {
#if defined(LECTERN_X86)
    return cpu_has_avx2_fma_f16c() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

}  // namespace lectern
