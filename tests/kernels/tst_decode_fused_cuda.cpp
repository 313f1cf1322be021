// The fused one-token kernels (kernels/decode_fused.cu) against the composition of their CPU
// twins and of the unfused GPU kernels, on fresh random inputs, sentinel bytes around every
// array, NaN checks:
// - layer_norm_shift_mix vs lectern::layer_norm then token_shift_mix per lerp (1 and 6 lerps,
//   C from 1 to 5000, u_out absent, separate or equal to x).
//   Tolerance vs CPU: u |Δ| <= 1e-6 + 1e-5·|cpu| (tst_layer_norm_cuda's bound); the lerps carry
//   u's error times |1 - mix| <= 1, so they get atol 3e-5 (|u| <= ~3 here) + 1e-5·|cpu|.
//   Vs the GPU chain (layer_norm + token_shift_mix_n): the same formulas and sums, so equal up to
//   FMA contraction: 1e-6 + 1e-6·|gpu| (about 2 ulp).
// - time_mix_wkv7_step vs time_mix_prepare, wkv7_step, group_norm_bonus_gate (CPU, and the GPU
//   chain), H = 1/12/40 with N = 64 (state in registers), N = 16 and 48 (idle lanes) and 96 (state
//   in global memory), first block and later blocks. The inputs and the CPU composition are
//   time_mix_step_case.h's (shared with the emulator test, tests/emu/tst_decode_kernels_emu).
//   Tolerance: state |Δ| <= 1e-5·(max|cpu| + |cpu|) (tst_wkv7_cuda's bound at T = 1; its inputs
//   differ by the few ulp of expf here); v_first exact (a copy) or 1e-6 + 1e-5·|cpu|
//   (untouched); out |Δ| <= 1e-4 + 1e-4·|cpu|: the read-out y carries the state's error, which
//   GroupNorm divides by the head's standard deviation of y (O(max|y|) for these inputs) and the
//   gate multiplies by |g| <= 1. Indexing or ordering bugs give errors of order 1.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "cpu/layer_norm.h"
#include "cpu/token_shift.h"
#include "elementwise_test_util.h"
#include "time_mix_step_case.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/decode_fused.h"
#include "lectern/cuda/group_norm.h"
#include "lectern/cuda/layer_norm.h"
#include "lectern/cuda/time_mix.h"
#include "lectern/cuda/token_shift.h"
#include "lectern/cuda/wkv7.h"
#endif

namespace {
constexpr float kLnEps = 1e-5f;
using time_mix_step_case::kGnEps;
}  // namespace

class TestDecodeFusedCuda : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void initTestCase();
    void layerNormShift_data();
    void layerNormShift();
    void timeMixWkv_data();
    void timeMixWkv();
};

void TestDecodeFusedCuda::initTestCase() {
    LECTERN_REQUIRE_GPU();
}

void TestDecodeFusedCuda::layerNormShift_data() {
    QTest::addColumn<int>("C");
    QTest::addColumn<int>("lerps");
    QTest::addColumn<int>("u_mode");  // 0: no u_out, 1: separate u_out, 2: u_out = x
    for (int C : {1, 64, 768, 2560, 4096, 5000})
        for (int lerps : {1, 6})
            for (int mode : {0, 1, 2})
                QTest::addRow("C=%d lerps=%d u=%d", C, lerps, mode) << C << lerps << mode;
}

