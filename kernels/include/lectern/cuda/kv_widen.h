// GPU twin of lectern::kv_widen_rows (engine/src/attention/kv_packed_rows.h): a piece of KV rows
// packed as the host's chunks store them (per head: its key rows, then its value rows, 64
// elements each in the cache precision; int8: then [heads][2] scales) widened to the float32
// [rows][stride] keys and values a paged slot or a dense mirror holds, bit for bit as the host's
// kv_load_row reads them (f16: exact; int8: q * scale, one IEEE multiplication).
// Launch: one thread per element, 256 per block, grid (rows * 64 / 256, heads x keys | values).
// Test: tests/kernels/tst_kv_widen_cuda.cpp.
#pragma once

#include <cstddef>

#include "lectern/cuda/cuda_stream.h"
#include "lectern/kv_dtype.h"
#include "lectern/result.h"

namespace lectern::cuda {

// packed: device memory, 16-byte aligned; keys, values: device [rows][stride] float32 (head h at
// columns h*64 .. h*64+63; the columns past heads * 64 are not written).
Result<void> kv_widen_rows(KvDType dtype, int heads, int rows, const void* packed,
                           std::size_t stride, float* keys, float* values,
                           cuda_stream stream = nullptr);

}  // namespace lectern::cuda
