// layer_norm (engine/src/cpu/layer_norm.h) against a float64 loop: (x − mean)/sqrt(var + eps)·γ + β
// with biased variance (spec §2.8), including rows with a large common offset (cancellation) and
// the in-place form the embedding uses.
#include <QTest>

#include <cmath>
#include <random>
#include <vector>

#include "cpu/layer_norm.h"
#include "forward_op_test_util.h"

namespace {

std::vector<double> reference(const std::vector<float>& x, int T, int C,
                              const std::vector<float>& w, const std::vector<float>& b,
                              double eps) {
    std::vector<double> y(x.size());
    for (int t = 0; t < T; ++t) {
        const float* xt = x.data() + t * C;
        double mean = 0.0, var = 0.0;
        for (int c = 0; c < C; ++c) mean += xt[c];
        mean /= C;
        for (int c = 0; c < C; ++c) var += (xt[c] - mean) * (xt[c] - mean);
        var /= C;
        for (int c = 0; c < C; ++c)
            y[t * C + c] = (xt[c] - mean) / std::sqrt(var + eps) * w[c] + b[c];
    }
    return y;
}

}  // namespace

class TestLayerNorm : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matchesReference_data();
    void matchesReference();
    void inPlace();
};

void TestLayerNorm::matchesReference_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("C");
    QTest::addColumn<float>("offset");
    QTest::addColumn<float>("scale");
    QTest::newRow("one row") << 1 << 64 << 0.0f << 1.0f;
    QTest::newRow("rows") << 7 << 768 << 0.0f << 1.0f;
    QTest::newRow("large offset") << 3 << 256 << 1000.0f << 1.0f;
    QTest::newRow("tiny values, eps matters") << 2 << 128 << 0.0f << 1e-4f;
}

void TestLayerNorm::matchesReference() {
    QFETCH(int, T);
    QFETCH(int, C);
    QFETCH(float, offset);
    QFETCH(float, scale);
    std::mt19937 rng(7u + unsigned(C));
    auto x = op_test::normal(rng, std::size_t(T) * C, offset, scale);
    auto w = op_test::normal(rng, std::size_t(C), 1.0f, 0.1f);
    auto b = op_test::normal(rng, std::size_t(C), 0.0f, 0.1f);
    std::vector<float> y(x.size() + 8, -7.0f);
    lectern::layer_norm(x.data(), T, C, w.data(), b.data(), 1e-5f, y.data());
    for (std::size_t i = x.size(); i < y.size(); ++i) QCOMPARE(y[i], -7.0f);
    y.resize(x.size());
    QVERIFY(op_test::all_finite(y));
    const double err = op_test::max_scaled_error(y, reference(x, T, C, w, b, 1e-5));
    QVERIFY2(err < 2e-6, qPrintable(QString::number(err)));
}

void TestLayerNorm::inPlace() {
    std::mt19937 rng(3u);
    const int T = 4, C = 64;
    auto x = op_test::normal(rng, std::size_t(T) * C);
    auto w = op_test::normal(rng, std::size_t(C), 1.0f, 0.1f);
    auto b = op_test::normal(rng, std::size_t(C), 0.0f, 0.1f);
    std::vector<float> y(x.size());
    lectern::layer_norm(x.data(), T, C, w.data(), b.data(), 1e-5f, y.data());
    lectern::layer_norm(x.data(), T, C, w.data(), b.data(), 1e-5f, x.data());
    QCOMPARE(x, y);
}

QTEST_GUILESS_MAIN(TestLayerNorm)
#include "tst_layer_norm.moc"
