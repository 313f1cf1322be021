// Exact widening of a stored element (float32, IEEE half, bfloat16) to float32 in device code,
// and rounding back (nearest, ties to even): what every kernel that reads weights or tensors in
// their stored dtype uses (convert_dtype.cu, matmul.cu, gemv.cu), and what the ops that write a
// product's input already rounded use (store_as: token_shift.cu, activations.cu, group_norm.cu).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstddef>
#include <cstring>

#include "lectern/dtype.h"

namespace lectern::cuda {

template <typename W>
__device__ inline float widen(W v);
template <>
__device__ inline float widen<float>(float v) {
    return v;
}
template <>
__device__ inline float widen<__half>(__half v) {
    return __half2float(v);
}
template <>
__device__ inline float widen<__nv_bfloat16>(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

template <typename W>
__device__ inline W narrow(float v);
template <>
__device__ inline __half narrow<__half>(float v) {
    return __float2half_rn(v);
}
template <>
__device__ inline __nv_bfloat16 narrow<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

// out[i] = v in `dtype` (element i of an array of that dtype), rounded as narrow does: the bits
// matmul's own rounding of a float32 input gives.
__device__ inline void store_as(void* out, std::size_t i, DType dtype, float v) {
    switch (dtype) {
        case DType::bf16:
            static_cast<__nv_bfloat16*>(out)[i] = narrow<__nv_bfloat16>(v);
            return;
        case DType::f16:
            static_cast<__half*>(out)[i] = narrow<__half>(v);
            return;
        case DType::f32:
            break;
    }
    static_cast<float*>(out)[i] = v;
}

// out[i .. i + 3] = v in `dtype`, rounded as store_as does, in one store: i a multiple of 4 and
// `out` aligned to 4 elements (16 bytes in float32, 8 in a 16-bit dtype).
__device__ inline void store4_as(void* out, std::size_t i, DType dtype, const float (&v)[4]) {
    if (dtype == DType::f32) {
        *reinterpret_cast<float4*>(static_cast<float*>(out) + i) =
            make_float4(v[0], v[1], v[2], v[3]);
        return;
    }
    unsigned short bits[4];
    for (int j = 0; j < 4; ++j) {
        if (dtype == DType::bf16) {
            const __nv_bfloat16 h = narrow<__nv_bfloat16>(v[j]);
            memcpy(&bits[j], &h, sizeof(h));
        } else {
            const __half h = narrow<__half>(v[j]);
            memcpy(&bits[j], &h, sizeof(h));
        }
    }
    uint2 packed;
    memcpy(&packed, bits, sizeof(packed));
    *reinterpret_cast<uint2*>(static_cast<unsigned short*>(out) + i) = packed;
}

}  // namespace lectern::cuda
