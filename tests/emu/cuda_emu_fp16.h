// A CPU stand-in for <cuda_fp16.h> and <cuda_bf16.h> (cuda_to_cpp.py maps both here): the two
// 16-bit storage types and the conversions the kernels use (kernels/widen.cuh), nothing else, so a
// kernel using more of CUDA's half API fails to compile instead of running something unchecked.
// The conversions are exact where CUDA's are: widening is exact (normals, subnormals, inf, NaN),
// narrowing rounds to nearest, ties to even, as __float2half_rn / __float2bfloat16_rn do. Written
// on the bits rather than with _Float16 or F16C, so they need no compiler or CPU support.
#pragma once

#include <cstdint>
#include <cstring>

#include "cuda_emu.h"

struct __half {
    std::uint16_t bits;
};
struct __nv_bfloat16 {
    std::uint16_t bits;
};

namespace emu {
inline std::uint32_t float_bits(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float bits_float(std::uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
}  // namespace emu

inline float __bfloat162float(__nv_bfloat16 h) {
    return emu::bits_float(std::uint32_t(h.bits) << 16);
}

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    const std::uint32_t u = emu::float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)  // NaN: keep it a (quiet) NaN, sign kept
        return {std::uint16_t((u >> 16) | 0x40u)};
    const std::uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);  // ties to even; overflows to inf
    return {std::uint16_t(rounded >> 16)};
}

inline float __half2float(__half h) {
    const std::uint32_t sign = std::uint32_t(h.bits >> 15) << 31;
    const std::uint32_t e = (h.bits >> 10) & 31u, m = h.bits & 1023u;
    if (e == 31) return emu::bits_float(sign | 0x7f800000u | (m << 13));  // inf, NaN
    if (e != 0) return emu::bits_float(sign | ((e + 112u) << 23) | (m << 13));
    // Zero or subnormal: m * 2^-24, exact in float.
    const float magnitude = float(m) * (1.0f / 16777216.0f);
    return emu::bits_float(sign | emu::float_bits(magnitude));
}

inline __half __float2half_rn(float f) {
    const std::uint32_t u = emu::float_bits(f);
    const std::uint16_t sign = std::uint16_t((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return {std::uint16_t(sign | 0x7e00u)};   // NaN
    if (a >= 0x477ff000u) return {std::uint16_t(sign | 0x7c00u)};  // rounds to >= 65536: inf
    if (a >= 0x38800000u) {  // a normal half (>= 2^-14): drop 13 mantissa bits, ties to even
        const std::uint32_t r = a - (112u << 23);
        return {std::uint16_t(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13))};
    }
    // Subnormal half or zero: units of 2^-24, which float arithmetic rounds (ties to even) exactly
    // as the conversion must: |f| < 2^-14, so f * 2^24 < 1024 has at most 23 bits after the point.
    const float units = emu::bits_float(a) * 16777216.0f;
    const float whole = units + 8388608.0f - 8388608.0f;  // round to integer, ties to even
    return {std::uint16_t(sign | std::uint16_t(whole))};
}
