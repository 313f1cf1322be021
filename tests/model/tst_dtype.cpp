// Tests for lectern/dtype.h: float16 / bfloat16 conversions, including subnormals, infinities,
// NaN, round-to-nearest-even ties and exhaustive round trips.
#include <QTest>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "lectern/dtype.h"

using namespace lectern;

namespace {

float bits_to_float(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

}  // namespace

class TestDType : public QObject {
    Q_OBJECT
  private Q_SLOTS:
    void names() {
        QCOMPARE(dtype_name(DType::f32), std::string_view("f32"));
        QCOMPARE(dtype_name(DType::f16), std::string_view("f16"));
        QCOMPARE(dtype_name(DType::bf16), std::string_view("bf16"));
        QCOMPARE(dtype_size(DType::f32), std::size_t(4));
        QCOMPARE(dtype_size(DType::bf16), std::size_t(2));
    }

    void f16_to_f32_data() {
        QTest::addColumn<uint>("half");
        QTest::addColumn<float>("expected");
        QTest::newRow("zero") << 0x0000u << 0.0f;
        QTest::newRow("one") << 0x3c00u << 1.0f;
        QTest::newRow("minus two") << 0xc000u << -2.0f;
        QTest::newRow("max") << 0x7bffu << 65504.0f;
        QTest::newRow("smallest normal") << 0x0400u << std::ldexp(1.0f, -14);
        QTest::newRow("smallest subnormal") << 0x0001u << std::ldexp(1.0f, -24);
        QTest::newRow("largest subnormal") << 0x03ffu << std::ldexp(1023.0f, -24);
        QTest::newRow("negative subnormal") << 0x8200u << -std::ldexp(1.0f, -15);
        QTest::newRow("inf") << 0x7c00u << std::numeric_limits<float>::infinity();
        QTest::newRow("-inf") << 0xfc00u << -std::numeric_limits<float>::infinity();
        QTest::newRow("third") << 0x3555u << 0.333251953125f;
    }
    void f16_to_f32() {
        QFETCH(uint, half);
        QFETCH(float, expected);
        QCOMPARE(lectern::f16_to_f32(std::uint16_t(half)), expected);
    }

    void f16_special() {
        QVERIFY(std::signbit(lectern::f16_to_f32(0x8000)));
        QCOMPARE(lectern::f16_to_f32(0x8000), 0.0f);
        QVERIFY(std::isnan(lectern::f16_to_f32(0x7e00)));
        QVERIFY(std::isnan(lectern::f16_to_f32(0x7c01)));  // signalling payload stays NaN
        QVERIFY(std::isnan(lectern::f16_to_f32(0xfe00)));
    }

