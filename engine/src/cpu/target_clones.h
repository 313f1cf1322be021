// LECTERN_CLONES: compile a hot elementwise function for AVX-512, AVX2+FMA and the baseline,
// chosen once at load time (GNU ifunc). The engine is built for the baseline x86-64 instruction
// set (SSE2), where loops such as ReLU² or the WKV update do not vectorise or run at a quarter
// of the width; the matmul kernels have their own dispatch (matmul_kernels.h) instead.
// Where ifuncs are unavailable the macro is empty and the baseline code is used: MSVC (no
// target_clones; the engine is built for its x64 baseline there too), MinGW (no ifunc in PE).
#pragma once

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define LECTERN_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define LECTERN_CLONES
#endif
