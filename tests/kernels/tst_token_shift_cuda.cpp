// lectern::cuda::token_shift_mix and token_shift_mix_n (kernels/token_shift.cu) against the CPU
// token_shift_mix on fresh random inputs, with sentinel bytes around every output.
// Tolerance: |Δ| <= 1e-6 + 1e-5·|cpu|. Each output is one subtract and one multiply-add of inputs
// in [-1, 1]; FMA contraction (the GPU's, or the CPU's AVX2/AVX-512 clone) changes the result by
// at most about one ulp of 2 (2.4e-7), so the bound holds with margin while catching any wrong
// index, row or coefficient. Outputs written rounded to a 16-bit dtype (for a product's input)
// must be exactly the float32 outputs rounded to nearest even, and write nothing past their bytes.
#include <QTest>

#include <vector>

#include "cpu/token_shift.h"
#include "elementwise_test_util.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/token_shift.h"
#endif

class TestTokenShiftCuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void matchesCpu_data();
    void matchesCpu();
    void roundedOutputs_data();
    void roundedOutputs();
};

namespace {
constexpr double kAtol = 1e-6;
constexpr double kRtol = 1e-5;
}  // namespace

void TestTokenShiftCuda::initTestCase() { LECTERN_REQUIRE_GPU(); }

void TestTokenShiftCuda::matchesCpu_data()
{
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("C");
    QTest::addColumn<int>("lerps");  // 0: token_shift_mix; 1..6: token_shift_mix_n
    for (int T : {1, 3, 257})
        for (int C : {64, 768, 2560})
            for (int lerps : {0, 6})
                QTest::addRow("T=%d C=%d lerps=%d", T, C, lerps) << T << C << lerps;
    QTest::addRow("T=5 C=128 lerps=2") << 5 << 128 << 2;
    // Not a whole number of float4s per row: the element-by-element kernel.
    QTest::addRow("T=4 C=70 lerps=6") << 4 << 70 << 6;
}

void TestTokenShiftCuda::matchesCpu()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, T);
    QFETCH(int, C);
    QFETCH(int, lerps);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::size_t n = std::size_t(T) * C;
    const int count = lerps == 0 ? 1 : lerps;

    const auto u = gpu_test::uniform(n, -1.0f, 1.0f, seed);
    const auto prev = gpu_test::uniform(std::size_t(C), -1.0f, 1.0f, seed + 1);
    std::vector<std::vector<float>> mix(count);
    for (int l = 0; l < count; ++l)
        mix[l] = gpu_test::uniform(std::size_t(C), 0.0f, 1.0f, seed + 2 + l);

    LECTERN_GUARDED(d_u, u);
    LECTERN_GUARDED(d_prev, prev);
    std::vector<gpu_test::GuardedArray> d_mix(count), d_out(count);
    std::vector<lectern::cuda::TokenShiftLerp> items(count);
    const std::vector<float> garbage = gpu_test::uniform(n, -9.0f, 9.0f, seed + 100);
    for (int l = 0; l < count; ++l) {
        std::string e = gpu_test::make_guarded(mix[l], d_mix[l]);
        QVERIFY2(e.empty(), e.c_str());
        e = gpu_test::make_guarded(garbage, d_out[l]);  // every element must be overwritten
        QVERIFY2(e.empty(), e.c_str());
        items[l] = {d_mix[l].data(), d_out[l].data()};
    }

    if (lerps == 0)
        LECTERN_VERIFY_OK(lectern::cuda::token_shift_mix(d_u.data(), d_prev.data(), T, C,
                                                         items[0].mix, d_out[0].data()));
    else
        LECTERN_VERIFY_OK(lectern::cuda::token_shift_mix_n(d_u.data(), d_prev.data(), T, C,
                                                           items.data(), count));

    std::vector<float> want(n), got;
    for (int l = 0; l < count; ++l) {
        lectern::token_shift_mix(u.data(), prev.data(), T, C, mix[l].data(), want.data());
        LECTERN_READ_GUARDED(d_out[l], got);
        LECTERN_COMPARE_CLOSE(got.data(), want.data(), n, kAtol, kRtol);
    }
    // Inputs are read only.
    std::vector<float> back;
    LECTERN_READ_GUARDED(d_u, back);
    QVERIFY(back == u);
    LECTERN_READ_GUARDED(d_prev, back);
    QVERIFY(back == prev);
