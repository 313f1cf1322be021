// Host-side helpers of tst_decode_kernels_emu: arrays with sentinel margins (device pointers are
// host pointers under the emulator, so a kernel writes straight into them), 16-byte aligned byte
// buffers with an optional offset (the gemv kernel's vector and scalar paths), and tst_wkv7_cuda's
// WKV-7 inputs. (Stored weights: gemv_test::store in tests/kernels/gemv_reference.h.)
#pragma once

#include <QString>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "gpu_test_util.h"
#include "lectern/dtype.h"
#include "wkv7_inputs.h"

namespace emu_test {

// floats of sentinel bytes on each side of an array: writes out of bounds change them.
constexpr std::size_t kGuard = 64;
constexpr unsigned char kSentinel = 0xA5;

// A float array inside sentinel margins, starting 16-byte aligned (the kernels' float4 reads).
class Guarded {
  public:
    explicit Guarded(const std::vector<float>& values)
        : n_(values.size()), buffer_(new float[values.size() + 2 * kGuard + 4]) {
        std::memset(base(), kSentinel, (n_ + 2 * kGuard) * sizeof(float));
        if (n_) std::memcpy(data(), values.data(), n_ * sizeof(float));
    }
    float* data() { return base() + kGuard; }
    std::vector<float> values() const {
        return std::vector<float>(base() + kGuard, base() + kGuard + n_);
    }
    bool intact() const {
        const auto* bytes = reinterpret_cast<const unsigned char*>(base());
        const std::size_t margin = kGuard * sizeof(float);
        const std::size_t end = (n_ + kGuard) * sizeof(float);
        for (std::size_t i = 0; i < margin; ++i)
            if (bytes[i] != kSentinel || bytes[end + i] != kSentinel) return false;
        return true;
    }

  private:
    // new float[] is only 4-byte aligned in general: round up to 16 inside the allocation.
    float* base() const {
        const auto p = reinterpret_cast<std::uintptr_t>(buffer_.get());
        return reinterpret_cast<float*>((p + 15) & ~std::uintptr_t(15));
    }
    std::size_t n_;
    std::unique_ptr<float[]> buffer_;
};

// Bytes at a chosen offset past a 16-byte boundary (the kernels' alignment tests).
class Placed {
  public:
    Placed(const void* bytes, std::size_t n, std::size_t offset) : storage_(n + offset + 32) {
        const auto p = reinterpret_cast<std::uintptr_t>(storage_.data());
        at_ = storage_.data() + ((16 - p % 16) % 16) + offset;
        if (n) std::memcpy(at_, bytes, n);
    }
    const void* data() const { return at_; }

  private:
    std::vector<unsigned char> storage_;
    unsigned char* at_;
};

// tst_wkv7_cuda's inputs (tests/kernels/wkv7_inputs.h).
using Wkv7Inputs = ::wkv7_inputs::Inputs;
inline Wkv7Inputs wkv7_inputs(int T, int H, int N, std::uint32_t seed) {
    return ::wkv7_inputs::make_inputs(T, H, N, seed);
}

using ::wkv7_inputs::max_abs;

}  // namespace emu_test

// Fails unless the guarded array's sentinels are intact.
#define EMU_VERIFY_INTACT(array, name) \
    QVERIFY2((array).intact(), qPrintable(QStringLiteral("%1: sentinels overwritten").arg(name)))
// Fails on an error value, with its message.
#define EMU_VERIFY_OK(expr)                                 \
    do {                                                    \
        const auto r_ = (expr);                             \
        QVERIFY2(r_, r_ ? "" : r_.error().message.c_str()); \
    } while (false)
