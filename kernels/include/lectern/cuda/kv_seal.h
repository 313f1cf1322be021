// GPU twin of lectern::kv_seal_chunk (engine/src/attention/kv_seal.h): a complete KV chunk's
// float32 rows rounded in place to the cache precision exactly as the host's chunk store keeps
// them (f16: round to nearest even; int8: per head, keys and values apart, scale = absmax / 127,
// q = rint(x / scale) clamped to +-127, read back as q * scale), so a sealed chunk on the device
// equals the host's bit for bit (IEEE division and multiplication, no fast math).
// Launch: f16 one thread per element; int8 one 256-thread block per (head, keys|values).
// Test: tests/kernels/tst_kv_seal_cuda.cpp (bit-identical to the CPU twin, means included).
#pragma once

#include <cstddef>

#include "lectern/cuda/cuda_stream.h"
#include "lectern/kv_dtype.h"
#include "lectern/result.h"

namespace lectern::cuda {

// keys, values: device [rows][n_embd] float32, rows `stride` floats apart; n_embd a multiple of
// 64 (the heads). f32: nothing to do.
Result<void> kv_seal_chunk(KvDType dtype, int rows, int n_embd, std::size_t stride, float* keys,
                           float* values, cuda_stream stream = nullptr);

// The mean key of a sealed chunk's rows into out (device [n_embd]), as the chunk store computes
// its means (twin lectern::kv_sealed_key_mean: per column a double sum in row order, divided by
// rows, rounded once to float): so the device needs no mean from the host to select the chunk,
// and gets the same one bit for bit. One thread per column.
Result<void> kv_sealed_key_mean(int rows, int n_embd, std::size_t stride, const float* keys,
                                float* out, cuda_stream stream = nullptr);

}  // namespace lectern::cuda
