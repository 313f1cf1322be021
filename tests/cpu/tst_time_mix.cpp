// The elementwise parts of the RWKV-7 time and channel mix against float64 loops from spec
// §2.2 and §2.5: token_shift_mix, lora_forward (tanh / sigmoid / none between the products),
// time_mix_prepare (decay, iclr, κ̂, k̃, value residual, α, β) and relu_square.
#include <QTest>

#include <cmath>
#include <random>
#include <vector>

#include "cpu/channel_mix.h"
#include "cpu/lora.h"
#include "cpu/time_mix.h"
#include "cpu/token_shift.h"
#include "forward_op_test_util.h"

namespace {
double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }
}  // namespace

class TestTimeMix : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void tokenShift();
    void lora_data();
    void lora();
    void prepare_data();
    void prepare();
    void reluSquare();
};

void TestTimeMix::tokenShift() {
    std::mt19937 rng(1u);
    const int T = 5, C = 24;
    auto u = op_test::normal(rng, T * C);
    auto prev = op_test::normal(rng, C);
    auto mix = op_test::uniform(rng, C, 0.0f, 1.0f);
    std::vector<float> out(T * C);
    lectern::token_shift_mix(u.data(), prev.data(), T, C, mix.data(), out.data());
    std::vector<double> ref(T * C);
    for (int t = 0; t < T; ++t)
        for (int c = 0; c < C; ++c) {
            const double p = t == 0 ? prev[c] : u[(t - 1) * C + c];
            ref[t * C + c] = u[t * C + c] + (p - u[t * C + c]) * mix[c];
        }
    QVERIFY(op_test::max_scaled_error(out, ref) < 1e-6);
}

void TestTimeMix::lora_data() {
    QTest::addColumn<int>("inner");
    QTest::newRow("none") << int(lectern::LoraInner::none);
    QTest::newRow("tanh") << int(lectern::LoraInner::tanh);
    QTest::newRow("sigmoid") << int(lectern::LoraInner::sigmoid);
}

void TestTimeMix::lora() {
    QFETCH(int, inner);
    std::mt19937 rng(2u);
    const int T = 3, C = 32, D = 8;
    auto x = op_test::normal(rng, T * C);
    auto down = op_test::normal(rng, D * C, 0.0f, 0.5f);  // [D][C]
    auto up = op_test::normal(rng, C * D, 0.0f, 0.5f);    // [C][D]
    std::vector<float> hidden(T * D), y(T * C);
    const lectern::Matrix md{lectern::DType::f32, D, C, down.data()};
    const lectern::Matrix mu{lectern::DType::f32, C, D, up.data()};
    lectern::lora_forward(x.data(), T, md, mu, lectern::LoraInner(inner), hidden.data(), y.data(),
                          nullptr);
    std::vector<double> ref(T * C);
    for (int t = 0; t < T; ++t) {
        std::vector<double> h(D);
        for (int d = 0; d < D; ++d) {
            double acc = 0.0;
            for (int c = 0; c < C; ++c) acc += double(x[t * C + c]) * down[d * C + c];
            h[d] = inner == int(lectern::LoraInner::tanh)      ? std::tanh(acc)
                   : inner == int(lectern::LoraInner::sigmoid) ? sigmoid(acc)
                                                               : acc;
        }
        for (int c = 0; c < C; ++c) {
            double acc = 0.0;
            for (int d = 0; d < D; ++d) acc += h[d] * up[c * D + d];
            ref[t * C + c] = acc;
        }
    }
    QVERIFY(op_test::max_scaled_error(y, ref) < 2e-6);
}

void TestTimeMix::prepare_data() {
    QTest::addColumn<bool>("first");
    QTest::newRow("block 0 sets v_first") << true;
    QTest::newRow("later block mixes v_first") << false;
}

void TestTimeMix::prepare() {
    QFETCH(bool, first);
    std::mt19937 rng(first ? 5u : 6u);
    const int T = 4, H = 2, N = 64, C = H * N;
    auto w_in = op_test::normal(rng, T * C), a_in = op_test::normal(rng, T * C);
    auto k_in = op_test::normal(rng, T * C), v_in = op_test::normal(rng, T * C);
    auto vg = op_test::normal(rng, T * C), vf_in = op_test::normal(rng, T * C);
    auto w0 = op_test::uniform(rng, C, -6.0f, -1.0f), a0 = op_test::normal(rng, C, 0.0f, 0.1f);
    auto v0 = op_test::normal(rng, C, 1.0f, 0.1f), k_k = op_test::normal(rng, C, 0.85f, 0.1f);
    auto k_a = op_test::normal(rng, C, 1.0f, 0.1f);
    auto w = w_in, a = a_in, k = k_in, v = v_in, vf = vf_in;
    std::vector<float> alpha(T * C), beta(T * C);
    const lectern::TimeMixVectors p{w0.data(), a0.data(), v0.data(), k_k.data(), k_a.data()};
    lectern::time_mix_prepare(T, H, N, p, first, w.data(), a.data(), k.data(), v.data(),
                              vg.data(), vf.data(), alpha.data(), beta.data());

    std::vector<double> rw(T * C), ra(T * C), rk(T * C), rv(T * C), rvf(T * C), ral(T * C),
        rbe(T * C);
    for (int t = 0; t < T; ++t) {
        for (int c = 0; c < C; ++c) {
            const int i = t * C + c;
            rw[i] = std::exp(-0.606531 * sigmoid(double(w0[c]) + w_in[i]));
            ra[i] = sigmoid(double(a0[c]) + a_in[i]);
            rk[i] = k_in[i] * (1.0 + (ra[i] - 1.0) * k_a[c]);
            rvf[i] = first ? v_in[i] : vf_in[i];
            rv[i] = first ? v_in[i]
                          : v_in[i] + (vf_in[i] - double(v_in[i])) * sigmoid(double(v0[c]) + vg[i]);
        }
        for (int h = 0; h < H; ++h) {
            double sq = 0.0;
            for (int j = 0; j < N; ++j) {
                const int i = t * C + h * N + j;
                sq += double(k_in[i]) * k_k[h * N + j] * k_in[i] * k_k[h * N + j];
            }
            const double norm = std::max(std::sqrt(sq), 1e-12);
            for (int j = 0; j < N; ++j) {
                const int i = t * C + h * N + j;
                const double kk = double(k_in[i]) * k_k[h * N + j] / norm;
                ral[i] = -kk;
                rbe[i] = kk * ra[i];
            }
        }
    }
    QVERIFY(op_test::max_scaled_error(w, rw) < 1e-6);
    QVERIFY(op_test::max_scaled_error(a, ra) < 1e-6);
    QVERIFY(op_test::max_scaled_error(k, rk) < 1e-6);
    QVERIFY(op_test::max_scaled_error(v, rv) < 1e-6);
    QVERIFY(op_test::max_scaled_error(vf, rvf) < 1e-6);
    QVERIFY(op_test::max_scaled_error(alpha, ral) < 1e-6);
    QVERIFY(op_test::max_scaled_error(beta, rbe) < 1e-6);
}

void TestTimeMix::reluSquare() {
    std::vector<float> x{-2.0f, -0.0f, 0.0f, 0.5f, 3.0f};
    lectern::relu_square(x.data(), x.size());
    QCOMPARE(x, (std::vector<float>{0.0f, 0.0f, 0.0f, 0.25f, 9.0f}));
}

QTEST_GUILESS_MAIN(TestTimeMix)
#include "tst_time_mix.moc"
