// The gemv part of tst_decode_kernels_emu: one job of lectern::cuda::gemv with its host data and
// the CPU twins' result (lectern::matmul at T == 1, then the epilogue of lora_inner, relu_square
// or the residual add), and tst_gemv_cuda's CPU-twin check. Tolerance, per output, with scale =
// sum_k |x_k * w_k|: 3e-5 * scale (two fp32 accumulations in different orders) times the
// epilogue's slope (1 for add and tanh, 1/4 for sigmoid, 2|acc| + 3e-5 * scale for relu^2), plus
// 1e-6 + 1e-5 |cpu| for the activations' own few-ulp differences; tst_gemv_cuda.cpp derives it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpu/channel_mix.h"
#include "cpu/lora.h"
#include "cpu/matmul.h"
#include "decode_kernels_emu_util.h"
#include "gemv_host_epilogue.h"
#include "lectern/cuda/matmul.h"

namespace emu_test {

using lectern::DType;
using lectern::cuda::GemvEpilogue;
using lectern::cuda::GemvX;

struct GemvSpec {
    DType dtype = DType::f32;
    int rows = 0, cols = 0;
    GemvEpilogue epilogue = GemvEpilogue::none;
    GemvX source = GemvX::automatic;
    int misalign = 0;  // 1: x and the weights one element past a 16-byte boundary; 2: x only
};

// One job with its host data and expected product (CPU twin) and error scale sum |x_k w_k|.
struct GemvCase {
    GemvSpec spec;
    std::vector<float> x, resid, product, scale;
    std::unique_ptr<Placed> w, x_placed;
    std::unique_ptr<Guarded> y, resid_dev;
    lectern::cuda::GemvJob job;
};

inline void prepare(const GemvSpec& s, std::uint32_t seed, GemvCase& c) {
    c.spec = s;
    const auto values = gpu_test::uniform(std::size_t(s.rows) * s.cols, -1.0f, 1.0f, seed);
    c.x = gpu_test::uniform(std::size_t(s.cols), -2.0f, 2.0f, seed + 1);
    c.resid = gpu_test::uniform(std::size_t(s.rows), -3.0f, 3.0f, seed + 2);
    const auto bytes = emu_test::store(values, s.dtype, false);
    const auto abs_bytes = emu_test::store(values, s.dtype, true);
    std::vector<float> x_abs(c.x.size());
    for (std::size_t i = 0; i < c.x.size(); ++i) x_abs[i] = std::fabs(c.x[i]);
    c.product.assign(std::size_t(s.rows), 0.0f);
    c.scale.assign(std::size_t(s.rows), 0.0f);
    lectern::matmul(c.x.data(), 1, lectern::Matrix{s.dtype, s.rows, s.cols, bytes.data()},
                    c.product.data(), nullptr);
    lectern::matmul(x_abs.data(), 1, lectern::Matrix{s.dtype, s.rows, s.cols, abs_bytes.data()},
                    c.scale.data(), nullptr);
    const std::size_t w_off = s.misalign == 1 ? lectern::dtype_size(s.dtype) : 0;
    const std::size_t x_off = s.misalign != 0 ? sizeof(float) : 0;
    c.w = std::make_unique<Placed>(bytes.data(), bytes.size(), w_off);
    c.x_placed = std::make_unique<Placed>(c.x.data(), c.x.size() * 4, x_off);
    c.y = std::make_unique<Guarded>(gpu_test::uniform(std::size_t(s.rows), -9.0f, 9.0f, seed + 3));
    c.resid_dev = std::make_unique<Guarded>(c.resid);
    c.job.w = {s.dtype, s.rows, s.cols, c.w->data()};
    c.job.x = static_cast<const float*>(c.x_placed->data());
    c.job.y = c.y->data();
    c.job.epilogue = s.epilogue;
    c.job.resid = s.epilogue == GemvEpilogue::add ? c.resid_dev->data() : nullptr;
    c.job.x_source = s.source;
}

using gemv_test::host_epilogue;

// tst_gemv_cuda's CPU-twin check: sentinels, resid untouched, NaN, the error bound; "" or why.
inline std::string check(const GemvCase& c) {
    const GemvSpec& s = c.spec;
    if (!c.y->intact()) return "y: sentinels overwritten";
    if (!c.resid_dev->intact() || c.resid_dev->values() != c.resid) return "resid was modified";
    const std::vector<float> got = c.y->values();
    for (int r = 0; r < s.rows; ++r) {
        const float acc = c.product[std::size_t(r)];
        const double sc = c.scale[std::size_t(r)];
        const float want = host_epilogue(s.epilogue, acc, c.resid[std::size_t(r)]);
        const float g = got[std::size_t(r)];
        if (std::isnan(g) || std::isnan(want)) return "NaN at row " + std::to_string(r);
        double slope = 1.0;
        if (s.epilogue == GemvEpilogue::sigmoid)
            slope = 0.25;
        else if (s.epilogue == GemvEpilogue::relu_square)
            slope = 2.0 * std::fabs(acc) + 3e-5 * sc;
        const double bound = 3e-5 * sc * slope + 1e-6 + 1e-5 * std::fabs(want);
        if (std::fabs(double(g) - want) > bound)
            return "row " + std::to_string(r) + ": got " + std::to_string(g) + ", cpu " +
                   std::to_string(want) + ", bound " + std::to_string(bound);
    }
    return {};
}

// Blocks gemv.cu must launch for a job: 8 warps of rows_per_warp rows each (1 to 4 by size).
inline unsigned gemv_blocks(int rows) {
    const int per_warp = std::clamp(rows / (8 * 512), 1, 4);
    return unsigned((rows + 8 * per_warp - 1) / (8 * per_warp));
}

inline const char* epilogue_name(GemvEpilogue e) {
    const char* names[] = {"none", "add", "relu2", "tanh", "sigmoid"};
    return names[int(e)];
}

}  // namespace emu_test
