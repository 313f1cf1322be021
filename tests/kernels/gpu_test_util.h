// Shared by the GPU-vs-CPU kernel tests: the visible skip without CUDA or a device, seeded random
// inputs, and comparison with a tolerance that reports the worst element.
#pragma once

#include <QString>
#include <QTest>

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#ifdef LECTERN_HAVE_CUDA
#include "lectern/cuda/cuda_device.h"
#endif

// QSKIP unless a CUDA device is usable; call first in initTestCase().
#ifdef LECTERN_HAVE_CUDA
#define LECTERN_REQUIRE_GPU()                                                                  \
    do {                                                                                       \
        auto info_ = lectern::cuda::device_info();                                             \
        if (!info_)                                                                            \
            QSKIP(qPrintable(QStringLiteral("no usable GPU: ") +                               \
                             QString::fromStdString(info_.error().message)));                  \
    } while (false)
#else
#define LECTERN_REQUIRE_GPU() QSKIP("built without CUDA (LECTERN_CUDA=OFF)")
#endif

namespace gpu_test {

// A fresh seed, printed so that a failure can be rerun with the same inputs: LECTERN_TEST_SEED
// (decimal) replaces the random one.
inline std::uint32_t fresh_seed()
{
    const QByteArray fixed = qgetenv("LECTERN_TEST_SEED");
    const std::uint32_t seed = fixed.isEmpty() ? std::random_device{}() : fixed.toUInt();
    qInfo("seed %u (rerun with LECTERN_TEST_SEED=%u)", seed, seed);
    return seed;
}

// Fresh random values in [lo, hi) from a seed (tests print the seed so a failure can be rerun).
inline std::vector<float> uniform(std::size_t n, float lo, float hi, std::uint32_t seed)
{
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v)
        x = d(rng);
    return v;
}

// Worst |a - b| / (atol + rtol * |b|) over the arrays; <= 1 passes. NaN anywhere fails.
struct Compare {
    double worst = 0;
    std::size_t index = 0;
    bool nan = false;
};

inline Compare compare(const float* got, const float* want, std::size_t n, double atol, double rtol)
{
    Compare c;
    for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(got[i]) || std::isnan(want[i])) {
            c.nan = true;
            c.index = i;
            return c;
        }
        const double e = std::fabs(double(got[i]) - double(want[i])) /
                         (atol + rtol * std::fabs(double(want[i])));
        if (e > c.worst) {
            c.worst = e;
            c.index = i;
        }
    }
    return c;
}

}  // namespace gpu_test

// Fails with the worst element when got and want differ by more than the tolerance.
#define LECTERN_COMPARE_CLOSE(got, want, n, atol, rtol)                                        \
    do {                                                                                       \
        const auto c_ = gpu_test::compare((got), (want), (n), (atol), (rtol));                 \
        QVERIFY2(!c_.nan, qPrintable(QStringLiteral("NaN at %1").arg(c_.index)));              \
        QVERIFY2(c_.worst <= 1.0,                                                              \
                 qPrintable(QStringLiteral("element %1: got %2, want %3 (error %4 x tolerance)") \
                                .arg(c_.index)                                                 \
                                .arg(double((got)[c_.index]), 0, 'g', 9)                       \
                                .arg(double((want)[c_.index]), 0, 'g', 9)                      \
                                .arg(c_.worst, 0, 'g', 3)));                                   \
    } while (false)
