// Shared by the fused elementwise kernel tests (tst_*_cuda.cpp): float arrays on the device with
// sentinel bytes on both sides, a seed per test function, and a check that turns a
// lectern::Result into a test failure.
#pragma once

#include <QTest>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "lectern/dtype.h"

// Fails the test with the error message unless the Result holds a value.
#define LECTERN_VERIFY_OK(expr)                                                                \
    do {                                                                                       \
        const auto r_ = (expr);                                                                \
        QVERIFY2(bool(r_), bool(r_) ? "" : r_.error().message.c_str());                        \
    } while (false)

namespace gpu_test {

#ifdef LECTERN_HAVE_CUDA
constexpr std::size_t kGuardFloats = 64;  // sentinel floats on each side of every array
constexpr unsigned char kSentinel = 0xA5;

// n floats at data() inside a device buffer of n + 2 * kGuardFloats floats whose margins hold
// the sentinel byte; a kernel that writes outside its array changes the margins.
struct GuardedArray {
    lectern::cuda::DeviceBuffer buffer;
    std::size_t n = 0;
    float* data() const { return static_cast<float*>(buffer.data()) + kGuardFloats; }
};

// Allocates the guarded array and uploads host into it; "" or the error.
inline std::string make_guarded(const std::vector<float>& host, GuardedArray& out)
{
    out.n = host.size();
    auto buffer = lectern::cuda::DeviceBuffer::allocate((out.n + 2 * kGuardFloats) * sizeof(float));
    if (!buffer)
        return buffer.error().message;
    out.buffer = std::move(*buffer);
    if (auto r = out.buffer.fill(kSentinel); !r)
        return r.error().message;
    if (out.n == 0)
        return {};
    if (auto r = out.buffer.upload(host.data(), out.n * sizeof(float),
                                   kGuardFloats * sizeof(float));
        !r)
        return r.error().message;
    return {};
}

// Downloads the array into host and checks both margins still hold the sentinel; "" or the error.
// The download also reports any earlier asynchronous kernel failure.
inline std::string read_guarded(const GuardedArray& a, std::vector<float>& host)
{
    std::vector<unsigned char> all((a.n + 2 * kGuardFloats) * sizeof(float));
    if (auto r = a.buffer.download(all.data(), all.size()); !r)
        return r.error().message;
    const std::size_t margin = kGuardFloats * sizeof(float);
    for (std::size_t i = 0; i < margin; ++i) {
        if (all[i] != kSentinel)
            return "sentinel byte " + std::to_string(margin - i) + " before the array changed";
        if (all[all.size() - margin + i] != kSentinel)
            return "sentinel byte " + std::to_string(i) + " after the array changed";
    }
    host.resize(a.n);
    if (a.n != 0)
        std::memcpy(host.data(), all.data() + margin, a.n * sizeof(float));
    return {};
}
#endif

// Rounded outputs (the ops that write a product's input in the weights' 16-bit dtype): element
// i of a 16-bit array held in the bytes of `v`, and the bits `x` rounds to in `dtype` (nearest
// even, the engine's own conversion). An f32 "rounding" is the float's bits.
inline std::uint32_t stored_bits(const std::vector<float>& v, std::size_t i, lectern::DType dtype)
{
    if (dtype == lectern::DType::f32) {
        std::uint32_t b = 0;
        std::memcpy(&b, &v[i], 4);
        return b;
    }
    std::uint16_t h = 0;
    std::memcpy(&h, reinterpret_cast<const unsigned char*>(v.data()) + 2 * i, 2);
    return h;
}
inline std::uint32_t rounded_bits(float x, lectern::DType dtype)
{
    switch (dtype) {
    case lectern::DType::bf16: return lectern::f32_to_bf16(x);
    case lectern::DType::f16: return lectern::f32_to_f16(x);
    case lectern::DType::f32: break;
    }
    std::uint32_t b = 0;
    std::memcpy(&b, &x, 4);
    return b;
}
// Floats of an n-element array of `dtype` (the rest of a float array of n is left as it was).
inline std::size_t floats_written(std::size_t n, lectern::DType dtype)
{
    return dtype == lectern::DType::f32 ? n : (2 * n + 3) / 4;
}

// The first float of GPU rows `got` that differs in its bits from the CPU's `want` (rows `stride`
// floats apart), as "WHAT row R column C: GPU x, CPU y"; empty when every bit is the same.
inline QString first_bit_difference(const std::vector<float>& got, const std::vector<float>& want,
                                    std::size_t stride, const char* what)
{
    if (got.size() != want.size())
        return QStringLiteral("%1: sizes differ").arg(QLatin1String(what));
    for (std::size_t i = 0; i < got.size(); ++i)
        if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0)
            return QStringLiteral("%1 row %2 column %3: GPU %4, CPU %5")
                .arg(QLatin1String(what))
                .arg(i / stride)
                .arg(i % stride)
                .arg(double(got[i]), 0, 'g', 9)
                .arg(double(want[i]), 0, 'g', 9);
    return {};
}

}  // namespace gpu_test

// Uploads host vector `host` into a new GuardedArray named `name`, failing the test on error.
#define LECTERN_GUARDED(name, host)                                                            \
    gpu_test::GuardedArray name;                                                               \
    do {                                                                                       \
        const std::string e_ = gpu_test::make_guarded((host), name);                           \
        QVERIFY2(e_.empty(), e_.c_str());                                                      \
    } while (false)

// Downloads GuardedArray `array` into host vector `host` and checks its sentinels.
#define LECTERN_READ_GUARDED(array, host)                                                      \
    do {                                                                                       \
        const std::string e_ = gpu_test::read_guarded((array), (host));                        \
        QVERIFY2(e_.empty(), qPrintable(QStringLiteral(#array ": ") + QString::fromStdString(e_))); \
    } while (false)
