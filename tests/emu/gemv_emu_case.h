// The gemv part of tst_decode_kernels_emu: one job of lectern::cuda::gemv with its host data and
// the CPU twins' result (lectern::matmul at T == 1, then the epilogue of lora_inner, relu_square
// or the residual add), and tst_gemv_cuda's CPU-twin check; the job description, host data,
// epilogues and check are shared with it in tests/kernels/gemv_reference.h (gemv_test::Spec,
// host_data, host_epilogue, check_rows). Tolerance, per output, with scale = sum_k |x_k * w_k|:
// 3e-5 * scale (two fp32 accumulations in different orders) times the epilogue's slope (1 for add
// and tanh, 1/4 for sigmoid, 2|acc| + 3e-5 * scale for relu^2), plus 1e-6 + 1e-5 |cpu| for the
// activations' own few-ulp differences; tst_gemv_cuda.cpp derives it.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cpu/channel_mix.h"
#include "cpu/lora.h"
#include "cpu/matmul.h"
#include "decode_kernels_emu_util.h"
#include "gemv_reference.h"
#include "lectern/cuda/matmul.h"

namespace emu_test {

using lectern::DType;
using lectern::cuda::GemvEpilogue;
using lectern::cuda::GemvX;

using GemvSpec = gemv_test::Spec;  // tests/kernels/gemv_reference.h

// One job with its host data and expected product (CPU twin) and error scale sum |x_k w_k|
// (gemv_test::HostData's x, resid, product, scale and stored weights).
struct GemvCase : gemv_test::HostData {
    GemvSpec spec;
    std::unique_ptr<Placed> w, x_placed;
    std::unique_ptr<Guarded> y, resid_dev;
    lectern::cuda::GemvJob job;
};

inline void prepare(const GemvSpec& s, std::uint32_t seed, GemvCase& c) {
    c.spec = s;
    static_cast<gemv_test::HostData&>(c) = gemv_test::host_data(s, seed);
    const std::vector<unsigned char>& bytes = c.bytes;
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

// tst_gemv_cuda's CPU-twin check: sentinels, resid untouched, NaN, the error bound; "" or why.
inline std::string check(const GemvCase& c) {
    const GemvSpec& s = c.spec;
    if (!c.y->intact()) return "y: sentinels overwritten";
    if (!c.resid_dev->intact() || c.resid_dev->values() != c.resid) return "resid was modified";
    return gemv_test::check_rows(s, c.product, c.scale, c.resid, c.y->values());
}

// How gemv.cu lays out a job: whether its rows are vectorised (whole 16-byte words, weights
// aligned, x aligned or staged in shared memory) and the lanes per row (the smallest power of two
// from 4 that is at least a vectorised row's words, when at most 16; else 32).
struct GemvLayout {
    bool vectorised = false;
    int lanes = 32;
    double bytes = 0;  // the weights
};

inline GemvLayout gemv_layout(const gemv_test::Spec& s) {
    const std::size_t row_bytes = std::size_t(s.cols) * lectern::dtype_size(s.dtype);
    const bool staged =
        s.source == GemvX::shared ||
        (s.source == GemvX::automatic &&
         std::size_t(s.cols) * sizeof(float) <= std::size_t(lectern::cuda::kGemvSharedXBytes));
    GemvLayout l;
    l.vectorised =
        s.cols > 0 && row_bytes % 16 == 0 && s.misalign != 1 && (s.misalign == 0 || staged);
    const int words = int(row_bytes / 16);
    if (l.vectorised && words <= 16)
        for (l.lanes = 4; l.lanes < words; l.lanes *= 2) {
        }
    l.bytes = double(row_bytes) * s.rows;
    return l;
}

// The streamed walk's setting (LECTERN_CUDA_GEMV=stream or stream8, gemv_stream.cuh), as the
// test's environment gives it to gemv.cu.
inline bool gemv_streamed_mode() {
    const char* v = std::getenv("LECTERN_CUDA_GEMV");
    const std::string mode = v ? v : "";
    return mode == "stream" || mode == "stream8";
}

// The blocks a streamed launch shares: LECTERN_CUDA_GEMV_BLOCKS, else the emulated device's one
// SM times the 2 blocks its occupancy calculator answers.
inline long long gemv_resident_blocks() {
    const char* v = std::getenv("LECTERN_CUDA_GEMV_BLOCKS");
    return v && std::atoi(v) > 0 ? std::atoi(v) : 2;
}

// Blocks gemv.cu must launch for a batch (jobs with no rows take none). The default walk: 8 warps
// of rows_per_warp turns each (1 to 4 by size), a turn one row, or 32 / lanes rows of a short
// vectorised row. Streamed (long vectorised rows, under gemv_streamed_mode): the jobs' share of
// the resident blocks by their weight bytes, rounded, at least 1 and at most one per 8 rows.
template <typename Specs>
unsigned gemv_batch_blocks(const Specs& specs) {
    const bool streaming = gemv_streamed_mode();
    const auto streamed = [&](const GemvLayout& l, const gemv_test::Spec& s) {
        return streaming && l.vectorised && l.lanes == 32 && s.cols > 0;
    };
    double streamed_bytes = 0;
    for (const gemv_test::Spec& s : specs)
        if (s.rows > 0 && streamed(gemv_layout(s), s)) streamed_bytes += gemv_layout(s).bytes;
    unsigned blocks = 0;
    for (const gemv_test::Spec& s : specs) {
        if (s.rows == 0) continue;
        const GemvLayout l = gemv_layout(s);
        if (streamed(l, s)) {
            const long long share =
                std::llround(double(gemv_resident_blocks()) * l.bytes / streamed_bytes);
            blocks += unsigned(std::clamp(share, 1LL, (s.rows + 7LL) / 8));
            continue;
        }
        const int groups = 32 / l.lanes;
        const int turns = std::clamp((s.rows + groups - 1) / groups / (8 * 512), 1, 4);
        const int per_block = 8 * turns * groups;
        blocks += unsigned((s.rows + per_block - 1) / per_block);
    }
    return blocks;
}

inline unsigned gemv_blocks(const gemv_test::Spec& s) {
    return gemv_batch_blocks(std::array<gemv_test::Spec, 1>{s});
}

inline const char* epilogue_name(GemvEpilogue e) {
    const char* names[] = {"none", "add", "relu2", "tanh", "sigmoid"};
    return names[int(e)];
}

}  // namespace emu_test
