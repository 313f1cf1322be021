// Matrix products for the CPU backend (first version: the reference loop, parallel over rows).
#include "cpu/matmul.h"

#include <vector>

#include "cpu/thread_pool.h"

namespace lectern {
namespace {

float weight_at(const Matrix& w, std::size_t index) {
    switch (w.dtype) {
    case DType::f32: return static_cast<const float*>(w.data)[index];
    case DType::f16: return f16_to_f32(static_cast<const std::uint16_t*>(w.data)[index]);
    case DType::bf16: return bf16_to_f32(static_cast<const std::uint16_t*>(w.data)[index]);
    }
    return 0.0f;
}

void rows_reference(const float* x, int T, const Matrix& w, float* y, std::size_t r0,
                    std::size_t r1) {
    for (int t = 0; t < T; ++t) {
        const float* xt = x + std::size_t(t) * w.cols;
        for (std::size_t r = r0; r < r1; ++r) {
            double acc = 0.0;
            for (int c = 0; c < w.cols; ++c) acc += double(xt[c]) * weight_at(w, r * w.cols + c);
            y[std::size_t(t) * w.rows + r] = float(acc);
        }
    }
}

}  // namespace

void matmul_reference(const float* x, int T, const Matrix& w, float* y) {
    rows_reference(x, T, w, y, 0, std::size_t(w.rows));
}

void matmul(const float* x, int T, const Matrix& w, float* y, ThreadPool* pool) {
    if (!pool) {
        matmul_reference(x, T, w, y);
        return;
    }
    pool->parallel_for(std::size_t(w.rows), 16, [&](std::size_t r0, std::size_t r1) {
        rows_reference(x, T, w, y, r0, r1);
    });
}

}  // namespace lectern
