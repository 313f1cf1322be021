// What tst_gemv_cuda and the emulator test (tests/emu/gemv_emu_case.h, tst_decode_kernels_emu)
// share about lectern::cuda::gemv / gemv_batched: the job description (Spec), a job's random host
// data with the CPU twin's product and error scale (host_data, store), the epilogues on the host
// with the CPU twins' formulas (host_epilogue), the per-row check of y against the CPU twin
// (check_rows), the mixed batch both run (mixed_batch) and the jobs both expect refused
// (refused_jobs). The error bound's reasoning is in
// tst_gemv_cuda.cpp's file comment.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/channel_mix.h"
#include "cpu/lora.h"
#include "cpu/matmul.h"
#include "gpu_test_util.h"
#include "lectern/cuda/matmul.h"
#include "lectern/dtype.h"

namespace gemv_test {

// One gemv job: the weights' dtype and shape, the epilogue, where x is read from, and alignment.
struct Spec {
    lectern::DType dtype = lectern::DType::f32;
    int rows = 0, cols = 0;
    lectern::cuda::GemvEpilogue epilogue = lectern::cuda::GemvEpilogue::none;
    lectern::cuda::GemvX source = lectern::cuda::GemvX::automatic;
    int misalign = 0;  // 1: x and the weights one element past a 16-byte boundary; 2: x only
};

// values in the dtype's storage format; `absolute` stores |value| (the error scale's weights).
inline std::vector<unsigned char> store(const std::vector<float>& values, lectern::DType dtype,
                                        bool absolute) {
    std::vector<unsigned char> out(values.size() * lectern::dtype_size(dtype));
    for (std::size_t i = 0; i < values.size(); ++i) {
        const float v = absolute ? std::fabs(values[i]) : values[i];
        if (dtype == lectern::DType::f32) {
            std::memcpy(&out[4 * i], &v, 4);
        } else {
            std::uint16_t h =
                dtype == lectern::DType::f16 ? lectern::f32_to_f16(v) : lectern::f32_to_bf16(v);
            if (absolute) h &= 0x7fffu;
            std::memcpy(&out[2 * i], &h, 2);
        }
    }
    return out;
}

// A job's host side: the weights in their storage format (bytes), x, the residual, and per row
// the CPU twin's product (lectern::matmul at T == 1) and the error scale sum_k |x_k * w_k|.
struct HostData {
    std::vector<unsigned char> bytes;
    std::vector<float> x, resid, product, scale;
};

// Random host data from `seed`: weights in (-1, 1) from seed, x in (-2, 2) from seed + 1, the
// residual in (-3, 3) from seed + 2.
inline HostData host_data(const Spec& s, std::uint32_t seed) {
    HostData h;
    const auto values = gpu_test::uniform(std::size_t(s.rows) * s.cols, -1.0f, 1.0f, seed);
    h.x = gpu_test::uniform(std::size_t(s.cols), -2.0f, 2.0f, seed + 1);
    h.resid = gpu_test::uniform(std::size_t(s.rows), -3.0f, 3.0f, seed + 2);
    h.bytes = store(values, s.dtype, false);
    const auto abs_bytes = store(values, s.dtype, true);
    std::vector<float> x_abs(h.x.size());
    for (std::size_t i = 0; i < h.x.size(); ++i) x_abs[i] = std::fabs(h.x[i]);
    h.product.assign(std::size_t(s.rows), 0.0f);
    h.scale.assign(std::size_t(s.rows), 0.0f);
    lectern::matmul(h.x.data(), 1, lectern::Matrix{s.dtype, s.rows, s.cols, h.bytes.data()},
                    h.product.data(), nullptr);
    lectern::matmul(x_abs.data(), 1, lectern::Matrix{s.dtype, s.rows, s.cols, abs_bytes.data()},
                    h.scale.data(), nullptr);
    return h;
}

// The GEMV epilogues (lectern::cuda::GemvEpilogue) on the host, with the CPU twins' formulas:
// what the tests expect after a product.
inline float host_epilogue(lectern::cuda::GemvEpilogue e, float acc, float resid) {
    using lectern::cuda::GemvEpilogue;
    switch (e) {
        case GemvEpilogue::none:
            return acc;
        case GemvEpilogue::add:
            return resid + acc;
        case GemvEpilogue::relu_square:
            lectern::relu_square(&acc, 1);
            return acc;
        case GemvEpilogue::tanh:
            lectern::lora_inner(lectern::LoraInner::tanh, &acc, 1);
            return acc;
        case GemvEpilogue::sigmoid:
            lectern::lora_inner(lectern::LoraInner::sigmoid, &acc, 1);
            return acc;
    }
    return acc;
}

// The CPU-twin check of a job's output `got` (s.rows values): per row, the kernel's y against the
// epilogue of the CPU twin's product (`product`, with the residual `resid` for add), within
// 3e-5 * scale times the epilogue's slope (1 for add and tanh, 1/4 for sigmoid,
// 2|acc| + 3e-5 * scale for relu^2) plus 1e-6 + 1e-5 |cpu|, scale = sum_k |x_k * w_k| (`scale`);
// NaN fails. "" or the first failing row's message. The bound is derived in tst_gemv_cuda.cpp's
// file comment.
inline std::string check_rows(const Spec& s, const std::vector<float>& product,
                              const std::vector<float>& scale, const std::vector<float>& resid,
                              const std::vector<float>& got) {
    using lectern::cuda::GemvEpilogue;
    for (int r = 0; r < s.rows; ++r) {
        const float acc = product[std::size_t(r)];
        const double sc = scale[std::size_t(r)];
        const float want = host_epilogue(s.epilogue, acc, resid[std::size_t(r)]);
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

// The mixed batch of both tests' batched launch: kMaxGemvJobs (8) jobs mixing dtypes, epilogues,
// x sources and alignments, one with no rows.
constexpr std::array<Spec, 8> mixed_batch() {
    using lectern::DType;
    using lectern::cuda::GemvEpilogue;
    using lectern::cuda::GemvX;
    return {{
        {DType::f32, 768, 3072, GemvEpilogue::none, GemvX::automatic, 0},
        {DType::bf16, 64, 768, GemvEpilogue::tanh, GemvX::automatic, 0},
        {DType::f16, 1, 45, GemvEpilogue::sigmoid, GemvX::automatic, 0},
        {DType::bf16, 0, 64, GemvEpilogue::none, GemvX::automatic, 0},  // no rows: skipped
        {DType::bf16, 10000, 64, GemvEpilogue::relu_square, GemvX::shared, 0},
        {DType::f16, 67, 45, GemvEpilogue::add, GemvX::global, 0},
        {DType::f32, 33, 1000, GemvEpilogue::none, GemvX::global, 2},
        {DType::bf16, 130, 8200, GemvEpilogue::add, GemvX::automatic, 0},
    }};
}

// The bad-jobs case: jobs gemv must refuse before launching anything, made from a valid job
// `good` with the add epilogue and 9000 f32 columns (refused_jobs_spec): add without resid, x
// forced into shared memory (36 KB), y overlapping x, negative rows.
constexpr Spec refused_jobs_spec{lectern::DType::f32, 8, 9000, lectern::cuda::GemvEpilogue::add};
inline std::vector<lectern::cuda::GemvJob> refused_jobs(const lectern::cuda::GemvJob& good) {
    std::vector<lectern::cuda::GemvJob> bad(4, good);
    bad[0].resid = nullptr;
    bad[1].x_source = lectern::cuda::GemvX::shared;
    bad[2].y = const_cast<float*>(good.x) + 1;
    bad[3].w.rows = -1;
    return bad;
}

}  // namespace gemv_test