void TestDecodeFusedCuda::layerNormShift() {
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, C);
    QFETCH(int, lerps);
    QFETCH(int, u_mode);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::size_t n = std::size_t(C);
    const auto x = gpu_test::uniform(n, -2.0f, 3.0f, seed);  // nonzero mean
    const auto weight = gpu_test::uniform(n, 0.5f, 1.5f, seed + 1);
    const auto bias = gpu_test::uniform(n, -0.5f, 0.5f, seed + 2);
    const auto shift = gpu_test::uniform(n, -2.0f, 2.0f, seed + 3);
    const auto garbage = gpu_test::uniform(n, -9.0f, 9.0f, seed + 4);
    const std::size_t count = static_cast<std::size_t>(lerps);
    std::vector<std::vector<float>> mix(count);
    for (int l = 0; l < lerps; ++l)
        mix[std::size_t(l)] = gpu_test::uniform(n, 0.0f, 1.0f, seed + 5 + unsigned(l));

    // CPU composition.
    std::vector<float> u(n);
    lectern::layer_norm(x.data(), 1, C, weight.data(), bias.data(), kLnEps, u.data());
    std::vector<std::vector<float>> want(count, std::vector<float>(n));
    for (int l = 0; l < lerps; ++l)
        lectern::token_shift_mix(u.data(), shift.data(), 1, C, mix[std::size_t(l)].data(),
                                 want[std::size_t(l)].data());

    LECTERN_GUARDED(d_x, x);
    LECTERN_GUARDED(d_w, weight);
    LECTERN_GUARDED(d_b, bias);
    LECTERN_GUARDED(d_shift, shift);
    LECTERN_GUARDED(d_u, garbage);
    std::vector<gpu_test::GuardedArray> d_mix(count), d_out(count), d_chain(count);
    std::vector<lectern::cuda::TokenShiftLerp> table(count), chain_table(count);
    for (std::size_t l = 0; l < count; ++l) {
        QVERIFY(gpu_test::make_guarded(mix[l], d_mix[l]).empty());
        QVERIFY(gpu_test::make_guarded(garbage, d_out[l]).empty());
        QVERIFY(gpu_test::make_guarded(garbage, d_chain[l]).empty());
        table[l] = {d_mix[l].data(), d_out[l].data()};
        chain_table[l] = {d_mix[l].data(), d_chain[l].data()};
    }
    // The unfused GPU chain first (it reads the shift before the fused kernel replaces it).
    LECTERN_GUARDED(d_chain_u, garbage);
    LECTERN_VERIFY_OK(lectern::cuda::layer_norm(d_x.data(), 1, C, d_w.data(), d_b.data(), kLnEps,
                                                d_chain_u.data()));
    LECTERN_VERIFY_OK(lectern::cuda::token_shift_mix_n(d_chain_u.data(), d_shift.data(), 1, C,
                                                       chain_table.data(), lerps));
    float* u_out = u_mode == 0 ? nullptr : (u_mode == 1 ? d_u.data() : d_x.data());
    LECTERN_VERIFY_OK(lectern::cuda::layer_norm_shift_mix(
        d_x.data(), C, d_w.data(), d_b.data(), kLnEps, d_shift.data(), table.data(), lerps, u_out));

    std::vector<float> got, chain;
    LECTERN_READ_GUARDED(d_shift, got);  // shift := u
    LECTERN_COMPARE_CLOSE(got.data(), u.data(), n, 1e-6, 1e-5);
    LECTERN_READ_GUARDED(d_chain_u, chain);
    LECTERN_COMPARE_CLOSE(got.data(), chain.data(), n, 1e-6, 1e-6);
    LECTERN_READ_GUARDED(d_u, got);
    if (u_mode == 1)
        LECTERN_COMPARE_CLOSE(got.data(), u.data(), n, 1e-6, 1e-5);
    else
        QVERIFY(got == garbage);
    LECTERN_READ_GUARDED(d_x, got);
    if (u_mode == 2)
        LECTERN_COMPARE_CLOSE(got.data(), u.data(), n, 1e-6, 1e-5);
    else
        QVERIFY(got == x);
    for (std::size_t l = 0; l < count; ++l) {
        LECTERN_READ_GUARDED(d_out[l], got);
        LECTERN_COMPARE_CLOSE(got.data(), want[l].data(), n, 3e-5, 1e-5);
        LECTERN_READ_GUARDED(d_chain[l], chain);
        LECTERN_COMPARE_CLOSE(got.data(), chain.data(), n, 1e-6, 1e-6);
    }
#endif
}

void TestDecodeFusedCuda::timeMixWkv_data() {
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addColumn<bool>("first");
    for (int H : {1, 12, 40})
        for (bool first : {true, false})
            QTest::addRow("H=%d N=64 %s", H, first ? "first" : "later") << H << 64 << first;
    QTest::addRow("H=3 N=16 later") << 3 << 16 << false;
    QTest::addRow("H=5 N=48 first") << 5 << 48 << true;
    QTest::addRow("H=2 N=96 later") << 2 << 96 << false;
}

