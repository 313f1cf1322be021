// lectern::cuda::lora_inner and relu_square (kernels/activations.cu) against the CPU lora_inner
// and relu_square on fresh random inputs, with sentinel bytes around the in-place array.
// Tolerance: ReLU² exact (one comparison and one product, rounded alike; NaN → 0, ±inf kept as
// the CPU does). tanh and σ: |Δ| <= 1e-6 + 1e-5·|cpu|: CUDA's tanhf and expf are within 2 ulp
// and glibc's within 1, so results differ by a few ulp (~3e-7 relative, values in (-1, 1)).
// "none" must leave the array bit-identical. relu_square_to (into another array, float32 or
// rounded to a 16-bit dtype for a product's input): exactly the CPU's ReLU² rounded to nearest
// even, nothing written past its bytes, the input untouched. lora_inner_n (a time-mix block's
// four LoRA hiddens in one launch, rounded for their up products): each part bit for bit what
// lora_inner gives it, then rounded; nothing else written.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/channel_mix.h"
#include "cpu/lora.h"
#include "elementwise_test_util.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/activations.h"
#endif

class TestActivationsCuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void matchesCpu_data();
    void matchesCpu();
    void reluSquareTo_data();
    void reluSquareTo();
    void loraInnerN_data();
    void loraInnerN();
};

namespace {
constexpr double kAtol = 1e-6;
constexpr double kRtol = 1e-5;
enum Op { op_none, op_tanh, op_sigmoid, op_relu_square };
}  // namespace

void TestActivationsCuda::initTestCase() { LECTERN_REQUIRE_GPU(); }

void TestActivationsCuda::matchesCpu_data()
{
    QTest::addColumn<int>("op");
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("D");  // columns: a LoRA rank or the FFN width
    const char* names[] = {"none", "tanh", "sigmoid", "relu_square"};
    for (int op : {op_none, op_tanh, op_sigmoid, op_relu_square})
        for (int T : {1, 3, 257})
            for (int D : {64, 768, 2560})
                QTest::addRow("%s T=%d D=%d", names[op], T, D) << op << T << D;
    // Not a whole number of float4s: ReLU² element by element.
    QTest::addRow("relu_square T=3 D=33") << int(op_relu_square) << 3 << 33;
    // More elements than the capped grid covers in one sweep (65535 blocks of 256 threads).
    QTest::addRow("relu_square grid-stride") << int(op_relu_square) << 7 << 2400000;
    QTest::addRow("sigmoid grid-stride") << int(op_sigmoid) << 7 << 2400000;
}

void TestActivationsCuda::matchesCpu()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, op);
    QFETCH(int, T);
    QFETCH(int, D);
    const std::uint32_t seed = gpu_test::fresh_seed();
    const std::size_t n = std::size_t(T) * D;

    // Past both saturation points of tanh and σ (and expf overflow at -x > 88 for σ).
    auto x = gpu_test::uniform(n, -10.0f, 10.0f, seed);
    if (n > 8) {
        x[1] = 100.0f;
        x[2] = -100.0f;
        x[3] = 0.0f;
        x[4] = -0.0f;
    }
    if (op == op_relu_square && n > 8) {
        x[5] = std::numeric_limits<float>::quiet_NaN();
        x[6] = std::numeric_limits<float>::infinity();
        x[7] = -std::numeric_limits<float>::infinity();
    }

    auto want = x;
    switch (op) {
    case op_none: lectern::lora_inner(lectern::LoraInner::none, want.data(), n); break;
    case op_tanh: lectern::lora_inner(lectern::LoraInner::tanh, want.data(), n); break;
    case op_sigmoid: lectern::lora_inner(lectern::LoraInner::sigmoid, want.data(), n); break;
    default: lectern::relu_square(want.data(), n); break;
    }

    LECTERN_GUARDED(d_x, x);
    switch (op) {
    case op_none:
        LECTERN_VERIFY_OK(lectern::cuda::lora_inner(lectern::cuda::LoraInner::none, d_x.data(), n));
        break;
    case op_tanh:
        LECTERN_VERIFY_OK(lectern::cuda::lora_inner(lectern::cuda::LoraInner::tanh, d_x.data(), n));
        break;
    case op_sigmoid:
        LECTERN_VERIFY_OK(
            lectern::cuda::lora_inner(lectern::cuda::LoraInner::sigmoid, d_x.data(), n));
        break;
    default: LECTERN_VERIFY_OK(lectern::cuda::relu_square(d_x.data(), n)); break;
    }

    std::vector<float> got;
    LECTERN_READ_GUARDED(d_x, got);
    if (op == op_tanh || op == op_sigmoid) {
        LECTERN_COMPARE_CLOSE(got.data(), want.data(), n, kAtol, kRtol);
        return;
    }
    // Exact: compare bit patterns' values; no NaN may remain (ReLU² maps NaN to 0).
    for (std::size_t i = 0; i < n; ++i) {
        QVERIFY2(!std::isnan(got[i]), qPrintable(QStringLiteral("NaN at %1").arg(i)));
        if (got[i] != want[i])
            QFAIL(qPrintable(QStringLiteral("element %1 (input %2): got %3, want %4")
                                 .arg(i)
                                 .arg(double(x[i]), 0, 'g', 9)
                                 .arg(double(got[i]), 0, 'g', 9)
                                 .arg(double(want[i]), 0, 'g', 9)));
    }
