// lectern::matmul (engine/src/cpu/matmul*.cpp) against matmul_reference: every weight dtype,
// token counts on both sides of the dot/prefill switch and of a token block, odd shapes, each
// instruction-set path forced in turn (skipped when the CPU lacks it), serial and with pools of
// 1, 2 and 3 threads. Sentinel values around the output must stay untouched.
// Tolerance: |y - ref| <= 1e-5 * sum_k |x_k * w_k| (float32 accumulation in another order).
#include <QTest>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "cpu/matmul.h"
#include "cpu/thread_pool.h"

using lectern::DType;
using lectern::MatmulIsa;

namespace {

constexpr std::size_t sentinel_count = 16;
constexpr std::uint32_t sentinel_bits = 0x7fc0deadu;  // a NaN no kernel would produce

// A random problem and its reference answer, shared by every ISA / pool combination.
struct Problem {
    int rows = 0, cols = 0, tokens = 0;
    DType dtype = DType::f32;
    std::vector<std::byte> weights;
    std::vector<float> x;
    std::vector<float> ref;
    std::vector<float> scale;  // sum_k |x_k * w_k| per output
};

float stored_value(const Problem& p, std::size_t i) {
    if (p.dtype == DType::f32) {
        float f;
        std::memcpy(&f, p.weights.data() + 4 * i, 4);
        return f;
    }
    std::uint16_t h;
    std::memcpy(&h, p.weights.data() + 2 * i, 2);
    return p.dtype == DType::f16 ? lectern::f16_to_f32(h) : lectern::bf16_to_f32(h);
}

const Problem& problem(DType dtype, int rows, int cols, int tokens) {
    static std::map<std::tuple<int, int, int, int>, std::unique_ptr<Problem>> cache;
    auto& slot = cache[{int(dtype), rows, cols, tokens}];
    if (slot) return *slot;
    slot = std::make_unique<Problem>();
    Problem& p = *slot;
    p.rows = rows;
    p.cols = cols;
    p.tokens = tokens;
    p.dtype = dtype;
    std::mt19937 rng(std::uint32_t(rows * 131 + cols * 7 + tokens + int(dtype) * 100003));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const std::size_t n = std::size_t(rows) * std::size_t(cols);
    p.weights.resize(n * lectern::dtype_size(dtype));
    for (std::size_t i = 0; i < n; ++i) {
        const float v = normal(rng) * 0.1f;
        if (dtype == DType::f32) {
            std::memcpy(p.weights.data() + 4 * i, &v, 4);
        } else {
            const std::uint16_t h =
                dtype == DType::f16 ? lectern::f32_to_f16(v) : lectern::f32_to_bf16(v);
            std::memcpy(p.weights.data() + 2 * i, &h, 2);
        }
    }
    p.x.resize(std::size_t(tokens) * std::size_t(cols));
    for (float& v : p.x) v = normal(rng);
    p.ref.resize(std::size_t(tokens) * std::size_t(rows));
    const lectern::Matrix w{dtype, rows, cols, p.weights.data()};
    lectern::matmul_reference(p.x.data(), tokens, w, p.ref.data());
    p.scale.resize(p.ref.size());
    for (int t = 0; t < tokens; ++t)
        for (int r = 0; r < rows; ++r) {
            double s = 0;
            for (int c = 0; c < cols; ++c)
                s += std::fabs(double(p.x[std::size_t(t) * cols + c]) *
                               stored_value(p, std::size_t(r) * cols + c));
            p.scale[std::size_t(t) * rows + r] = float(s);
        }
    return p;
}

// Runs matmul into a buffer with sentinels on both sides; returns the first failure, if any.
QString run_and_check(const Problem& p, lectern::ThreadPool* pool, std::vector<float>& out) {
    const std::size_t n = p.ref.size();
    std::vector<float> buf(n + 2 * sentinel_count);
    for (float& v : buf) std::memcpy(&v, &sentinel_bits, 4);
    const lectern::Matrix w{p.dtype, p.rows, p.cols, p.weights.data()};
    lectern::matmul(p.x.data(), p.tokens, w, buf.data() + sentinel_count, pool);
    for (std::size_t i = 0; i < buf.size(); ++i) {
        if (i >= sentinel_count && i < sentinel_count + n) continue;
        std::uint32_t bits;
        std::memcpy(&bits, &buf[i], 4);
        if (bits != sentinel_bits) return QStringLiteral("sentinel %1 overwritten").arg(i);
    }
    out.assign(buf.begin() + sentinel_count, buf.begin() + sentinel_count + std::ptrdiff_t(n));
    for (std::size_t i = 0; i < n; ++i) {
        const float err = std::fabs(out[i] - p.ref[i]);
        if (!std::isfinite(out[i]) || !(err <= 1e-5f * p.scale[i] + 1e-30f))
            return QStringLiteral("y[t=%1][r=%2] = %3, reference %4 (scale %5)")
                .arg(i / std::size_t(p.rows)).arg(i % std::size_t(p.rows))
                .arg(double(out[i]), 0, 'g', 9).arg(double(p.ref[i]), 0, 'g', 9)
                .arg(double(p.scale[i]));
    }
    return {};
}

}  // namespace

