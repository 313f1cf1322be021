// lectern::cuda::layer_norm (kernels/layer_norm.cu) against the CPU layer_norm on fresh random
// inputs, out of place and in place, with sentinel bytes around the output.
// Tolerance: |Δ| <= 1e-6 + 1e-5·|cpu|. Both sides take mean and variance in double from the same
// floats (only the summation order differs: ~1e-15 relative), so the normalised value agrees to
// a float rounding; the final x̂·weight + bias rounds as on the CPU (the kernel avoids FMA
// contraction), so at most about one ulp of outputs of magnitude <= ~4 (<= 5e-7) remains. The offset rows check that the mean is taken out
// in double, not rounded to float first.
#include <QTest>

#include <vector>

#include "cpu/layer_norm.h"
#include "elementwise_test_util.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/layer_norm.h"
#endif

class TestLayerNormCuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void matchesCpu_data();
    void matchesCpu();
};

namespace {
constexpr double kAtol = 1e-6;
constexpr double kRtol = 1e-5;
constexpr float kEps = 1e-5f;  // spec §2.8
}  // namespace

void TestLayerNormCuda::initTestCase() { LECTERN_REQUIRE_GPU(); }

void TestLayerNormCuda::matchesCpu_data()
{
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("C");
    QTest::addColumn<bool>("in_place");
    QTest::addColumn<float>("scale");   // x = offset + scale * uniform(-2, 2)
    QTest::addColumn<float>("offset");
    for (int T : {1, 3, 257})
        for (int C : {64, 768, 2560})
            for (bool in_place : {false, true})
                QTest::addRow("T=%d C=%d %s", T, C, in_place ? "in place" : "out of place")
                    << T << C << in_place << 1.0f << 0.0f;
    QTest::addRow("C=4160, not a multiple of the block") << 3 << 4160 << false << 1.0f << 0.0f;
    // The row held in registers up to C = 4,096 (float4s), element by element beyond or when C
    // is not a multiple of 4.
    QTest::addRow("C=4096, the most in registers") << 3 << 4096 << true << 1.0f << 0.0f;
    QTest::addRow("C=70, not whole float4s") << 3 << 70 << true << 1.0f << 0.0f;
    QTest::addRow("offset 100") << 3 << 768 << false << 1.0f << 100.0f;
    // Variance ~1e-6, comparable to eps: eps shapes the output.
    QTest::addRow("small row, eps matters") << 2 << 64 << false << 1e-3f << 0.0f;
}

void TestLayerNormCuda::matchesCpu()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, T);
    QFETCH(int, C);
    QFETCH(bool, in_place);
    QFETCH(float, scale);
    QFETCH(float, offset);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::size_t n = std::size_t(T) * C;

    auto x = gpu_test::uniform(n, -2.0f, 2.0f, seed);
    for (float& v : x)
        v = offset + scale * v;
    const auto weight = gpu_test::uniform(std::size_t(C), 0.5f, 1.5f, seed + 1);
    const auto bias = gpu_test::uniform(std::size_t(C), -0.5f, 0.5f, seed + 2);

    std::vector<float> want(n);
    lectern::layer_norm(x.data(), T, C, weight.data(), bias.data(), kEps, want.data());

    LECTERN_GUARDED(d_x, x);
    LECTERN_GUARDED(d_w, weight);
    LECTERN_GUARDED(d_b, bias);
    LECTERN_GUARDED(d_y, gpu_test::uniform(n, -9.0f, 9.0f, seed + 3));  // all overwritten
    float* y = in_place ? d_x.data() : d_y.data();
    LECTERN_VERIFY_OK(
        lectern::cuda::layer_norm(d_x.data(), T, C, d_w.data(), d_b.data(), kEps, y));

    std::vector<float> got;
    LECTERN_READ_GUARDED(in_place ? d_x : d_y, got);
    LECTERN_COMPARE_CLOSE(got.data(), want.data(), n, kAtol, kRtol);
    if (!in_place) {
        std::vector<float> back;
        LECTERN_READ_GUARDED(d_x, back);
        QVERIFY(back == x);
    }
#endif
}

QTEST_GUILESS_MAIN(TestLayerNormCuda)
#include "tst_layer_norm_cuda.moc"