#endif
}

void TestActivationsCuda::reluSquareTo_data()
{
    QTest::addColumn<int>("dtype_index");
    QTest::addColumn<int>("n");
    const lectern::DType dtypes[] = {lectern::DType::f32, lectern::DType::bf16,
                                     lectern::DType::f16};
    for (const lectern::DType d : dtypes)
        // 4, 40960, 2400000: four elements per thread; 1, 7, 40962, 2400001: one.
        for (int n : {1, 4, 7, 40960, 40962, 2400000, 2400001})
            QTest::addRow("%s n=%d", lectern::dtype_name(d).data(), n) << int(d) << n;
}

void TestActivationsCuda::reluSquareTo()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, dtype_index);
    QFETCH(int, n);
    const auto dtype = lectern::DType(dtype_index);
    const std::uint32_t seed = gpu_test::fresh_seed();
    // Up to 20²: beyond f16's rounding steps; NaN and infinities where there is room.
    auto x = gpu_test::uniform(std::size_t(n), -20.0f, 20.0f, seed);
    if (n > 8) {
        x[1] = std::numeric_limits<float>::quiet_NaN();
        x[2] = std::numeric_limits<float>::infinity();
        x[3] = -std::numeric_limits<float>::infinity();
        x[4] = 300.0f;  // 90000: past f16's largest finite value, rounds to inf
    }
    auto want = x;
    lectern::relu_square(want.data(), std::size_t(n));
    const std::vector<float> garbage = gpu_test::uniform(std::size_t(n), -9.0f, 9.0f, seed + 1);
    LECTERN_GUARDED(d_x, x);
    LECTERN_GUARDED(d_out, garbage);
    LECTERN_VERIFY_OK(
        lectern::cuda::relu_square_to(d_x.data(), std::size_t(n), dtype, d_out.data()));
    std::vector<float> got, back;
    LECTERN_READ_GUARDED(d_out, got);
    for (std::size_t i = 0; i < std::size_t(n); ++i)
        if (gpu_test::stored_bits(got, i, dtype) != gpu_test::rounded_bits(want[i], dtype))
            QFAIL(qPrintable(QStringLiteral("element %1 (input %2): 0x%3, want 0x%4")
                                 .arg(i)
                                 .arg(double(x[i]), 0, 'g', 9)
                                 .arg(gpu_test::stored_bits(got, i, dtype), 0, 16)
                                 .arg(gpu_test::rounded_bits(want[i], dtype), 0, 16)));
    for (std::size_t j = gpu_test::floats_written(std::size_t(n), dtype); j < std::size_t(n); ++j)
        QCOMPARE(got[j], garbage[j]);
    LECTERN_READ_GUARDED(d_x, back);
    QCOMPARE(std::memcmp(back.data(), x.data(), x.size() * sizeof(float)), 0);
#endif
}

void TestActivationsCuda::loraInnerN_data()
{
    QTest::addColumn<int>("T");
    QTest::addColumn<int>("count");
    QTest::addColumn<QString>("dtypes");  // one letter per part: f (f32, in place), b, h (f16)
    for (int T : {1, 3, 257}) {
        QTest::addRow("T=%d bf16", T) << T << 4 << QStringLiteral("bbbb");
        QTest::addRow("T=%d f16, three parts", T) << T << 3 << QStringLiteral("hhhh");
        QTest::addRow("T=%d mixed", T) << T << 4 << QStringLiteral("fbhf");
    }
    QTest::addRow("float32 only") << 5 << 4 << QStringLiteral("ffff");
}