class TestMatmul : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void cleanupTestCase();
    void isaSelection();
    void matchesReference_data();
    void matchesReference();
    void emptyShapes();
};

void TestMatmul::cleanupTestCase() { lectern::matmul_force_isa(lectern::matmul_best_isa()); }

void TestMatmul::isaSelection()
{
    QVERIFY(lectern::matmul_isa_supported(MatmulIsa::scalar));
    QVERIFY(lectern::matmul_isa_supported(lectern::matmul_best_isa()));
    for (MatmulIsa isa : {MatmulIsa::scalar, MatmulIsa::avx2, MatmulIsa::avx512}) {
        const bool ok = lectern::matmul_force_isa(isa);
        QCOMPARE(ok, lectern::matmul_isa_supported(isa));
        if (ok) QCOMPARE(lectern::matmul_isa(), isa);
    }
    QCOMPARE(QByteArray(lectern::matmul_isa_name(MatmulIsa::avx512)), QByteArray("avx512"));
}

void TestMatmul::matchesReference_data()
{
    QTest::addColumn<int>("isa");
    QTest::addColumn<int>("dtype");
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("cols");
    QTest::addColumn<int>("tokens");
    const std::vector<std::pair<int, int>> shapes = {{1, 1}, {17, 33}, {130, 259}, {768, 768}};
    for (MatmulIsa isa : {MatmulIsa::scalar, MatmulIsa::avx2, MatmulIsa::avx512})
        for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
            const auto add = [&](int rows, int cols, int tokens) {
                QTest::addRow("%s %s %dx%d T=%d", lectern::matmul_isa_name(isa),
                              std::string(lectern::dtype_name(dtype)).c_str(), rows, cols, tokens)
                    << int(isa) << int(dtype) << rows << cols << tokens;
            };
            for (const auto& [rows, cols] : shapes)
                for (int tokens : {1, 2, 3, 4, 5, 7, 16, 65}) add(rows, cols, tokens);
            // More than one token block, and few rows (token blocks in parallel).
            add(17, 33, 300);
            add(130, 259, 300);
        }
}

void TestMatmul::matchesReference()
{
    QFETCH(int, isa);
    QFETCH(int, dtype);
    QFETCH(int, rows);
    QFETCH(int, cols);
    QFETCH(int, tokens);
    if (!lectern::matmul_force_isa(MatmulIsa(isa)))
        QSKIP("this CPU lacks the instruction set");
    const Problem& p = problem(DType(dtype), rows, cols, tokens);

    std::vector<float> serial, pooled;
    const QString serial_error = run_and_check(p, nullptr, serial);
    QVERIFY2(serial_error.isEmpty(), qPrintable(QStringLiteral("no pool: ") + serial_error));
    for (int threads : {1, 2, 3}) {
        lectern::ThreadPool pool(threads);
        const QString error = run_and_check(p, &pool, pooled);
        QVERIFY2(error.isEmpty(), qPrintable(QStringLiteral("%1 threads: ").arg(threads) + error));
        // The summation order does not depend on how the rows are split between threads.
        QVERIFY2(std::memcmp(serial.data(), pooled.data(), serial.size() * 4) == 0,
                 qPrintable(QStringLiteral("%1 threads: result differs from serial").arg(threads)));
    }
}

void TestMatmul::emptyShapes()
{
    std::vector<float> x(8, 1.0f), y(8, 5.0f);
    const float w = 2.0f;
    lectern::ThreadPool pool(2);
    // No columns: every output is an empty sum.
    lectern::matmul(x.data(), 3, lectern::Matrix{DType::f32, 2, 0, &w}, y.data(), &pool);
    for (int i = 0; i < 6; ++i) QCOMPARE(y[std::size_t(i)], 0.0f);
    QCOMPARE(y[6], 5.0f);
    // No rows or no tokens: nothing is written.
    lectern::matmul(x.data(), 3, lectern::Matrix{DType::f32, 0, 4, &w}, y.data() + 6, &pool);
    lectern::matmul(x.data(), 0, lectern::Matrix{DType::f32, 1, 1, &w}, y.data() + 6, &pool);
    QCOMPARE(y[6], 5.0f);
}

QTEST_GUILESS_MAIN(TestMatmul)
#include "tst_matmul.moc"
