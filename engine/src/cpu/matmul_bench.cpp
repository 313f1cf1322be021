// bench_matmul: times the production matmul (through a real ThreadPool) on random weights and a
// memcpy of the same number of bytes in the same process. See lectern/cpu_bench.h.
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/matmul.h"
#include "cpu/thread_pool.h"
#include "lectern/cpu_bench.h"

namespace lectern {
namespace {

using clock_type = std::chrono::steady_clock;

double elapsed_s(clock_type::time_point since) {
    return std::chrono::duration<double>(clock_type::now() - since).count();
}

// Call `step` until `seconds` have passed (at least twice, the first call is a warm-up that is
// not timed). Returns seconds per call and sets `calls`.
template <class Step>
double time_loop(double seconds, int& calls, const Step& step) {
    step();
    calls = 0;
    const auto start = clock_type::now();
    double t = 0;
    do {
        step();
        ++calls;
        t = elapsed_s(start);
    } while (t < seconds || calls < 2);
    return t / calls;
}

}  // namespace

Result<MatmulBenchResult> bench_matmul(const MatmulBenchOptions& o) {
    if (o.rows <= 0 || o.cols <= 0 || o.tokens <= 0 || o.threads <= 0 || !(o.seconds > 0))
        return make_error("bench_matmul: rows, cols, tokens, threads and seconds must be positive");
    const std::size_t N = std::size_t(o.rows), K = std::size_t(o.cols), T = std::size_t(o.tokens);
    const std::size_t weight_bytes = N * K * dtype_size(o.dtype);
    if (weight_bytes > (std::size_t(4) << 30))
        return make_error("bench_matmul: weight matrix larger than 4 GiB");

    if (!o.isa.empty()) {
        bool known = false;
        for (MatmulIsa isa : {MatmulIsa::scalar, MatmulIsa::avx2, MatmulIsa::avx512}) {
            if (o.isa != matmul_isa_name(isa)) continue;
            known = true;
            if (!matmul_force_isa(isa))
                return make_error("bench_matmul: this CPU does not support " + o.isa);
        }
        if (!known) return make_error("bench_matmul: unknown ISA '" + o.isa + "'");
    }

    std::mt19937 rng(12345);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<std::byte> weights(weight_bytes);
    for (std::size_t i = 0; i < N * K; ++i) {
        const float v = dist(rng) * 0.05f;
        if (o.dtype == DType::f32) {
            std::memcpy(weights.data() + 4 * i, &v, 4);
        } else {
            const std::uint16_t h = o.dtype == DType::f16 ? f32_to_f16(v) : f32_to_bf16(v);
            std::memcpy(weights.data() + 2 * i, &h, 2);
        }
    }
    std::vector<float> x(T * K), y(T * N);
    for (float& v : x) v = dist(rng);

    ThreadPool pool(o.threads);
    const Matrix w{o.dtype, o.rows, o.cols, weights.data()};
    MatmulBenchResult r;
    r.isa = matmul_isa_name(matmul_isa());
    r.seconds_per_call = time_loop(o.seconds, r.iterations,
                                   [&] { matmul(x.data(), o.tokens, w, y.data(), &pool); });
    r.gflops = 2.0 * double(N) * double(K) * double(T) / r.seconds_per_call / 1e9;
    r.weight_gb_s = double(weight_bytes) / r.seconds_per_call / 1e9;

    std::vector<std::byte> copy(weight_bytes);
    int copies = 0;
    const double copy_s = time_loop(o.seconds, copies, [&] {
        std::memcpy(copy.data(), weights.data(), weight_bytes);
        // Keep the copy observable so it cannot be optimised away.
        weights[0] = copy[weight_bytes / 2];
    });
    r.memcpy_gb_s = double(weight_bytes) / copy_s / 1e9;
    return r;
}

}  // namespace lectern
