// lectern::cuda::matmul (kernels/matmul.cu) against the CPU matmul (engine/src/cpu/matmul.h) on
// fresh random inputs: f32/f16/bf16 weights, T = 1 (GEMV path) and T = 2, 7, 129 (cuBLAS path),
// model-like shapes plus an odd one (unaligned rows: scalar GEMV path), sentinels around y.
// Tolerances, per output, in units of scale = sum_k |x_k * w_k| (computed exactly like y, by the
// CPU matmul on |x| and |W|):
// - T == 1, and f32 weights at any T: |gpu - cpu| <= 3e-5 * scale (both fp32 accumulations, each
//   within 1e-5 * scale of exact per tst_matmul, plus slack for cuBLAS split/tensor-core order).
// - f16/bf16 weights at T > 1: x is rounded to the weight dtype first. Tight check against the CPU
//   matmul of the same rounded x: 2e-4 * scale (fp32 accumulation only; tensor cores may truncate
//   partial sums). Loose check against the unrounded CPU result: (u + 2e-4) * scale with
//   u = 2^-8 (bf16) or 2^-11 (f16), the worst case of round-to-nearest on x (the typical error is
//   ~ sqrt(K) smaller). The same product of an input already rounded by its producer
//   (MatmulInput) must give the same bits.
// - matmul_accumulate (T > 1): y0 + the product, within twice the product's tolerance of y0 + the
//   plain product plus 2^-22 of the sum (the add's roundings); T == 1 is refused.
#include <QTest>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include "cpu/matmul.h"
#include "gpu_test_util.h"
#include "lectern/dtype.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/cuda_device.h"
#include "lectern/cuda/matmul.h"
#endif

using lectern::DType;

#ifdef LECTERN_HAVE_CUDA
namespace {

// Weights stored in `dtype` from float values; `absolute` clears the sign bits (for the scale).
std::vector<unsigned char> store(const std::vector<float>& values, DType dtype, bool absolute) {
    const std::size_t n = values.size();
    std::vector<unsigned char> out(n * lectern::dtype_size(dtype));
    for (std::size_t i = 0; i < n; ++i) {
        const float v = absolute ? std::fabs(values[i]) : values[i];
        if (dtype == DType::f32) {
            std::memcpy(&out[4 * i], &v, 4);
        } else {
            std::uint16_t h =
                dtype == DType::f16 ? lectern::f32_to_f16(v) : lectern::f32_to_bf16(v);
            if (absolute) h &= 0x7fffu;  // |stored value|, exactly
            std::memcpy(&out[2 * i], &h, 2);
        }
    }
    return out;
}

// x rounded to nearest in dtype and widened back: what the GPU's cuBLAS path multiplies.
std::vector<float> rounded(const std::vector<float>& x, DType dtype) {
    std::vector<float> out(x.size());
    for (std::size_t i = 0; i < x.size(); ++i)
        out[i] = dtype == DType::f16 ? lectern::f16_to_f32(lectern::f32_to_f16(x[i]))
                                     : lectern::bf16_to_f32(lectern::f32_to_bf16(x[i]));
    return out;
}

std::vector<float> cpu_matmul(const std::vector<float>& x, int T, const lectern::Matrix& w) {
    std::vector<float> y(std::size_t(T) * std::size_t(w.rows));
    lectern::matmul(x.data(), T, w, y.data(), nullptr);
    return y;
}

// Values divided by their per-output scale, so LECTERN_COMPARE_CLOSE's atol is in scale units.
std::vector<float> normalised(const std::vector<float>& v, const std::vector<float>& scale) {
    std::vector<float> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i)
        out[i] = scale[i] > 0 ? float(double(v[i]) / scale[i]) : v[i];
    return out;
}

// The `guard` floats before and after the outputs in `all` still hold the 0xA5 fill.
bool guards_intact(const std::vector<float>& all, std::size_t guard) {
    for (std::size_t i = 0; i < guard; ++i) {
        std::uint32_t head, tail;
        std::memcpy(&head, &all[i], 4);
        std::memcpy(&tail, &all[all.size() - guard + i], 4);
        if (head != 0xA5A5A5A5u || tail != 0xA5A5A5A5u) return false;
    }
    return true;
}

}  // namespace
#endif

