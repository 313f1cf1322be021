// Sealing a complete KV chunk: its rows rounded to the cache precision, as the chunk store keeps
// them (f16: each element to the nearest half; int8: per head, keys and values apart, one absmax
// scale over the chunk's rows) and reads them back (kv_chunk_store.h). The CPU engine never needs
// it (its chunk store rounds as it stores); it is the reference of the GPU twin
// lectern::cuda::kv_seal_chunk (kernels/kv_seal.cu), which rounds a chunk of the device's float32
// rows in place so that they equal what the host cache holds, bit for bit.
// Test: tests/kernels/tst_kv_seal_cuda.cpp.
#pragma once

#include <cstddef>

#include "lectern/kv_dtype.h"

namespace lectern {

// keys, values: [rows][n_embd] float32, rows `stride` floats apart, heads of 64 columns; rounded
// in place. f32 leaves them as they are. NaNs are not expected (KV rows are finite).
void kv_seal_chunk(KvDType dtype, int rows, int n_embd, std::size_t stride, float* keys,
                   float* values);

// The mean key of a sealed chunk's rows, out[n_embd] (head h at columns h*64..h*64+63): per
// column, a double sum in row order divided by rows, rounded once to float. The chunk store
// computes its means so (kv_mean_key, over the rows it reads back), so applied to rows sealed as
// above it gives the store's means bit for bit. Twin of lectern::cuda::kv_sealed_key_mean.
void kv_sealed_key_mean(int rows, int n_embd, std::size_t stride, const float* keys, float* out);

}  // namespace lectern
