// lectern::cuda::group_norm_bonus_gate (kernels/group_norm.cu) against the CPU
// group_norm_bonus_gate on fresh random inputs, out of place and in place (out = o, as the engine
// calls it), with sentinel bytes around the output.
// Tolerance: |Δ| <= 1e-6 + 1e-5·|cpu|. Both sides take the head's mean, variance and bonus in
// double from the same float values (only the summation order differs), then apply the same float
// formula with the same roundings (the kernel avoids FMA contraction); a statistic that rounds to
// a neighbouring float moves a result by about one ulp of the intermediate terms (magnitude <= ~4,
// one ulp <= 5e-7), below the absolute bound even where gn + bonus·v cancels. An out in a 16-bit
// dtype (a product's input) must be exactly the float32 out rounded to nearest even, write nothing
// past its bytes, and may not overlap o (refused).
#include <QTest>

#include <vector>

#include "cpu/group_norm.h"
#include "elementwise_test_util.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/group_norm.h"
#endif

class TestGroupNormCuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void matchesCpu_data();
    void matchesCpu();
    void roundedOut_data();
    void roundedOut();
};

namespace {
constexpr double kAtol = 1e-6;
constexpr double kRtol = 1e-5;
constexpr float kEps = 64e-5f;  // spec §2.4
}  // namespace

void TestGroupNormCuda::initTestCase() { LECTERN_REQUIRE_GPU(); }

void TestGroupNormCuda::matchesCpu_data()
{
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addColumn<bool>("in_place");
    for (int T : {1, 3, 257})
        for (int C : {64, 768, 2560})
            for (bool in_place : {false, true})
                QTest::addRow("T=%d C=%d %s", T, C, in_place ? "in place" : "out of place")
                    << T << C / 64 << 64 << in_place;
    // Head sizes that leave lanes idle or give them unequal counts (the CPU op allows any N).
    QTest::addRow("N=16") << 5 << 3 << 16 << false;
    QTest::addRow("N=48") << 3 << 5 << 48 << true;
}

void TestGroupNormCuda::matchesCpu()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, T);
    QFETCH(int, H);
    QFETCH(int, N);
    QFETCH(bool, in_place);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::size_t C = std::size_t(H) * N;
    const std::size_t n = std::size_t(T) * C;

    const auto o = gpu_test::uniform(n, -1.0f, 2.0f, seed);
    const auto r = gpu_test::uniform(n, -1.0f, 1.0f, seed + 1);
    const auto k = gpu_test::uniform(n, -1.0f, 1.0f, seed + 2);
    const auto v = gpu_test::uniform(n, -1.0f, 1.0f, seed + 3);
    const auto g = gpu_test::uniform(n, -1.0f, 1.0f, seed + 4);
    const auto weight = gpu_test::uniform(C, 0.5f, 1.5f, seed + 5);
    const auto bias = gpu_test::uniform(C, -0.3f, 0.3f, seed + 6);
    const auto r_k = gpu_test::uniform(C, -0.3f, 0.3f, seed + 7);

    std::vector<float> want(n);
    lectern::group_norm_bonus_gate(T, H, N, o.data(), weight.data(), bias.data(), kEps, r.data(),
                                   k.data(), v.data(), r_k.data(), g.data(), want.data());

    LECTERN_GUARDED(d_o, o);
    LECTERN_GUARDED(d_r, r);
    LECTERN_GUARDED(d_k, k);
    LECTERN_GUARDED(d_v, v);
    LECTERN_GUARDED(d_g, g);
    LECTERN_GUARDED(d_w, weight);
    LECTERN_GUARDED(d_b, bias);
    LECTERN_GUARDED(d_rk, r_k);
    LECTERN_GUARDED(d_out, gpu_test::uniform(n, -9.0f, 9.0f, seed + 8));  // all overwritten
    float* out = in_place ? d_o.data() : d_out.data();
    LECTERN_VERIFY_OK(lectern::cuda::group_norm_bonus_gate(T, H, N, d_o.data(), d_w.data(),
                                                           d_b.data(), kEps, d_r.data(),
                                                           d_k.data(), d_v.data(), d_rk.data(),
                                                           d_g.data(), out));

    std::vector<float> got;
    LECTERN_READ_GUARDED(in_place ? d_o : d_out, got);
    LECTERN_COMPARE_CLOSE(got.data(), want.data(), n, kAtol, kRtol);
    // The other inputs are read only.
    std::vector<float> back;
    LECTERN_READ_GUARDED(d_r, back);
    QVERIFY(back == r);
    LECTERN_READ_GUARDED(d_v, back);
    QVERIFY(back == v);
    if (!in_place) {
        LECTERN_READ_GUARDED(d_o, back);
        QVERIFY(back == o);
    }
