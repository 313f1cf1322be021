// What the chunked WKV-7 kernels share (wkv7_chunked.cu, wkv7_scan.cu): the chunk size, the
// layout of a chunk prepared by the pre-pass (its decays, hats and matrices, which do not depend on
// the state; the algebra is in wkv7_chunked.cu's file comment) and the pre-pass's launcher.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

namespace lectern::cuda::wkv7_chunk {

constexpr int kN = 64;  // head size (every RWKV-7 model); other sizes use wkv7.cu
constexpr int kL = 16;  // tokens per chunk
// [L][N] arrays padded to 68 floats per token: every token's row stays 16-byte aligned, so a
// thread reads its 16 columns of a row as four float4 (a quarter of the load instructions of
// scalar reads, which bounded the per-row work: about one load per FMA), and threads reading
// different tokens in chunk_matrices meet in a bank only 8 tokens apart.
constexpr int kStride = kN + 4;

// A chunk prepared by the pre-pass (wkv7_prep_kernel), per (head, chunk), in global memory with
// the shared arrays' layout: ã, r̃, b̂, k̂ [4][L][kStride], e^{c_L} [N], the four L x L matrices
// A_ab, A_ak, A_rb, A_rk, then the token-by-token flag (1.0f: the chunk runs token by token, and
// nothing before the flag was filled in). Of the matrices only the entries τ < t (and τ = t of
// A_rb, A_rk) are written; the others are whatever the scratch held.
struct Prep {
    static constexpr int hat = 0;
    static constexpr int ecl = hat + 4 * kL * kStride;
    static constexpr int mat = ecl + kN;
    static constexpr int flag = mat + 4 * kL * kL;
    static constexpr int total = (flag + 1 + 3) / 4 * 4;  // whole float4s per chunk
};
enum Hat { hat_a, hat_r, hat_b, hat_k };
enum Mat { mat_ab, mat_ak, mat_rb, mat_rk };

// "" when T and H are not negative and N is kN, else why not, starting with `who`.
std::string shape_error(const char* who, int T, int H, int N);

// Every chunk of a T-token call prepared into `prepared` (Prep::total floats per head and chunk,
// chunk-major within a head); C = H * kN. Inputs and `prepared` 16-byte aligned, at most 65535
// chunks (the callers check both).
cudaError_t launch_wkv7_prep(int T, int H, const float* r, const float* w, const float* k,
                             const float* v, const float* a, const float* b, float* prepared,
                             cudaStream_t stream);

}  // namespace lectern::cuda::wkv7_chunk
