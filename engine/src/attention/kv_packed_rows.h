// KV rows packed as a chunk stores them, for an upload that the device widens itself: the host
// copies a chunk's bytes (f16: half of float32's, int8: a quarter) instead of converting them, and
// the bus carries those. The layout of a packed piece of `rows` rows of `heads` heads:
//   for h in heads: its rows key rows, then its rows value rows, 64 elements each, in `dtype`;
//   then, int8 only, heads x 2 floats: head h's key scale, then its value scale.
// kv_widen_rows is the CPU reference of the GPU's widening (lectern::cuda::kv_widen_rows,
// kernels/kv_widen.cu): float32 rows exactly as kv_load_row reads the stored ones.
// Tests: tests/kernels/tst_kv_widen_cuda.cpp (GPU against this), tests/emu/tst_kv_stage_emu.cpp
// (a host cache's chunks and tail packed and widened, against its own row reads).
#pragma once

#include <cstddef>

#include "lectern/kv_dtype.h"

namespace lectern {

// Bytes of a packed piece: the elements, then (int8) the scales.
std::size_t kv_packed_bytes(KvDType dtype, int heads, int rows);

// A packed piece into float32 rows [rows][stride] of keys and values (head h at columns
// h*64 .. h*64+63; the columns past heads*64 are not written). int8: q * scale, as kv_load_row.
void kv_widen_rows(KvDType dtype, int heads, int rows, const void* packed, std::size_t stride,
                   float* keys, float* values);

}  // namespace lectern
