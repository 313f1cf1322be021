// The fused time-mix step case (lectern::cuda::time_mix_wkv7_step) of tst_decode_fused_cuda and
// the emulator test (tests/emu/tst_decode_kernels_emu): its random inputs (make_inputs) and the
// expected outputs of the CPU composition time_mix_prepare -> wkv7_step -> group_norm_bonus_gate
// (cpu_expected). Each test keeps its own device plumbing and checks; the tolerances are derived
// in tst_decode_fused_cuda.cpp's file comment.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cpu/group_norm.h"
#include "cpu/time_mix.h"
#include "cpu/wkv7.h"
#include "gpu_test_util.h"

namespace time_mix_step_case {

// The GroupNorm epsilon of the case (the model's ln_x: 64e-5).
constexpr float kGnEps = 64e-5f;

// One step's inputs for H heads of size N: the time-mix vectors (w0, a0, v0, k_k, k_a), the
// per-token vectors, the GroupNorm vectors, the state (H * N * N) and garbage for the output.
struct Inputs {
    int H = 0, N = 0;
    std::vector<float> w0, a0, v0, k_k, k_a, r, decay, iclr, k, v, v_gate, g, v_first, r_k;
    std::vector<float> lnx_w, lnx_b, state, garbage;
    std::size_t C() const { return std::size_t(H) * std::size_t(N); }
    std::size_t S() const { return C() * std::size_t(N); }
};

// tst_time_mix_cuda's ranges (both tails of σ), tst_wkv7_cuda's state range; vector i from
// seed + i.
inline Inputs make_inputs(int H, int N, std::uint32_t seed) {
    Inputs in;
    in.H = H;
    in.N = N;
    const std::size_t C = in.C();
    in.w0 = gpu_test::uniform(C, -3.0f, 1.0f, seed);
    in.a0 = gpu_test::uniform(C, -1.0f, 1.0f, seed + 1);
    in.v0 = gpu_test::uniform(C, -1.0f, 1.0f, seed + 2);
    in.k_k = gpu_test::uniform(C, 0.2f, 1.5f, seed + 3);
    in.k_a = gpu_test::uniform(C, 0.0f, 1.2f, seed + 4);
    in.r = gpu_test::uniform(C, -1.0f, 1.0f, seed + 5);
    in.decay = gpu_test::uniform(C, -4.0f, 4.0f, seed + 6);
    in.iclr = gpu_test::uniform(C, -4.0f, 4.0f, seed + 7);
    in.k = gpu_test::uniform(C, -1.0f, 1.0f, seed + 8);
    in.v = gpu_test::uniform(C, -1.0f, 1.0f, seed + 9);
    in.v_gate = gpu_test::uniform(C, -4.0f, 4.0f, seed + 10);
    in.g = gpu_test::uniform(C, -1.0f, 1.0f, seed + 11);
    in.v_first = gpu_test::uniform(C, -1.0f, 1.0f, seed + 12);
    in.r_k = gpu_test::uniform(C, -1.0f, 1.0f, seed + 13);
    in.lnx_w = gpu_test::uniform(C, 0.5f, 1.5f, seed + 14);
    in.lnx_b = gpu_test::uniform(C, -0.5f, 0.5f, seed + 15);
    in.state = gpu_test::uniform(in.S(), -0.5f, 0.5f, seed + 16);
    in.garbage = gpu_test::uniform(C, -9.0f, 9.0f, seed + 17);
    return in;
}

// What the step must produce: the block's output and the new state.
struct Expected {
    std::vector<float> out, state;
    // max |state| (0 when empty): the scale of the state's tolerance.
    float state_peak() const {
        float peak = 0.0f;
        for (float s : state) peak = std::max(peak, std::fabs(s));
        return peak;
    }
};

// The CPU composition, in place on copies, as rwkv_block_forward chains the ops; `first`: the
// first block (v_first := v, no v0 / v_gate).
inline Expected cpu_expected(const Inputs& in, bool first) {
    const int H = in.H, N = in.N;
    const std::size_t C = in.C();
    auto c_decay = in.decay, c_iclr = in.iclr, c_k = in.k, c_v = in.v, c_vf = in.v_first;
    Expected want;
    want.state = in.state;
    std::vector<float> c_alpha(C), c_beta(C), c_y(C);
    want.out.assign(C, 0.0f);
    const lectern::TimeMixVectors cv{in.w0.data(), in.a0.data(), first ? nullptr : in.v0.data(),
                                     in.k_k.data(), in.k_a.data()};
    lectern::time_mix_prepare(1, H, N, cv, first, c_decay.data(), c_iclr.data(), c_k.data(),
                              c_v.data(), first ? nullptr : in.v_gate.data(), c_vf.data(),
                              c_alpha.data(), c_beta.data());
    lectern::wkv7_step(H, N, in.r.data(), c_decay.data(), c_k.data(), c_v.data(), c_alpha.data(),
                       c_beta.data(), want.state.data(), c_y.data(), nullptr);
    lectern::group_norm_bonus_gate(1, H, N, c_y.data(), in.lnx_w.data(), in.lnx_b.data(), kGnEps,
                                   in.r.data(), c_k.data(), c_v.data(), in.r_k.data(), in.g.data(),
                                   want.out.data());
    return want;
}

}  // namespace time_mix_step_case
