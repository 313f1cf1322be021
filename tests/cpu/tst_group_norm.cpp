// group_norm_bonus_gate (engine/src/cpu/group_norm.h) against a float64 loop from spec §2.4:
// per head (o − mean)/sqrt(var + 64e-5)·γ + β, plus (Σ r·k̃·r_k)·v, times the gate g.
#include <QTest>

#include <cmath>
#include <random>
#include <vector>

#include "cpu/group_norm.h"
#include "forward_op_test_util.h"

class TestGroupNorm : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matchesReference_data();
    void matchesReference();
};

void TestGroupNorm::matchesReference_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addColumn<float>("scale");
    QTest::newRow("one token") << 1 << 2 << 64 << 1.0f;
    QTest::newRow("prefill") << 11 << 4 << 64 << 3.0f;
    QTest::newRow("small read-out, eps matters") << 3 << 3 << 64 << 1e-3f;
    QTest::newRow("other head size") << 5 << 2 << 16 << 1.0f;
}

void TestGroupNorm::matchesReference() {
    QFETCH(int, T);
    QFETCH(int, H);
    QFETCH(int, N);
    QFETCH(float, scale);
    const int C = H * N;
    const std::size_t n = std::size_t(T) * C;
    std::mt19937 rng(11u + unsigned(T * H));
    auto o = op_test::normal(rng, n, 0.5f * scale, scale);
    auto r = op_test::normal(rng, n);
    auto k = op_test::normal(rng, n);
    auto v = op_test::normal(rng, n);
    auto g = op_test::normal(rng, n);
    auto w = op_test::normal(rng, std::size_t(C), 1.0f, 0.1f);
    auto b = op_test::normal(rng, std::size_t(C), 0.0f, 0.1f);
    auto rk = op_test::normal(rng, std::size_t(C), 0.0f, 0.1f);
    const double eps = 64e-5;

    std::vector<double> ref(n);
    for (int t = 0; t < T; ++t)
        for (int h = 0; h < H; ++h) {
            const std::size_t base = std::size_t(t) * C + std::size_t(h) * N;
            double mean = 0.0, var = 0.0, bonus = 0.0;
            for (int j = 0; j < N; ++j) mean += o[base + j];
            mean /= N;
            for (int j = 0; j < N; ++j) var += (o[base + j] - mean) * (o[base + j] - mean);
            var /= N;
            for (int j = 0; j < N; ++j)
                bonus += double(r[base + j]) * k[base + j] * rk[std::size_t(h) * N + j];
            for (int j = 0; j < N; ++j) {
                const std::size_t c = std::size_t(h) * N + j;
                const double gn = (o[base + j] - mean) / std::sqrt(var + eps) * w[c] + b[c];
                ref[base + j] = (gn + bonus * v[base + j]) * g[base + j];
            }
        }

    std::vector<float> out(n + 8, 3.0f);
    lectern::group_norm_bonus_gate(T, H, N, o.data(), w.data(), b.data(), float(eps), r.data(),
                                   k.data(), v.data(), rk.data(), g.data(), out.data());
    for (std::size_t i = n; i < out.size(); ++i) QCOMPARE(out[i], 3.0f);
    out.resize(n);
    QVERIFY(op_test::all_finite(out));
    const double err = op_test::max_scaled_error(out, ref);
    QVERIFY2(err < 2e-6, qPrintable(QString::number(err)));

    // In place (out aliasing o), as the forward pass calls it.
    lectern::group_norm_bonus_gate(T, H, N, o.data(), w.data(), b.data(), float(eps), r.data(),
                                   k.data(), v.data(), rk.data(), g.data(), o.data());
    QCOMPARE(o, out);
}

QTEST_GUILESS_MAIN(TestGroupNorm)
#include "tst_group_norm.moc"
