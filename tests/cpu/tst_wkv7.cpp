// wkv7_forward / wkv7_step (engine/src/cpu/wkv7.h) against a float64 loop written from spec §2.3:
// S_t = S_{t-1}·diag(w) + (S_{t-1}·α)·βᵀ + v·k̃ᵀ, y = S_t·r, per head, state [head][value][key].
#include <QTest>

#include <cstddef>
#include <random>
#include <vector>

#include "cpu/thread_pool.h"
#include "cpu/wkv7.h"
#include "forward_op_test_util.h"

namespace {

struct Inputs {
    int T, H, N;
    std::vector<float> r, w, k, v, a, b, state;
};

// Realistic ranges: decay in (e^-0.6065, 1), α = −κ̂ and β = κ̂ ⊙ iclr with κ̂ of unit norm.
Inputs make_inputs(int T, int H, int N, unsigned seed) {
    std::mt19937 rng(seed);
    Inputs in{T, H, N, {}, {}, {}, {}, {}, {}, {}};
    const std::size_t n = std::size_t(T) * H * N;
    in.r = op_test::normal(rng, n);
    in.w = op_test::uniform(rng, n, 0.546f, 0.999f);
    in.k = op_test::normal(rng, n, 0.0f, 0.5f);
    in.v = op_test::normal(rng, n);
    auto kk = op_test::normal(rng, n);
    auto iclr = op_test::uniform(rng, n, 0.0f, 1.0f);
    in.a.resize(n);
    in.b.resize(n);
    for (std::size_t s = 0; s < n; s += std::size_t(N)) {
        double sq = 0.0;
        for (int j = 0; j < N; ++j) sq += double(kk[s + j]) * kk[s + j];
        const float norm = float(std::sqrt(sq));
        for (int j = 0; j < N; ++j) {
            in.a[s + j] = -kk[s + j] / norm;
            in.b[s + j] = kk[s + j] / norm * iclr[s + j];
        }
    }
    in.state = op_test::normal(rng, std::size_t(H) * N * N, 0.0f, 0.3f);
    return in;
}

// The float64 oracle, a direct transcription of the matrix form.
void reference(const Inputs& in, std::vector<double>& state, std::vector<double>& y) {
    const int N = in.N;
    const std::size_t C = std::size_t(in.H) * N;
    state.assign(in.state.begin(), in.state.end());
    y.assign(std::size_t(in.T) * C, 0.0);
    std::vector<double> sa(static_cast<std::size_t>(N));
    for (int t = 0; t < in.T; ++t) {
        for (int h = 0; h < in.H; ++h) {
            double* S = state.data() + std::size_t(h) * N * N;
            const std::size_t o = std::size_t(t) * C + std::size_t(h) * N;
            for (int i = 0; i < N; ++i) {
                sa[i] = 0.0;
                for (int j = 0; j < N; ++j) sa[i] += S[i * N + j] * in.a[o + j];
            }
            for (int i = 0; i < N; ++i)
                for (int j = 0; j < N; ++j)
                    S[i * N + j] = S[i * N + j] * in.w[o + j] + sa[i] * in.b[o + j] +
                                   double(in.v[o + i]) * in.k[o + j];
            for (int i = 0; i < N; ++i) {
                double acc = 0.0;
                for (int j = 0; j < N; ++j) acc += S[i * N + j] * in.r[o + j];
                y[o + i] = acc;
            }
        }
    }
}

}  // namespace

class TestWkv7 : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void sequenceMatchesReference_data();
    void sequenceMatchesReference();
    void stepEqualsSequence();
};

void TestWkv7::sequenceMatchesReference_data() {
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("H");
    QTest::addColumn<int>("N");
    QTest::addColumn<int>("threads");
    QTest::newRow("one token, one head") << 1 << 1 << 64 << 1;
    QTest::newRow("prefill 3 heads") << 37 << 3 << 64 << 1;
    QTest::newRow("prefill 5 heads, pool") << 50 << 5 << 64 << 3;
    QTest::newRow("odd head size") << 9 << 2 << 13 << 2;
}

void TestWkv7::sequenceMatchesReference() {
    QFETCH(int, T);
    QFETCH(int, H);
    QFETCH(int, N);
    QFETCH(int, threads);
    Inputs in = make_inputs(T, H, N, 1234u + unsigned(T * 7 + H));
    std::vector<double> ref_state, ref_y;
    reference(in, ref_state, ref_y);

    lectern::ThreadPool pool(threads);
    std::vector<float> state = in.state;
    // Sentinels after the output catch writes past [T][C].
    std::vector<float> y(std::size_t(T) * H * N + 16, 12345.0f);
    lectern::wkv7_forward(T, H, N, in.r.data(), in.w.data(), in.k.data(), in.v.data(),
                          in.a.data(), in.b.data(), state.data(), y.data(), &pool);
    for (std::size_t i = y.size() - 16; i < y.size(); ++i) QCOMPARE(y[i], 12345.0f);
    y.resize(y.size() - 16);
    QVERIFY(op_test::all_finite(y));
    QVERIFY(op_test::all_finite(state));
    const double ey = op_test::max_scaled_error(y, ref_y);
    const double es = op_test::max_scaled_error(state, ref_state);
    qInfo("T=%d H=%d N=%d: output error %.3g, state error %.3g", T, H, N, ey, es);
    QVERIFY2(ey < 2e-6, qPrintable(QString::number(ey)));
    QVERIFY2(es < 2e-6, qPrintable(QString::number(es)));
}

// The decode step is the same arithmetic: token by token must equal one sequence call exactly.
void TestWkv7::stepEqualsSequence() {
    const int T = 12, H = 9, N = 64;
    Inputs in = make_inputs(T, H, N, 99u);
    lectern::ThreadPool pool(2);
    std::vector<float> s_seq = in.state, s_step = in.state;
    const std::size_t C = std::size_t(H) * N;
    std::vector<float> y_seq(T * C), y_step(T * C);
    lectern::wkv7_forward(T, H, N, in.r.data(), in.w.data(), in.k.data(), in.v.data(),
                          in.a.data(), in.b.data(), s_seq.data(), y_seq.data(), &pool);
    for (int t = 0; t < T; ++t) {
        const std::size_t o = std::size_t(t) * C;
        lectern::wkv7_step(H, N, in.r.data() + o, in.w.data() + o, in.k.data() + o,
                           in.v.data() + o, in.a.data() + o, in.b.data() + o, s_step.data(),
                           y_step.data() + o, t % 2 ? &pool : nullptr);
    }
    QCOMPARE(y_step, y_seq);
    QCOMPARE(s_step, s_seq);
}

QTEST_GUILESS_MAIN(TestWkv7)
#include "tst_wkv7.moc"