// The four LoRA parts of a time-mix block (ranks 64, 96, 128, 32: tanh, none, sigmoid, none)
// laid out as the model lays them out ([T][rank] each, one after another), in one launch: each
// part bit for bit what lora_inner gives it on the GPU, then rounded (tanh and σ against the CPU
// are matchesCpu's). 16-bit parts go to a second array at the same element offsets, whose other
// bytes stay as they were; their float32 rows stay untouched.
void TestActivationsCuda::loraInnerN()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, T);
    QFETCH(int, count);
    QFETCH(QString, dtypes);
    using lectern::cuda::LoraInner;
    const int ranks[] = {64, 96, 128, 32};
    const LoraInner inners[] = {LoraInner::tanh, LoraInner::none, LoraInner::sigmoid,
                                LoraInner::none};
    const std::uint32_t seed = gpu_test::fresh_seed();
    std::size_t total = 0, offset[4] = {};
    for (int p = 0; p < 4; ++p) {
        offset[p] = total;
        total += std::size_t(T) * ranks[p];
    }
    const auto x = gpu_test::uniform(total, -10.0f, 10.0f, seed);
    const auto garbage = gpu_test::uniform(total, -9.0f, 9.0f, seed + 1);
    LECTERN_GUARDED(d_x, x);
    LECTERN_GUARDED(d_rounded, garbage);

    // The expected float32 of each part: lora_inner on its own copy.
    std::vector<float> want(x);
    for (int p = 0; p < count; ++p) {
        const std::size_t n = std::size_t(T) * ranks[p];
        const std::vector<float> part(x.begin() + offset[p], x.begin() + offset[p] + n);
        LECTERN_GUARDED(d_part, part);
        LECTERN_VERIFY_OK(lectern::cuda::lora_inner(inners[p], d_part.data(), n));
        std::vector<float> done;
        LECTERN_READ_GUARDED(d_part, done);
        std::copy(done.begin(), done.end(), want.begin() + offset[p]);
    }

    lectern::cuda::LoraHidden parts[4];
    lectern::DType dtype[4] = {};
    for (int p = 0; p < 4; ++p) {
        const QChar d = dtypes.at(p);
        dtype[p] = d == u'b' ? lectern::DType::bf16
                   : d == u'h' ? lectern::DType::f16
                               : lectern::DType::f32;
        parts[p].hidden = d_x.data() + offset[p];
        parts[p].n = std::size_t(T) * ranks[p];
        parts[p].inner = inners[p];
        parts[p].out_dtype = dtype[p];
        parts[p].out = dtype[p] == lectern::DType::f32
                           ? static_cast<void*>(parts[p].hidden)
                           : static_cast<void*>(reinterpret_cast<std::uint16_t*>(d_rounded.data()) +
                                                offset[p]);
    }
    LECTERN_VERIFY_OK(lectern::cuda::lora_inner_n(parts, count, nullptr));

    std::vector<float> got_x, got_rounded;
    LECTERN_READ_GUARDED(d_x, got_x);
    LECTERN_READ_GUARDED(d_rounded, got_rounded);
    // What each array must hold now, byte for byte.
    std::vector<float> want_x(x), want_rounded(garbage);
    for (int p = 0; p < count; ++p) {
        const std::size_t n = std::size_t(T) * ranks[p];
        for (std::size_t i = offset[p]; i < offset[p] + n; ++i) {
            if (dtype[p] == lectern::DType::f32) {
                want_x[i] = want[i];
            } else {
                const auto bits = std::uint16_t(gpu_test::rounded_bits(want[i], dtype[p]));
                std::memcpy(reinterpret_cast<unsigned char*>(want_rounded.data()) + 2 * i, &bits,
                            2);
            }
        }
    }
    QCOMPARE(std::memcmp(got_x.data(), want_x.data(), total * sizeof(float)), 0);
    for (std::size_t i = 0; i < total; ++i)
        if (std::memcmp(&got_rounded[i], &want_rounded[i], sizeof(float)) != 0)
            QFAIL(qPrintable(QStringLiteral("rounded array, float %1 (part elements %2, %3)")
                                 .arg(i)
                                 .arg(2 * i)
                                 .arg(2 * i + 1)));

    // Refused: a float32 part that is not in place, and no parts.
    parts[0].out_dtype = lectern::DType::f32;
    parts[0].out = d_rounded.data();
    QVERIFY(!lectern::cuda::lora_inner_n(parts, count, nullptr));
    QVERIFY(!lectern::cuda::lora_inner_n(parts, 0, nullptr));
#endif
}

QTEST_GUILESS_MAIN(TestActivationsCuda)
#include "tst_activations_cuda.moc"