#endif
}

void TestTokenShiftCuda::roundedOutputs_data()
{
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("C");
    for (int T : {1, 3, 257})
        for (int C : {64, 70, 2560})
            QTest::addRow("T=%d C=%d", T, C) << T << C;
}

// Six lerps in f32, bf16 and f16 in turn against the same six in float32.
void TestTokenShiftCuda::roundedOutputs()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, T);
    QFETCH(int, C);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::size_t n = std::size_t(T) * C;
    constexpr int count = 6;
    const lectern::DType dtypes[] = {lectern::DType::f32, lectern::DType::bf16,
                                     lectern::DType::f16};
    const auto u = gpu_test::uniform(n, -1.0f, 1.0f, seed);
    const auto prev = gpu_test::uniform(std::size_t(C), -1.0f, 1.0f, seed + 1);
    const std::vector<float> garbage = gpu_test::uniform(n, -9.0f, 9.0f, seed + 100);
    LECTERN_GUARDED(d_u, u);
    LECTERN_GUARDED(d_prev, prev);
    std::vector<gpu_test::GuardedArray> d_mix(count), d_plain(count), d_rounded(count);
    std::vector<lectern::cuda::TokenShiftLerp> plain(count), rounded(count);
    for (int l = 0; l < count; ++l) {
        const auto mix = gpu_test::uniform(std::size_t(C), 0.0f, 1.0f, seed + 2 + l);
        for (auto* a : {&d_mix[l], &d_plain[l], &d_rounded[l]}) {
            const std::string e = gpu_test::make_guarded(a == &d_mix[l] ? mix : garbage, *a);
            QVERIFY2(e.empty(), e.c_str());
        }
        plain[l] = {d_mix[l].data(), d_plain[l].data()};
        rounded[l] = {d_mix[l].data(), d_rounded[l].data(), dtypes[l % 3]};
    }
    LECTERN_VERIFY_OK(lectern::cuda::token_shift_mix_n(d_u.data(), d_prev.data(), T, C,
                                                       plain.data(), count));
    LECTERN_VERIFY_OK(lectern::cuda::token_shift_mix_n(d_u.data(), d_prev.data(), T, C,
                                                       rounded.data(), count));
    std::vector<float> want, got;
    for (int l = 0; l < count; ++l) {
        const lectern::DType dtype = dtypes[l % 3];
        LECTERN_READ_GUARDED(d_plain[l], want);
        LECTERN_READ_GUARDED(d_rounded[l], got);
        for (std::size_t i = 0; i < n; ++i)
            if (gpu_test::stored_bits(got, i, dtype) != gpu_test::rounded_bits(want[i], dtype))
                QFAIL(qPrintable(QStringLiteral("lerp %1 (%2), element %3: 0x%4, want 0x%5")
                                     .arg(l)
                                     .arg(QString::fromLatin1(lectern::dtype_name(dtype).data()))
                                     .arg(i)
                                     .arg(gpu_test::stored_bits(got, i, dtype), 0, 16)
                                     .arg(gpu_test::rounded_bits(want[i], dtype), 0, 16)));
        // Past the 16-bit array's bytes the buffer is untouched.
        for (std::size_t j = gpu_test::floats_written(n, dtype); j < n; ++j)
            QCOMPARE(got[j], garbage[j]);
    }
#endif
}

QTEST_GUILESS_MAIN(TestTokenShiftCuda)
#include "tst_token_shift_cuda.moc"