    void f32_to_f16_data() {
        QTest::addColumn<float>("value");
        QTest::addColumn<uint>("expected");
        QTest::newRow("one") << 1.0f << 0x3c00u;
        QTest::newRow("-0") << -0.0f << 0x8000u;
        QTest::newRow("max") << 65504.0f << 0x7bffu;
        QTest::newRow("below overflow tie") << 65519.996f << 0x7bffu;
        QTest::newRow("overflow tie to inf") << 65520.0f << 0x7c00u;
        QTest::newRow("huge") << 1e30f << 0x7c00u;
        QTest::newRow("-inf") << -std::numeric_limits<float>::infinity() << 0xfc00u;
        QTest::newRow("tie to even (down)") << 1.0f + std::ldexp(1.0f, -11) << 0x3c00u;
        QTest::newRow("tie to even (up)") << 1.0f + 3 * std::ldexp(1.0f, -11) << 0x3c02u;
        QTest::newRow("above tie")
            << 1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20) << 0x3c01u;
        QTest::newRow("smallest subnormal") << std::ldexp(1.0f, -24) << 0x0001u;
        QTest::newRow("half of smallest: tie to 0") << std::ldexp(1.0f, -25) << 0x0000u;
        QTest::newRow("above half of smallest") << std::ldexp(1.5f, -25) << 0x0001u;
        QTest::newRow("subnormal tie to even") << std::ldexp(3.0f, -25) << 0x0002u;
        QTest::newRow("rounds up to normal")
            << std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26) << 0x0400u;
        QTest::newRow("tiny") << 1e-10f << 0x0000u;
        QTest::newRow("negative subnormal") << -std::ldexp(5.0f, -24) << 0x8005u;
    }
    void f32_to_f16() {
        QFETCH(float, value);
        QFETCH(uint, expected);
        QCOMPARE(uint(lectern::f32_to_f16(value)), expected);
    }

    void f32_to_bf16_data() {
        QTest::addColumn<float>("value");
        QTest::addColumn<uint>("expected");
        QTest::newRow("one") << 1.0f << 0x3f80u;
        QTest::newRow("tie to even (down)") << 1.0f + std::ldexp(1.0f, -8) << 0x3f80u;
        QTest::newRow("tie to even (up)") << 1.0f + 3 * std::ldexp(1.0f, -8) << 0x3f82u;
        QTest::newRow("max float overflows") << std::numeric_limits<float>::max() << 0x7f80u;
        QTest::newRow("inf") << std::numeric_limits<float>::infinity() << 0x7f80u;
        QTest::newRow("subnormal") << bits_to_float(0x00018000u) << 0x0002u;
        QTest::newRow("-2") << -2.0f << 0xc000u;
    }
    void f32_to_bf16() {
        QFETCH(float, value);
        QFETCH(uint, expected);
        QCOMPARE(uint(lectern::f32_to_bf16(value)), expected);
    }

    void nan_stays_nan() {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        QVERIFY(std::isnan(lectern::f16_to_f32(lectern::f32_to_f16(nan))));
        QVERIFY(std::isnan(bf16_to_f32(lectern::f32_to_bf16(nan))));
        // A NaN whose payload lives only in the low bits must not collapse to infinity.
        const float low_payload = bits_to_float(0x7f800001u);
        QVERIFY(std::isnan(lectern::f16_to_f32(lectern::f32_to_f16(low_payload))));
        QVERIFY(std::isnan(bf16_to_f32(lectern::f32_to_bf16(low_payload))));
    }

    // Every half / bfloat16 value survives widening and narrowing again.
    void exhaustive_round_trip() {
        for (std::uint32_t h = 0; h < 0x10000u; ++h) {
            const float f = lectern::f16_to_f32(std::uint16_t(h));
            if (std::isnan(f)) {
                QVERIFY(std::isnan(lectern::f16_to_f32(lectern::f32_to_f16(f))));
            } else if (lectern::f32_to_f16(f) != h) {
                QFAIL(qPrintable(QStringLiteral("f16 0x%1 does not round-trip").arg(h, 4, 16)));
            }
            const float b = bf16_to_f32(std::uint16_t(h));
            if (!std::isnan(b) && lectern::f32_to_bf16(b) != h)
                QFAIL(qPrintable(QStringLiteral("bf16 0x%1 does not round-trip").arg(h, 4, 16)));
        }
    }

    // For random finite floats in the half range, the result is the nearest half.
    void nearest_property() {
        std::mt19937 rng(42);
        std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
        std::uniform_int_distribution<int> ex(-26, 16);
        for (int i = 0; i < 200000; ++i) {
            const float x = std::ldexp(mant(rng), ex(rng));
            const std::uint16_t h = lectern::f32_to_f16(x);
            const double got = std::fabs(double(lectern::f16_to_f32(h)) - x);
            if (std::isinf(lectern::f16_to_f32(h))) continue;
            for (int step : {-1, 1}) {
                const std::uint16_t n = std::uint16_t(h + step);
                const float nf = lectern::f16_to_f32(n);
                if (std::isnan(nf) || std::isinf(nf) || ((n ^ h) & 0x8000u)) continue;
                if (std::fabs(double(nf) - x) < got)
                    QFAIL(qPrintable(QStringLiteral("%1 rounded to 0x%2, not nearest")
                                         .arg(double(x), 0, 'g', 9)
                                         .arg(h, 4, 16)));
            }
        }
    }

    // The batch conversion (F16C where the CPU has it) against the scalar one: a stride through
    // all 2^32 bit patterns that visits every exponent, sign and NaN class, each boundary of
    // f32_to_f16's cases with its neighbours, and lengths that leave every tail size.
    void f32_to_f16_batch() {
        std::vector<std::uint32_t> bits;
        for (std::uint64_t u = 0; u <= 0xffffffffull; u += 8191) bits.push_back(std::uint32_t(u));
        for (const std::uint32_t edge : {0x7f800000u, 0x477ff000u, 0x38800000u, 0x33000000u,
                                         0x7fc00000u, 0x7f800001u, 0x00000001u, 0x387fe000u})
            for (std::uint32_t d = 0; d < 64; ++d)
                for (const std::uint32_t sign : {0u, 0x80000000u})
                    bits.insert(bits.end(), {(edge + d) | sign, (edge - d) | sign});
        for (std::uint32_t m = 0; m < (1u << 14); ++m)  // every tie and half-tie of one exponent
            bits.push_back(0x3f800000u | (m << 9) | 0xfffu);
        std::vector<float> src(bits.size());
        std::memcpy(src.data(), bits.data(), bits.size() * 4);
        for (const std::size_t n : {src.size(), std::size_t(1), std::size_t(7), std::size_t(9),
                                    std::size_t(15), std::size_t(16), std::size_t(17)}) {
            std::vector<std::uint16_t> got(n + 1, 0xabcd);
            f32_to_f16_n(src.data(), got.data(), n);
            QCOMPARE(got[n], std::uint16_t(0xabcd));  // nothing past n
            for (std::size_t i = 0; i < n; ++i)
                if (got[i] != lectern::f32_to_f16(src[i]))
                    QFAIL(qPrintable(QStringLiteral("bits 0x%1: batch 0x%2, scalar 0x%3")
                                         .arg(bits[i], 8, 16)
                                         .arg(got[i], 4, 16)
                                         .arg(lectern::f32_to_f16(src[i]), 4, 16)));
        }
    }

    void convert_unaligned() {
        alignas(8) unsigned char buf[1 + 3 * 4];
        const float src[3] = {1.5f, -2.25f, 1e-3f};
        std::memcpy(buf + 1, src, sizeof src);
        float out[3];
        convert_to_f32(DType::f32, buf + 1, out, 3);
        QCOMPARE(out[2], 1e-3f);
        const std::uint16_t halves[3] = {0x3c00, 0xc000, 0x0001};
        std::memcpy(buf + 1, halves, sizeof halves);
        convert_to_f32(DType::f16, buf + 1, out, 3);
        QCOMPARE(out[0], 1.0f);
        QCOMPARE(out[1], -2.0f);
        QCOMPARE(out[2], std::ldexp(1.0f, -24));
        const std::uint16_t bf[2] = {0x3f80, 0xc040};
        std::memcpy(buf + 1, bf, sizeof bf);
        convert_to_f32(DType::bf16, buf + 1, out, 2);
        QCOMPARE(out[0], 1.0f);
        QCOMPARE(out[1], -3.0f);
    }
};

QTEST_GUILESS_MAIN(TestDType)
#include "tst_dtype.moc"