void TestDecodeFusedCuda::timeMixWkv() {
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, H);
    QFETCH(int, N);
    QFETCH(bool, first);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const time_mix_step_case::Inputs tc = time_mix_step_case::make_inputs(H, N, seed);
    const std::size_t C = tc.C();
    const std::size_t S = tc.S();
    // CPU composition (time_mix_step_case.h).
    const time_mix_step_case::Expected want = time_mix_step_case::cpu_expected(tc, first);

    LECTERN_GUARDED(d_w0, tc.w0);
    LECTERN_GUARDED(d_a0, tc.a0);
    LECTERN_GUARDED(d_v0, tc.v0);
    LECTERN_GUARDED(d_k_k, tc.k_k);
    LECTERN_GUARDED(d_k_a, tc.k_a);
    LECTERN_GUARDED(d_r, tc.r);
    LECTERN_GUARDED(d_decay, tc.decay);
    LECTERN_GUARDED(d_iclr, tc.iclr);
    LECTERN_GUARDED(d_k, tc.k);
    LECTERN_GUARDED(d_v, tc.v);
    LECTERN_GUARDED(d_v_gate, tc.v_gate);
    LECTERN_GUARDED(d_g, tc.g);
    LECTERN_GUARDED(d_v_first, tc.v_first);
    LECTERN_GUARDED(d_r_k, tc.r_k);
    LECTERN_GUARDED(d_lnx_w, tc.lnx_w);
    LECTERN_GUARDED(d_lnx_b, tc.lnx_b);
    LECTERN_GUARDED(d_state, tc.state);
    LECTERN_GUARDED(d_out, tc.garbage);
    const lectern::cuda::TimeMixVectors gv{d_w0.data(), d_a0.data(), first ? nullptr : d_v0.data(),
                                           d_k_k.data(), d_k_a.data()};
    lectern::cuda::TimeMixStepInputs in;
    in.r = d_r.data();
    in.decay = d_decay.data();
    in.iclr = d_iclr.data();
    in.k = d_k.data();
    in.v = d_v.data();
    in.v_gate = first ? nullptr : d_v_gate.data();
    in.g = d_g.data();
    const lectern::cuda::GroupNormVectors gn{d_lnx_w.data(), d_lnx_b.data(), d_r_k.data()};
    LECTERN_VERIFY_OK(lectern::cuda::time_mix_wkv7_step(H, N, gv, first, in, d_v_first.data(),
                                                        d_state.data(), gn, kGnEps, d_out.data()));

    std::vector<float> got;
    LECTERN_READ_GUARDED(d_out, got);
    LECTERN_COMPARE_CLOSE(got.data(), want.out.data(), C, 1e-4, 1e-4);
    const std::vector<float> fused_out = got;
    LECTERN_READ_GUARDED(d_v_first, got);
    if (first)
        QVERIFY(got == tc.v);
    else
        QVERIFY(got == tc.v_first);
    LECTERN_READ_GUARDED(d_state, got);
    const std::vector<float> fused_state = got;
    const float peak = want.state_peak();
    LECTERN_COMPARE_CLOSE(got.data(), want.state.data(), S, 1e-5 * peak, 1e-5);
    // The inputs are read only.
    const std::pair<const gpu_test::GuardedArray*, const std::vector<float>*> inputs[] = {
        {&d_r, &tc.r}, {&d_decay, &tc.decay},   {&d_iclr, &tc.iclr}, {&d_k, &tc.k},
        {&d_v, &tc.v}, {&d_v_gate, &tc.v_gate}, {&d_g, &tc.g}};
    for (const auto& [array, host] : inputs) {
        LECTERN_READ_GUARDED(*array, got);
        QVERIFY(got == *host);
    }

    // The unfused GPU chain on fresh copies of the in-place inputs.
    LECTERN_GUARDED(e_decay, tc.decay);
    LECTERN_GUARDED(e_iclr, tc.iclr);
    LECTERN_GUARDED(e_k, tc.k);
    LECTERN_GUARDED(e_v, tc.v);
    LECTERN_GUARDED(e_v_first, tc.v_first);
    LECTERN_GUARDED(e_state, tc.state);
    LECTERN_GUARDED(e_alpha, tc.garbage);
    LECTERN_GUARDED(e_beta, tc.garbage);
    LECTERN_GUARDED(e_y, tc.garbage);
    LECTERN_VERIFY_OK(lectern::cuda::time_mix_prepare(
        1, H, N, gv, first, e_decay.data(), e_iclr.data(), e_k.data(), e_v.data(),
        first ? nullptr : d_v_gate.data(), e_v_first.data(), e_alpha.data(), e_beta.data()));
    LECTERN_VERIFY_OK(lectern::cuda::wkv7_step(H, N, d_r.data(), e_decay.data(), e_k.data(),
                                               e_v.data(), e_alpha.data(), e_beta.data(),
                                               e_state.data(), e_y.data(), nullptr));
    LECTERN_VERIFY_OK(lectern::cuda::group_norm_bonus_gate(
        1, H, N, e_y.data(), d_lnx_w.data(), d_lnx_b.data(), kGnEps, d_r.data(), e_k.data(),
        e_v.data(), d_r_k.data(), d_g.data(), e_y.data()));
    LECTERN_READ_GUARDED(e_y, got);
    LECTERN_COMPARE_CLOSE(fused_out.data(), got.data(), C, 1e-4, 1e-4);
    LECTERN_READ_GUARDED(e_state, got);
    LECTERN_COMPARE_CLOSE(fused_state.data(), got.data(), S, 1e-5 * peak, 1e-5);
#endif
}

QTEST_GUILESS_MAIN(TestDecodeFusedCuda)
#include "tst_decode_fused_cuda.moc"