#endif
}

void TestGroupNormCuda::roundedOut_data()
{
    QTest::addColumn<int>("dtype_index");
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("H");
    for (const lectern::DType d : {lectern::DType::bf16, lectern::DType::f16})
        for (int T : {1, 5, 129})
            for (int H : {2, 40})
                QTest::addRow("%s T=%d H=%d", lectern::dtype_name(d).data(), T, H)
                    << int(d) << T << H;
}

void TestGroupNormCuda::roundedOut()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, dtype_index);
    QFETCH(int, T);
    QFETCH(int, H);
    const auto dtype = lectern::DType(dtype_index);
    constexpr int N = 64;
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::size_t C = std::size_t(H) * N;
    const std::size_t n = std::size_t(T) * C;
    LECTERN_GUARDED(d_o, gpu_test::uniform(n, -1.0f, 2.0f, seed));
    LECTERN_GUARDED(d_r, gpu_test::uniform(n, -1.0f, 1.0f, seed + 1));
    LECTERN_GUARDED(d_k, gpu_test::uniform(n, -1.0f, 1.0f, seed + 2));
    LECTERN_GUARDED(d_v, gpu_test::uniform(n, -1.0f, 1.0f, seed + 3));
    LECTERN_GUARDED(d_g, gpu_test::uniform(n, -1.0f, 1.0f, seed + 4));
    LECTERN_GUARDED(d_w, gpu_test::uniform(C, 0.5f, 1.5f, seed + 5));
    LECTERN_GUARDED(d_b, gpu_test::uniform(C, -0.3f, 0.3f, seed + 6));
    LECTERN_GUARDED(d_rk, gpu_test::uniform(C, -0.3f, 0.3f, seed + 7));
    const auto garbage = gpu_test::uniform(n, -9.0f, 9.0f, seed + 8);
    LECTERN_GUARDED(d_plain, garbage);
    LECTERN_GUARDED(d_rounded, garbage);
    const auto run = [&](void* out, lectern::DType out_dtype) {
        return lectern::cuda::group_norm_bonus_gate(T, H, N, d_o.data(), d_w.data(), d_b.data(),
                                                    kEps, d_r.data(), d_k.data(), d_v.data(),
                                                    d_rk.data(), d_g.data(), out, out_dtype,
                                                    nullptr);
    };
    LECTERN_VERIFY_OK(run(d_plain.data(), lectern::DType::f32));
    LECTERN_VERIFY_OK(run(d_rounded.data(), dtype));
    std::vector<float> want, got;
    LECTERN_READ_GUARDED(d_plain, want);
    LECTERN_READ_GUARDED(d_rounded, got);
    for (std::size_t i = 0; i < n; ++i)
        if (gpu_test::stored_bits(got, i, dtype) != gpu_test::rounded_bits(want[i], dtype))
            QFAIL(qPrintable(QStringLiteral("element %1: 0x%2, want 0x%3")
                                 .arg(i)
                                 .arg(gpu_test::stored_bits(got, i, dtype), 0, 16)
                                 .arg(gpu_test::rounded_bits(want[i], dtype), 0, 16)));
    for (std::size_t j = gpu_test::floats_written(n, dtype); j < n; ++j)
        QCOMPARE(got[j], garbage[j]);
    QVERIFY(!run(d_o.data(), dtype));  // in place would race: refused
#endif
}

QTEST_GUILESS_MAIN(TestGroupNormCuda)
#include "tst_group_norm_cuda.moc"
