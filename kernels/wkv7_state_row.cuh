// One thread's row of a WKV-7 head state, S[i][0..N), for the kernels that give each thread a row
// (wkv7.cu, decode_fused.cu). For the compile-time head size NC the row lives in registers (every
// index is a constant once the j loops are unrolled); for NC = 0 (any other N) the thread works on
// its row in global memory directly: no other thread touches it, so nothing can race.
#pragma once

namespace lectern::cuda {

template <int NC>
struct StateRow {
    float s[NC];
    __device__ void load(const float* row) {
#pragma unroll
        for (int j = 0; j < NC; ++j) s[j] = row[j];
    }
    __device__ void store(float* row) const {
#pragma unroll
        for (int j = 0; j < NC; ++j) row[j] = s[j];
    }
    __device__ float& operator[](int j) { return s[j]; }
};

template <>
struct StateRow<0> {
    float* p = nullptr;
    __device__ void load(float* row) { p = row; }
    __device__ void store(float*) const {}
    __device__ float& operator[](int j) { return p[j]; }
};

}  // namespace lectern::cuda
