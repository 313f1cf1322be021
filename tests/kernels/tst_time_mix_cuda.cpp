// lectern::cuda::time_mix_prepare (kernels/time_mix.cu) against the CPU time_mix_prepare on fresh
// random inputs, for RWKV block 0 (v copied to v_first) and later blocks (value residual), with
// sentinel bytes around all seven in-place and output arrays.
// Tolerance: |Δ| <= 1e-6 + 1e-5·|cpu|. CUDA's expf is within 2 ulp and glibc's within 1, so σ and
// the decay may differ by a few ulp (~3e-7 relative); k̃, v and β carry that through one or two
// more float operations; κ̂'s norm is summed in double on both sides. Outputs are O(1), so the
// bound leaves a margin of more than 10x while catching a wrong constant, sign or head.
#include <QScopeGuard>
#include <QTest>

#include <utility>
#include <vector>

#include "cpu/time_mix.h"
#include "elementwise_test_util.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/time_mix.h"
#endif

class TestTimeMixCuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void matchesCpu_data();
    void matchesCpu();
};

namespace {
constexpr double kAtol = 1e-6;
constexpr double kRtol = 1e-5;
}  // namespace

void TestTimeMixCuda::initTestCase() { LECTERN_REQUIRE_GPU(); }

void TestTimeMixCuda::matchesCpu_data()
{
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addColumn<bool>("first_block");
    for (int T : {1, 3, 257})
        for (int C : {64, 768, 2560})
            for (bool first : {true, false})
                QTest::addRow("T=%d C=%d %s", T, C, first ? "first block" : "later block")
                    << T << C / 64 << 64 << first;
    // Head sizes that leave lanes idle or give them unequal counts (the CPU op allows any N).
    QTest::addRow("N=16") << 5 << 3 << 16 << false;
    QTest::addRow("N=48") << 3 << 5 << 48 << true;
}

void TestTimeMixCuda::matchesCpu()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, T);
    QFETCH(int, H);
    QFETCH(int, N);
    QFETCH(bool, first_block);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::size_t C = std::size_t(H) * N;
    const std::size_t n = std::size_t(T) * C;

    // Ranges wide enough to reach both tails of σ; k_k and k_a near their trained values.
    const auto w0 = gpu_test::uniform(C, -3.0f, 1.0f, seed);
    const auto a0 = gpu_test::uniform(C, -1.0f, 1.0f, seed + 1);
    const auto v0 = gpu_test::uniform(C, -1.0f, 1.0f, seed + 2);
    const auto k_k = gpu_test::uniform(C, 0.2f, 1.5f, seed + 3);
    const auto k_a = gpu_test::uniform(C, 0.0f, 1.2f, seed + 4);
    const auto decay = gpu_test::uniform(n, -4.0f, 4.0f, seed + 5);  // ŵ
    const auto iclr = gpu_test::uniform(n, -4.0f, 4.0f, seed + 6);
    const auto k = gpu_test::uniform(n, -1.0f, 1.0f, seed + 7);
    const auto v = gpu_test::uniform(n, -1.0f, 1.0f, seed + 8);
    const auto v_gate = gpu_test::uniform(n, -4.0f, 4.0f, seed + 9);
    // Later blocks read v_first; block 0 overwrites it, so it starts as garbage there.
    const auto v_first = gpu_test::uniform(n, -1.0f, 1.0f, seed + 10);
    const auto garbage = gpu_test::uniform(n, -9.0f, 9.0f, seed + 11);

    // CPU, in place on copies.
    auto c_decay = decay, c_iclr = iclr, c_k = k, c_v = v, c_vf = v_first;
    std::vector<float> c_alpha(n), c_beta(n);
    const lectern::TimeMixVectors cpu_vecs{w0.data(), a0.data(),
                                           first_block ? nullptr : v0.data(), k_k.data(),
                                           k_a.data()};
    lectern::time_mix_prepare(T, H, N, cpu_vecs, first_block, c_decay.data(), c_iclr.data(),
                              c_k.data(), c_v.data(), first_block ? nullptr : v_gate.data(),
                              c_vf.data(), c_alpha.data(), c_beta.data());

    LECTERN_GUARDED(d_w0, w0);
    LECTERN_GUARDED(d_a0, a0);
    LECTERN_GUARDED(d_v0, v0);
    LECTERN_GUARDED(d_k_k, k_k);
    LECTERN_GUARDED(d_k_a, k_a);
    LECTERN_GUARDED(d_decay, decay);
    LECTERN_GUARDED(d_iclr, iclr);
    LECTERN_GUARDED(d_k, k);
    LECTERN_GUARDED(d_v, v);
    LECTERN_GUARDED(d_v_gate, v_gate);
    LECTERN_GUARDED(d_v_first, v_first);
    LECTERN_GUARDED(d_alpha, garbage);
    LECTERN_GUARDED(d_beta, garbage);
    const lectern::cuda::TimeMixVectors gpu_vecs{d_w0.data(), d_a0.data(),
                                                 first_block ? nullptr : d_v0.data(),
                                                 d_k_k.data(), d_k_a.data()};
    LECTERN_VERIFY_OK(lectern::cuda::time_mix_prepare(
        T, H, N, gpu_vecs, first_block, d_decay.data(), d_iclr.data(), d_k.data(), d_v.data(),
        first_block ? nullptr : d_v_gate.data(), d_v_first.data(), d_alpha.data(),
        d_beta.data()));

    std::vector<float> got;
    const auto check = [&](const gpu_test::GuardedArray& array, const std::vector<float>& want,
                           const char* name) {
        const std::string e = gpu_test::read_guarded(array, got);
        QVERIFY2(e.empty(), qPrintable(QStringLiteral("%1: %2").arg(name, QString::fromStdString(e))));
        // Name the array in the log when the comparison below fails.
        const auto note = qScopeGuard([&] {
            if (QTest::currentTestFailed())
                qWarning("array %s", name);
        });
        LECTERN_COMPARE_CLOSE(got.data(), want.data(), n, kAtol, kRtol);
    };
    const std::pair<const gpu_test::GuardedArray*, const std::vector<float>*> outputs[] = {
        {&d_decay, &c_decay}, {&d_iclr, &c_iclr},   {&d_k, &c_k},        {&d_v, &c_v},
        {&d_v_first, &c_vf},  {&d_alpha, &c_alpha}, {&d_beta, &c_beta}};
    const char* names[] = {"decay", "iclr", "k", "v", "v_first", "alpha", "beta"};
    for (int i = 0; i < 7; ++i) {
        check(*outputs[i].first, *outputs[i].second, names[i]);
        if (QTest::currentTestFailed())
            return;
    }
    // v_gate is read only.
    LECTERN_READ_GUARDED(d_v_gate, got);
    QVERIFY(got == v_gate);
#endif
}

QTEST_GUILESS_MAIN(TestTimeMixCuda)
#include "tst_time_mix_cuda.moc"