class TestMatmulCuda : public QObject {
    Q_OBJECT

  private Q_SLOTS:
    void initTestCase();
    void matchesCpu_data();
    void matchesCpu();

  private:
#ifdef LECTERN_HAVE_CUDA
    std::optional<lectern::cuda::MatmulContext> m_context;
#endif
};

void TestMatmulCuda::initTestCase() {
    LECTERN_REQUIRE_GPU();
#ifdef LECTERN_HAVE_CUDA
    auto context = lectern::cuda::MatmulContext::create();
    QVERIFY2(context, context ? "" : context.error().message.c_str());
    m_context.emplace(std::move(*context));
#endif
}

void TestMatmulCuda::matchesCpu_data() {
    QTest::addColumn<int>("dtype");
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("cols");
    QTest::addColumn<int>("tokens");
    const int shapes[][2] = {{64, 64}, {768, 3072}, {3072, 768}, {2560, 2560}, {67, 45}};
    for (DType d : {DType::f32, DType::f16, DType::bf16})
        for (const auto& s : shapes)
            for (int T : {1, 2, 7, 129})
                QTest::addRow("%s %dx%d T=%d", lectern::dtype_name(d).data(), s[0], s[1], T)
                    << int(d) << s[0] << s[1] << T;
}

void TestMatmulCuda::matchesCpu() {
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, dtype);
    QFETCH(int, rows);
    QFETCH(int, cols);
    QFETCH(int, tokens);
    const auto type = DType(dtype);
    const std::uint32_t seed = gpu_test::fresh_seed();

    const auto w_values = gpu_test::uniform(std::size_t(rows) * cols, -1.0f, 1.0f, seed);
    const auto x = gpu_test::uniform(std::size_t(tokens) * cols, -2.0f, 2.0f, seed + 1);
    const auto w_bytes = store(w_values, type, false);
    const auto w_abs_bytes = store(w_values, type, true);
    const lectern::Matrix w{type, rows, cols, w_bytes.data()};
    const lectern::Matrix w_abs{type, rows, cols, w_abs_bytes.data()};
    std::vector<float> x_abs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) x_abs[i] = std::fabs(x[i]);

    const auto want = cpu_matmul(x, tokens, w);
    const auto scale = cpu_matmul(x_abs, tokens, w_abs);

    constexpr std::size_t guard = 64;  // floats of sentinel on each side of y
    const std::size_t n_out = std::size_t(tokens) * rows;
    auto dw = lectern::cuda::DeviceBuffer::allocate(w_bytes.size());
    auto dx = lectern::cuda::DeviceBuffer::allocate(x.size() * sizeof(float));
    auto dy = lectern::cuda::DeviceBuffer::allocate((n_out + 2 * guard) * sizeof(float));
    QVERIFY(dw && dx && dy);
    QVERIFY(dw->upload(w_bytes.data(), w_bytes.size()));
    QVERIFY(dx->upload(x.data(), x.size() * sizeof(float)));
    QVERIFY(dy->fill(0xA5));
    const lectern::cuda::DeviceMatrix dm{type, rows, cols, dw->data()};
    auto* y_dev = static_cast<float*>(dy->data()) + guard;
    auto done = lectern::cuda::matmul(*m_context, static_cast<const float*>(dx->data()), tokens, dm,
                                      y_dev, nullptr);
    QVERIFY2(done, done ? "" : done.error().message.c_str());

    std::vector<float> all(n_out + 2 * guard);
    QVERIFY(dy->download(all.data(), all.size() * sizeof(float)));  // synchronous: waits for y
    QVERIFY(guards_intact(all, guard));
    const std::vector<float> got(all.begin() + guard, all.begin() + guard + n_out);
    const auto got_n = normalised(got, scale);

    // The residual form (matmul_accumulate, T > 1): y0 + the product, in cuBLAS's epilogue. Against
    // y0 + the product above: both products within their tolerance of the CPU's, plus the add's
    // rounding (one against two).
    if (tokens == 1) {
        QVERIFY(!lectern::cuda::matmul_accumulate(
            *m_context, lectern::cuda::MatmulInput{dx->data(), DType::f32}, 1, dm, y_dev,
            nullptr));
    } else {
        const auto y0 = gpu_test::uniform(n_out, -4.0f, 4.0f, seed + 2);
        QVERIFY(dy->fill(0xA5));
        QVERIFY(dy->upload(y0.data(), n_out * sizeof(float), guard * sizeof(float)));
        done = lectern::cuda::matmul_accumulate(
            *m_context, lectern::cuda::MatmulInput{dx->data(), DType::f32}, tokens, dm, y_dev,
            nullptr);
        QVERIFY2(done, done ? "" : done.error().message.c_str());
        std::vector<float> sum(n_out + 2 * guard);
        QVERIFY(dy->download(sum.data(), sum.size() * sizeof(float)));
        QVERIFY(guards_intact(sum, guard));
        const double product_tol = type == DType::f32 ? 3e-5 : 2e-4;
        for (std::size_t i = 0; i < n_out; ++i) {
            const double want_sum = double(y0[i]) + double(got[i]);
            const double tol = 2 * product_tol * scale[i] + std::ldexp(std::fabs(want_sum), -22);
            if (!(std::fabs(double(sum[guard + i]) - want_sum) <= tol))
                QFAIL(qPrintable(QStringLiteral("accumulate [%1]: %2, want %3 (tol %4)")
                                     .arg(i)
                                     .arg(double(sum[guard + i]))
                                     .arg(want_sum)
                                     .arg(tol)));
        }
    }

    if (tokens == 1 || type == DType::f32) {
        const auto want_n = normalised(want, scale);
        LECTERN_COMPARE_CLOSE(got_n.data(), want_n.data(), n_out, 3e-5, 0.0);
    } else {
        const auto want_rounded = cpu_matmul(rounded(x, type), tokens, w);
        const auto tight_n = normalised(want_rounded, scale);
        LECTERN_COMPARE_CLOSE(got_n.data(), tight_n.data(), n_out, 2e-4, 0.0);
        const double u = type == DType::bf16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -11);
        const auto want_n = normalised(want, scale);
        LECTERN_COMPARE_CLOSE(got_n.data(), want_n.data(), n_out, u + 2e-4, 0.0);

        // x already rounded by the op that wrote it (MatmulInput): the same bits as rounding here.
        const auto x16 = store(x, type, false);
        auto dx16 = lectern::cuda::DeviceBuffer::allocate(x16.size());
        auto dy16 = lectern::cuda::DeviceBuffer::allocate(n_out * sizeof(float));
        QVERIFY(dx16 && dy16);
        QVERIFY(dx16->upload(x16.data(), x16.size()));
        done = lectern::cuda::matmul(*m_context, lectern::cuda::MatmulInput{dx16->data(), type},
                                     tokens, dm, static_cast<float*>(dy16->data()), nullptr);
        QVERIFY2(done, done ? "" : done.error().message.c_str());
        std::vector<float> got16(n_out);
        QVERIFY(dy16->download(got16.data(), n_out * sizeof(float)));
        QCOMPARE(std::memcmp(got16.data(), got.data(), n_out * sizeof(float)), 0);
        // An input in the other 16-bit dtype, or a 16-bit one for the GEMV, is refused.
        const DType other = type == DType::bf16 ? DType::f16 : DType::bf16;
        QVERIFY(!lectern::cuda::matmul(*m_context, lectern::cuda::MatmulInput{dx16->data(), other},
                                       tokens, dm, static_cast<float*>(dy16->data()), nullptr));
        QVERIFY(!lectern::cuda::matmul(*m_context, lectern::cuda::MatmulInput{dx16->data(), type},
                                       1, dm, static_cast<float*>(dy16->data()), nullptr));
    }
#endif
}

QTEST_GUILESS_MAIN(TestMatmulCuda)
#include "tst_matmul_cuda.moc"
