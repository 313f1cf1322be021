// A CPU stand-in for <mma.h> (cuda_to_cpp.py maps it here): the warp matrix functions
// (nvcuda::wmma) for the one shape the kernels use, m16n16k16 with __half inputs and float
// accumulators, so that tensor-core kernels run on the emulator like every other kernel.
// CUDA leaves the mapping of fragment elements to lanes unspecified; kernels may only touch
// fragments through fill, load, store, mma and uniform element-wise loops over x[num_elements].
// Here every lane's fragment holds the whole 16 x 16 tile (num_elements = 256, element (i, j) at
// x[16 * i + j]), so mma_sync is one lane's local product and needs no exchange.
// Strictness, as for shuffles: every call is a full-warp operation (a diverged or exited lane
// aborts, cuda_emu_fiber.h), pointers must be 32-byte aligned and ldm a multiple of 16 bytes, as
// the CUDA programming guide requires. To make a missing __syncwarp around shared tiles show:
// load_matrix_sync reads the tile before the warp's barrier (a lane reading what other lanes have
// not written yet gets stale or NaN data); store_matrix_sync fills the whole tile with a huge
// value (store_poison) before its barrier, so a lane still reading the old tile without a barrier
// in between sees it, and writes after the barrier only the elements i with i % 32 == lane, so a
// lane reading the tile right after its store, without a __syncwarp, sees the others' elements
// still poisoned. Products of two halves are exact in float;
// the sums run in k order in float, so results match a GPU's tensor cores only to tolerance.
#pragma once

#include <cstdint>
#include <cstring>

#include "cuda_emu.h"
#include "cuda_emu_fp16.h"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
    static_assert(M == 16 && N == 16 && K == 16, "only m16n16k16 is emulated");
    static constexpr bool is_a = std::is_same_v<Use, matrix_a>;
    static constexpr bool is_b = std::is_same_v<Use, matrix_b>;
    static_assert(is_a || is_b ? std::is_same_v<T, __half> : std::is_same_v<T, float>,
                  "only __half inputs with float accumulators are emulated");
    using element_type = T;
    static constexpr int num_elements = 256;
    T x[num_elements];
};

}  // namespace nvcuda::wmma

namespace emu {

inline void check_wmma_pointer(const void* p, unsigned ldm, std::size_t element_bytes) {
    if (reinterpret_cast<std::uintptr_t>(p) % 32 != 0) fail("wmma: pointer not 32-byte aligned");
    if ((std::size_t(ldm) * element_bytes) % 16 != 0) fail("wmma: ldm not a multiple of 16 bytes");
}

// Offset of element (i, j) of a 16 x 16 tile stored with leading dimension ldm.
inline std::size_t wmma_offset(int i, int j, unsigned ldm, bool row_major) {
    return row_major ? std::size_t(i) * ldm + std::size_t(j) : std::size_t(j) * ldm + std::size_t(i);
}

}  // namespace emu

namespace nvcuda::wmma {

template <typename Use, typename T, typename Layout>
void fill_fragment(fragment<Use, 16, 16, 16, T, Layout>& f, T value) {
    for (T& e : f.x) e = value;
}

// matrix_a / matrix_b: the layout is the fragment's.
template <typename Use, typename Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, __half, Layout>& f, const __half* p, unsigned ldm) {
    emu::check_wmma_pointer(p, ldm, sizeof(__half));
    static_assert(std::is_same_v<Layout, row_major> || std::is_same_v<Layout, col_major>);
    const bool rows = std::is_same_v<Layout, row_major>;
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 16; ++j) f.x[16 * i + j] = p[emu::wmma_offset(i, j, ldm, rows)];
    __syncwarp();
}

template <typename T>
void load_matrix_sync(fragment<accumulator, 16, 16, 16, T, void>& f, const T* p, unsigned ldm,
                      layout_t layout) {
    emu::check_wmma_pointer(p, ldm, sizeof(T));
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 16; ++j)
            f.x[16 * i + j] = p[emu::wmma_offset(i, j, ldm, layout == mem_row_major)];
    __syncwarp();
}

// What a store writes over the whole tile before its barrier: a finite value so large that a row
// maximum picks it and a sum overflows (NaN would slip through fmaxf).
constexpr float store_poison = 3.0e38f;

template <typename T>
void store_matrix_sync(T* p, const fragment<accumulator, 16, 16, 16, T, void>& f, unsigned ldm,
                       layout_t layout) {
    emu::check_wmma_pointer(p, ldm, sizeof(T));
    for (int e = 0; e < 256; ++e)
        p[emu::wmma_offset(e / 16, e % 16, ldm, layout == mem_row_major)] = store_poison;
    __syncwarp();
    for (int e = int(emu::thread_idx.x % 32); e < 256; e += 32)
        p[emu::wmma_offset(e / 16, e % 16, ldm, layout == mem_row_major)] = f.x[e];
}

// d = a * b + c (d may be c). Every lane gets the whole tile; the warp's barrier keeps the call a
// collective one, as on the GPU. The product is a pure function of the three tiles, and in a
// correct kernel all 32 lanes hold the same ones, so a lane whose inputs equal the last product's
// (the previous lane's, normally) copies its result instead of repeating 4,096 multiply-adds.
template <typename LayoutA, typename LayoutB>
void mma_sync(fragment<accumulator, 16, 16, 16, float, void>& d,
              const fragment<matrix_a, 16, 16, 16, __half, LayoutA>& a,
              const fragment<matrix_b, 16, 16, 16, __half, LayoutB>& b,
              const fragment<accumulator, 16, 16, 16, float, void>& c) {
    struct Memo {
        __half a[256], b[256];
        float c[256], d[256];
        bool valid = false;
    };
    static Memo memo;
    const bool same = memo.valid && std::memcmp(memo.a, a.x, sizeof memo.a) == 0 &&
                      std::memcmp(memo.b, b.x, sizeof memo.b) == 0 &&
                      std::memcmp(memo.c, c.x, sizeof memo.c) == 0;
    if (!same) {
        std::memcpy(memo.a, a.x, sizeof memo.a);
        std::memcpy(memo.b, b.x, sizeof memo.b);
        std::memcpy(memo.c, c.x, sizeof memo.c);
        for (int i = 0; i < 16; ++i)
            for (int j = 0; j < 16; ++j) {
                float sum = c.x[16 * i + j];
                for (int k = 0; k < 16; ++k)
                    sum += __half2float(a.x[16 * i + k]) * __half2float(b.x[16 * k + j]);
                memo.d[16 * i + j] = sum;
            }
        memo.valid = true;
    }
    std::memcpy(d.x, memo.d, sizeof memo.d);
    __syncwarp();
}

}  // namespace nvcuda::wmma
