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
//   in global memory), first block and later blocks.
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

#include "cpu/group_norm.h"
#include "cpu/layer_norm.h"
#include "cpu/time_mix.h"
#include "cpu/token_shift.h"
#include "cpu/wkv7.h"
#include "elementwise_test_util.h"
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
constexpr float kGnEps = 64e-5f;
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
    const std::size_t C = std::size_t(H) * N;
    const std::size_t S = C * std::size_t(N);
    // tst_time_mix_cuda's ranges (both tails of σ), tst_wkv7_cuda's state range.
    const auto w0 = gpu_test::uniform(C, -3.0f, 1.0f, seed);
    const auto a0 = gpu_test::uniform(C, -1.0f, 1.0f, seed + 1);
    const auto v0 = gpu_test::uniform(C, -1.0f, 1.0f, seed + 2);
    const auto k_k = gpu_test::uniform(C, 0.2f, 1.5f, seed + 3);
    const auto k_a = gpu_test::uniform(C, 0.0f, 1.2f, seed + 4);
    const auto r = gpu_test::uniform(C, -1.0f, 1.0f, seed + 5);
    const auto decay = gpu_test::uniform(C, -4.0f, 4.0f, seed + 6);
    const auto iclr = gpu_test::uniform(C, -4.0f, 4.0f, seed + 7);
    const auto k = gpu_test::uniform(C, -1.0f, 1.0f, seed + 8);
    const auto v = gpu_test::uniform(C, -1.0f, 1.0f, seed + 9);
    const auto v_gate = gpu_test::uniform(C, -4.0f, 4.0f, seed + 10);
    const auto g = gpu_test::uniform(C, -1.0f, 1.0f, seed + 11);
    const auto v_first = gpu_test::uniform(C, -1.0f, 1.0f, seed + 12);
    const auto r_k = gpu_test::uniform(C, -1.0f, 1.0f, seed + 13);
    const auto lnx_w = gpu_test::uniform(C, 0.5f, 1.5f, seed + 14);
    const auto lnx_b = gpu_test::uniform(C, -0.5f, 0.5f, seed + 15);
    const auto state = gpu_test::uniform(S, -0.5f, 0.5f, seed + 16);
    const auto garbage = gpu_test::uniform(C, -9.0f, 9.0f, seed + 17);

    // CPU composition, in place on copies, as rwkv_block_forward chains the ops.
    auto c_decay = decay, c_iclr = iclr, c_k = k, c_v = v, c_vf = v_first, c_state = state;
    std::vector<float> c_alpha(C), c_beta(C), c_y(C), c_out(C);
    const lectern::TimeMixVectors cv{w0.data(), a0.data(), first ? nullptr : v0.data(), k_k.data(),
                                     k_a.data()};
    lectern::time_mix_prepare(1, H, N, cv, first, c_decay.data(), c_iclr.data(), c_k.data(),
                              c_v.data(), first ? nullptr : v_gate.data(), c_vf.data(),
                              c_alpha.data(), c_beta.data());
    lectern::wkv7_step(H, N, r.data(), c_decay.data(), c_k.data(), c_v.data(), c_alpha.data(),
                       c_beta.data(), c_state.data(), c_y.data(), nullptr);
    lectern::group_norm_bonus_gate(1, H, N, c_y.data(), lnx_w.data(), lnx_b.data(), kGnEps,
                                   r.data(), c_k.data(), c_v.data(), r_k.data(), g.data(),
                                   c_out.data());

    LECTERN_GUARDED(d_w0, w0);
    LECTERN_GUARDED(d_a0, a0);
    LECTERN_GUARDED(d_v0, v0);
    LECTERN_GUARDED(d_k_k, k_k);
    LECTERN_GUARDED(d_k_a, k_a);
    LECTERN_GUARDED(d_r, r);
    LECTERN_GUARDED(d_decay, decay);
    LECTERN_GUARDED(d_iclr, iclr);
    LECTERN_GUARDED(d_k, k);
    LECTERN_GUARDED(d_v, v);
    LECTERN_GUARDED(d_v_gate, v_gate);
    LECTERN_GUARDED(d_g, g);
    LECTERN_GUARDED(d_v_first, v_first);
    LECTERN_GUARDED(d_r_k, r_k);
    LECTERN_GUARDED(d_lnx_w, lnx_w);
    LECTERN_GUARDED(d_lnx_b, lnx_b);
    LECTERN_GUARDED(d_state, state);
    LECTERN_GUARDED(d_out, garbage);
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
    LECTERN_COMPARE_CLOSE(got.data(), c_out.data(), C, 1e-4, 1e-4);
    const std::vector<float> fused_out = got;
    LECTERN_READ_GUARDED(d_v_first, got);
    if (first)
        QVERIFY(got == v);
    else
        QVERIFY(got == v_first);
    LECTERN_READ_GUARDED(d_state, got);
    const std::vector<float> fused_state = got;
    float peak = 0.0f;
    for (float s : c_state) peak = std::max(peak, std::fabs(s));
    LECTERN_COMPARE_CLOSE(got.data(), c_state.data(), S, 1e-5 * peak, 1e-5);
    // The inputs are read only.
    const std::pair<const gpu_test::GuardedArray*, const std::vector<float>*> inputs[] = {
        {&d_r, &r}, {&d_decay, &decay},   {&d_iclr, &iclr}, {&d_k, &k},
        {&d_v, &v}, {&d_v_gate, &v_gate}, {&d_g, &g}};
    for (const auto& [array, host] : inputs) {
        LECTERN_READ_GUARDED(*array, got);
        QVERIFY(got == *host);
    }

    // The unfused GPU chain on fresh copies of the in-place inputs.
    LECTERN_GUARDED(e_decay, decay);
    LECTERN_GUARDED(e_iclr, iclr);
    LECTERN_GUARDED(e_k, k);
    LECTERN_GUARDED(e_v, v);
    LECTERN_GUARDED(e_v_first, v_first);
    LECTERN_GUARDED(e_state, state);
    LECTERN_GUARDED(e_alpha, garbage);
    LECTERN_GUARDED(e_beta, garbage);
    LECTERN_GUARDED(e_y, garbage);
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
