// lectern::cuda::convert_to_f32 (kernels/convert_dtype.cu) against its CPU twin on fresh random
// inputs, including infinities, NaNs and subnormals, with sentinel bytes around the output.
// Tolerance: exact (widening is exact in both implementations).
#include <QTest>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "lectern/dtype.h"
#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/convert_dtype.h"
#include "lectern/cuda/cuda_device.h"
#include "gpu_test_util.h"
#endif

class TestConvertDtype : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void matchesCpu_data();
    void matchesCpu();
};

void TestConvertDtype::initTestCase()
{
#ifndef LECTERN_HAVE_CUDA
    QSKIP("built without CUDA (LECTERN_CUDA=OFF)");
#else
    auto info = lectern::cuda::device_info();
    if (!info)
        QSKIP(qPrintable(QStringLiteral("no usable GPU: ") +
                         QString::fromStdString(info.error().message)));
#endif
}

void TestConvertDtype::matchesCpu_data()
{
    QTest::addColumn<int>("dtype");
    QTest::addColumn<int>("count");
    for (int n : {1, 255, 256, 257, 100003}) {
        QTest::addRow("f16 n=%d", n) << int(lectern::DType::f16) << n;
        QTest::addRow("bf16 n=%d", n) << int(lectern::DType::bf16) << n;
        QTest::addRow("f32 n=%d", n) << int(lectern::DType::f32) << n;
    }
}

void TestConvertDtype::matchesCpu()
{
#ifdef LECTERN_HAVE_CUDA
    QFETCH(int, dtype);
    QFETCH(int, count);
    const auto type = lectern::DType(dtype);
    const std::size_t n = std::size_t(count);
    const std::size_t elem = lectern::dtype_size(type);

    // Random bit patterns cover every class of value: normals, subnormals, infinities and NaNs.
    std::mt19937 rng(gpu_test::fresh_seed());
    std::vector<unsigned char> input(n * elem);
    for (auto& b : input)
        b = static_cast<unsigned char>(rng());

    std::vector<float> expected(n);
    lectern::convert_to_f32(type, input.data(), expected.data(), n);

    constexpr std::size_t guard = 64;  // floats of sentinel on each side
    auto src = lectern::cuda::DeviceBuffer::allocate(input.size());
    auto dst = lectern::cuda::DeviceBuffer::allocate((n + 2 * guard) * sizeof(float));
    QVERIFY(src && dst);
    QVERIFY(src->upload(input.data(), input.size()));
    QVERIFY(dst->fill(0xA5));
    auto* out = static_cast<float*>(dst->data()) + guard;
    auto launched = lectern::cuda::convert_to_f32(type, src->data(), out, n);
    QVERIFY2(launched, launched ? "" : launched.error().message.c_str());

    std::vector<float> got(n + 2 * guard);
    QVERIFY(dst->download(got.data(), got.size() * sizeof(float)));
    for (std::size_t i = 0; i < guard; ++i) {
        std::uint32_t head, tail;
        std::memcpy(&head, &got[i], 4);
        std::memcpy(&tail, &got[guard + n + i], 4);
        QCOMPARE(head, 0xA5A5A5A5u);
        QCOMPARE(tail, 0xA5A5A5A5u);
    }
    for (std::size_t i = 0; i < n; ++i) {
        const float a = got[guard + i], b = expected[i];
        if (std::isnan(b)) {
            QVERIFY2(std::isnan(a), qPrintable(QStringLiteral("element %1").arg(i)));
            continue;
        }
        if (a != b)
            QFAIL(qPrintable(QStringLiteral("element %1: gpu %2 cpu %3").arg(i).arg(a).arg(b)));
    }
#endif
}

QTEST_GUILESS_MAIN(TestConvertDtype)
#include "tst_convert_dtype.moc"
