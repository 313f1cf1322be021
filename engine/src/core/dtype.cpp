// Element types of model tensors and the scalar conversions between float32, float16 and
// bfloat16. The half-precision paths are exact bit manipulations so that results do not depend
// on the compiler or on hardware F16C support; f32_to_f16_n uses F16C where it gives the same
// bits (tst_dtype checks it against f32_to_f16).
#include "lectern/dtype.h"

#include <cstring>

#include "core/cpu_features.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define LECTERN_DTYPE_F16C 1
#endif

namespace lectern {

std::string_view dtype_name(DType t) {
    switch (t) {
        case DType::f32:
            return "f32";
        case DType::f16:
            return "f16";
        case DType::bf16:
            return "bf16";
    }
    return "?";
}

namespace {

std::uint32_t float_bits(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

float bits_float(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

}  // namespace

float f16_to_f32(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) {  // inf / NaN: keep the payload so NaNs stay NaN
        return bits_float(sign | 0x7f800000u | (mant << 13));
    }
    if (exp != 0) {
        return bits_float(sign | ((exp + 127 - 15) << 23) | (mant << 13));
    }
    if (mant == 0) return bits_float(sign);  // signed zero
    // Subnormal half: value = mant * 2^-24. Normalise it into a float32 exponent.
    int e = -14;
    while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --e;
    }
    mant &= 0x3ffu;
    return bits_float(sign | std::uint32_t(e + 127) << 23 | (mant << 13));
}

std::uint16_t f32_to_bf16(float f) {
    const std::uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        // NaN: truncate but force a quiet bit so the payload cannot round to infinity.
        return std::uint16_t((u >> 16) | 0x40u);
    }
    const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return std::uint16_t((u + rounding) >> 16);
}

std::uint16_t f32_to_f16(float f) {
    const std::uint32_t u = float_bits(f);
    const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
    const std::uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return std::uint16_t(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));  // NaN
    if (abs >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
    if (abs >= 0x38800000u) {
        // Normal half. Re-bias the exponent and round the 13 dropped bits to nearest even; a carry
        // out of the mantissa correctly bumps the exponent.
        const std::uint32_t rebased = abs - ((127u - 15u) << 23);
        const std::uint32_t rounding = 0xfffu + ((rebased >> 13) & 1u);
        return std::uint16_t(sign | ((rebased + rounding) >> 13));
    }
    if (abs < 0x33000000u) return sign;  // below half the smallest subnormal: signed zero
    // Subnormal half: shift the full 24-bit significand right and round to nearest even.
    const std::uint32_t exp = abs >> 23;
    const std::uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - exp;  // 14..24 bits are dropped
    const std::uint32_t kept = mant >> shift;
    const std::uint32_t rest = mant & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1);
    const std::uint32_t rounded = kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
    return std::uint16_t(sign | rounded);
}

#ifdef LECTERN_DTYPE_F16C
namespace {
// vcvtps2ph rounds to nearest even (immediate 0, not MXCSR), overflows to infinity, rounds into
// subnormals and keeps a NaN's sign and top payload bits with the quiet bit set: f32_to_f16's
// results for every input.
[[gnu::target("f16c")]] void f32_to_f16_f16c(const float* src, std::uint16_t* dst, std::size_t n) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
    }
    for (; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}
}  // namespace
#endif

void f32_to_f16_n(const float* src, std::uint16_t* dst, std::size_t n) {
#ifdef LECTERN_DTYPE_F16C
    static const bool f16c = cpu_has_f16c();
    if (f16c) return f32_to_f16_f16c(src, dst, n);
#endif
    for (std::size_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

void convert_to_f32(DType from, const void* src, float* dst, std::size_t n) {
    const auto* bytes = static_cast<const unsigned char*>(src);
    switch (from) {
        case DType::f32:
            std::memcpy(dst, src, n * 4);
            return;
        case DType::f16:
        case DType::bf16:
            for (std::size_t i = 0; i < n; ++i) {
                std::uint16_t h;
                std::memcpy(&h, bytes + 2 * i, 2);  // source may be unaligned
                dst[i] = from == DType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
            }
            return;
    }
}

}  // namespace lectern
