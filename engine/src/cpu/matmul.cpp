// matmul's driver: picks the instruction-set kernels once, splits the work over the thread pool
// and, for prefill, transposes each block of tokens once so that every weight tile is widened
// once and reused for the whole block. The kernels are in matmul_kernel_impl.h.
//
// Paths (T = tokens, N = w.rows, K = w.cols):
//   T <= small_t_max: dot products, each weight row streamed once for all T tokens and widened on
//     the fly; parallel over rows. T == 1 is decode: bound by memory bandwidth.
//   T >  small_t_max: tokens in blocks of token_block, transposed into xT[K][ldx] (parallel over
//     K), then parallel over rows (and over token blocks too when N is small).
#include "cpu/matmul.h"

#include <algorithm>
#include <atomic>
#include <vector>

// MSVC does not define __SSE2__; SSE2 is part of its x64 baseline.
#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define LECTERN_SSE2 1
#endif

#include "core/cpu_features.h"
#include "cpu/matmul_kernels.h"
#include "cpu/thread_pool.h"

namespace lectern {
namespace {

using matmul_detail::MatmulKernels;

const MatmulKernels* kernels_for(MatmulIsa isa) {
    switch (isa) {
#if defined(LECTERN_MATMUL_X86)
    case MatmulIsa::avx2: return &matmul_detail::avx2_kernels;
    case MatmulIsa::avx512: return &matmul_detail::avx512_kernels;
#endif
    default: return &matmul_detail::scalar_kernels;
    }
}

std::atomic<int> g_isa{-1};  // MatmulIsa in use; -1 until the first call picks the best

MatmulIsa current_isa() {
    int isa = g_isa.load(std::memory_order_relaxed);
    if (isa < 0) {
        isa = int(matmul_best_isa());
        g_isa.store(isa, std::memory_order_relaxed);
    }
    return MatmulIsa(isa);
}

float weight_at(const Matrix& w, std::size_t index) {
    switch (w.dtype) {
    case DType::f32: return static_cast<const float*>(w.data)[index];
    case DType::f16: return f16_to_f32(static_cast<const std::uint16_t*>(w.data)[index]);
    case DType::bf16: return bf16_to_f32(static_cast<const std::uint16_t*>(w.data)[index]);
    }
    return 0.0f;
}

// Run fn over [0, n) on the pool, or serially without one.
template <class Fn>
void for_ranges(ThreadPool* pool, std::size_t n, std::size_t grain, const Fn& fn) {
    if (pool && pool->size() > 1)
        pool->parallel_for(n, grain, fn);
    else if (n)
        fn(std::size_t(0), n);
}

// Decode products: one contiguous range of rows per thread (see parallel_for_split), boundaries
// at multiples of 8 rows (the dot path's row group); no split below 64 rows per thread.
template <class Fn>
void for_row_split(ThreadPool* pool, std::size_t n, const Fn& fn) {
    if (pool && pool->size() > 1)
        pool->parallel_for_split(n, 64, 8, fn);
    else if (n)
        fn(std::size_t(0), n);
}

void matmul_small_t(const MatmulKernels& k, const float* x, int T, const Matrix& w, float* y,
                    ThreadPool* pool) {
    const auto fn = k.dot_rows[int(w.dtype)];
    const std::size_t K = std::size_t(w.cols), N = std::size_t(w.rows);
    for_row_split(pool, N, [&](std::size_t r0, std::size_t r1) {
        fn(x, std::size_t(T), w.data, K, y, N, r0, r1);
    });
}

// xT[k * ldx + t] = x[t][k] for t < nt, zero for nt <= t < ldx, k in [k0, k1).
// A 16-column stripe at a time, in 4 x 4 blocks (SSE shuffles where available): an element-wise
// walk touches a new cache line per element on one side and measured ~8 cycles per element,
// ~9% of a 0.1B prefill.
void transpose_tokens(const float* x, std::size_t K, std::size_t nt, std::size_t ldx, float* xT,
                      std::size_t k0, std::size_t k1) {
    constexpr std::size_t stripe = 16;
    for (std::size_t kk = k0; kk < k1; kk += stripe) {
        const std::size_t ke = std::min(k1, kk + stripe);
        std::size_t t = 0;
        for (; t + 4 <= nt; t += 4) {
            const float* src = x + t * K;
            std::size_t k = kk;
#if defined(LECTERN_SSE2)
            for (; k + 4 <= ke; k += 4) {
                __m128 r0 = _mm_loadu_ps(src + k), r1 = _mm_loadu_ps(src + K + k);
                __m128 r2 = _mm_loadu_ps(src + 2 * K + k), r3 = _mm_loadu_ps(src + 3 * K + k);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(xT + k * ldx + t, r0);
                _mm_storeu_ps(xT + (k + 1) * ldx + t, r1);
                _mm_storeu_ps(xT + (k + 2) * ldx + t, r2);
                _mm_storeu_ps(xT + (k + 3) * ldx + t, r3);
            }
#endif
            for (; k < ke; ++k)
                for (std::size_t i = 0; i < 4; ++i) xT[k * ldx + t + i] = src[i * K + k];
        }
        for (; t < nt; ++t)
            for (std::size_t k = kk; k < ke; ++k) xT[k * ldx + t] = x[t * K + k];
        for (std::size_t k = kk; k < ke; ++k)
            std::fill(xT + k * ldx + nt, xT + (k + 1) * ldx, 0.0f);
    }
}

void matmul_prefill(const MatmulKernels& k, const float* x, int T, const Matrix& w, float* y,
                    ThreadPool* pool) {
    using matmul_detail::token_block;
    using matmul_detail::token_pad;
    const auto panel = k.panel_rows[int(w.dtype)];
    const std::size_t K = std::size_t(w.cols), N = std::size_t(w.rows);
    const std::size_t threads = pool ? std::size_t(pool->size()) : 1;
    constexpr std::size_t row_grain = 32;
    // Token blocks per pass: one when rows alone give every thread several ranges, more (each
    // with its own transposed copy) when N is small, e.g. the low-rank projections.
    const std::size_t row_ranges = (N + row_grain - 1) / row_grain;
    const std::size_t blocks_total = (std::size_t(T) + token_block - 1) / token_block;
    const std::size_t blocks_per_pass =
        std::clamp<std::size_t>((4 * threads + row_ranges - 1) / row_ranges, 1, blocks_total);

    // Kept between calls: a forward pass calls matmul dozens of times with the same shapes.
    thread_local std::vector<float> xT_storage;
    xT_storage.resize(blocks_per_pass * K * token_block);
    float* const xT = xT_storage.data();

    for (std::size_t b0 = 0; b0 < blocks_total; b0 += blocks_per_pass) {
        const std::size_t nb = std::min(blocks_per_pass, blocks_total - b0);
        const auto block_tokens = [&](std::size_t b) {
            return std::min(token_block, std::size_t(T) - (b0 + b) * token_block);
        };
        const auto block_ldx = [&](std::size_t b) {
            return (block_tokens(b) + token_pad - 1) / token_pad * token_pad;
        };
        for_ranges(pool, nb * K, 64, [&](std::size_t i0, std::size_t i1) {
            for (std::size_t i = i0; i < i1;) {
                const std::size_t b = i / K, k0 = i % K, k1 = std::min(K, k0 + (i1 - i));
                transpose_tokens(x + (b0 + b) * token_block * K, K, block_tokens(b),
                                 block_ldx(b), xT + b * K * token_block, k0, k1);
                i += k1 - k0;
            }
        });
        const std::size_t rows_padded = row_ranges * row_grain;
        for_ranges(pool, nb * rows_padded, row_grain, [&](std::size_t i0, std::size_t i1) {
            for (std::size_t i = i0; i < i1;) {
                const std::size_t b = i / rows_padded, r0 = i % rows_padded;
                const std::size_t r1 = std::min(r0 + (i1 - i), rows_padded);
                i += r1 - r0;
                if (r0 >= N) continue;
                const std::size_t t0 = (b0 + b) * token_block;
                panel(xT + b * K * token_block, block_ldx(b), block_tokens(b), w.data, K,
                      y + t0 * N, N, r0, std::min(r1, N));
            }
        });
    }
}

void matmul_group_small_t(const MatmulKernels& k, const MatmulJob* jobs, std::size_t count,
                          int T, ThreadPool* pool) {
    std::size_t total = 0;
    for (std::size_t j = 0; j < count; ++j) total += std::size_t(jobs[j].w->rows);
    for_row_split(pool, total, [&](std::size_t r0, std::size_t r1) {
        std::size_t first = 0;  // first row of job j in the concatenation
        for (std::size_t j = 0; j < count && first < r1; ++j) {
            const Matrix& w = *jobs[j].w;
            const std::size_t N = std::size_t(w.rows), last = first + N;
            if (last > r0) {
                const std::size_t a = std::max(r0, first) - first, b = std::min(r1, last) - first;
                k.dot_rows[int(w.dtype)](jobs[j].x, std::size_t(T), w.data, std::size_t(w.cols),
                                         jobs[j].y, N, a, b);
            }
            first = last;
        }
    });
}

}  // namespace

const char* matmul_isa_name(MatmulIsa isa) {
    switch (isa) {
    case MatmulIsa::scalar: return "scalar";
    case MatmulIsa::avx2: return "avx2";
    case MatmulIsa::avx512: return "avx512";
    }
    return "?";
}

bool matmul_isa_supported(MatmulIsa isa) {
    switch (isa) {
    case MatmulIsa::scalar: return true;
#if defined(LECTERN_MATMUL_X86)
    case MatmulIsa::avx2:
        return cpu_has_avx2_fma_f16c();
    case MatmulIsa::avx512:
        return cpu_has_avx512_f_bw_vl();
#endif
    default: return false;
    }
}

MatmulIsa matmul_best_isa() {
    if (matmul_isa_supported(MatmulIsa::avx512)) return MatmulIsa::avx512;
    if (matmul_isa_supported(MatmulIsa::avx2)) return MatmulIsa::avx2;
    return MatmulIsa::scalar;
}

MatmulIsa matmul_isa() { return current_isa(); }

bool matmul_force_isa(MatmulIsa isa) {
    if (!matmul_isa_supported(isa)) return false;
    g_isa.store(int(isa), std::memory_order_relaxed);
    return true;
}

void matmul_reference(const float* x, int T, const Matrix& w, float* y) {
    for (int t = 0; t < T; ++t) {
        const float* xt = x + std::size_t(t) * std::size_t(w.cols);
        for (std::size_t r = 0; r < std::size_t(w.rows); ++r) {
            double acc = 0.0;
            for (int c = 0; c < w.cols; ++c)
                acc += double(xt[c]) * weight_at(w, r * std::size_t(w.cols) + std::size_t(c));
            y[std::size_t(t) * std::size_t(w.rows) + r] = float(acc);
        }
    }
}

void matmul(const float* x, int T, const Matrix& w, float* y, ThreadPool* pool) {
    if (T <= 0 || w.rows <= 0) return;
    if (w.cols <= 0) {
        std::fill(y, y + std::size_t(T) * std::size_t(w.rows), 0.0f);
        return;
    }
    const MatmulKernels& k = *kernels_for(current_isa());
    if (T <= matmul_detail::small_t_max)
        matmul_small_t(k, x, T, w, y, pool);
    else
        matmul_prefill(k, x, T, w, y, pool);
}

void matmul_group(const MatmulJob* jobs, std::size_t count, int T, ThreadPool* pool) {
    if (T <= 0) return;
    bool simple = T <= matmul_detail::small_t_max;
    for (std::size_t j = 0; j < count; ++j)
        simple = simple && jobs[j].w->rows > 0 && jobs[j].w->cols > 0;
    if (!simple) {
        for (std::size_t j = 0; j < count; ++j) matmul(jobs[j].x, T, *jobs[j].w, jobs[j].y, pool);
        return;
    }
    matmul_group_small_t(*kernels_for(current_isa()), jobs, count, T, pool);
}

}  // namespace lectern
