// Micro-benchmarks of the CPU backend, for `lectern-cli bench --op`. They call the production
// kernels (never a copy) on random data and report throughput next to a same-process memcpy
// baseline, so figures taken on a shared, noisy machine can be compared as ratios.
#pragma once

#include <string>

#include "lectern/dtype.h"
#include "lectern/result.h"

namespace lectern {

struct MatmulBenchOptions {
    int rows = 768;   // N: output features (weight rows)
    int cols = 768;   // K: input features (weight columns)
    int tokens = 1;   // T: 1 = decode (matrix-vector), more = prefill
    DType dtype = DType::f16;
    int threads = 1;
    double seconds = 1.0;  // minimum measuring time for each of the matmul and memcpy loops
    std::string isa;       // "scalar", "avx2" or "avx512" to force a path; empty: the best
};

struct MatmulBenchResult {
    std::string isa;         // instruction-set path used ("avx512", "avx2", "scalar")
    int iterations = 0;      // matmul calls timed
    double seconds_per_call = 0;
    double gflops = 0;       // 2·N·K·T / time
    double weight_gb_s = 0;  // weight bytes (N·K·dtype size) per call / time
    double memcpy_gb_s = 0;  // copying a buffer of the weight's size, bytes copied / time
};

// Validates the options (positive sizes, at most 4 GiB of weights, a known ISA this CPU has) and
// runs the benchmark. A forced ISA stays in force for the rest of the process.
Result<MatmulBenchResult> bench_matmul(const MatmulBenchOptions& options);

}  // namespace lectern
