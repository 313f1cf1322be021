// GPU twin of lectern::convert_to_f32 (engine/src/core/dtype.cpp): widen f16/bf16/f32 elements
// to float32. Pointers are device pointers. Checked by tests/kernels/tst_convert_dtype.cpp.
#pragma once

#include <cstddef>

#include "lectern/dtype.h"
#include "lectern/result.h"

namespace lectern::cuda {

Result<void> convert_to_f32(DType from, const void* src, float* dst, std::size_t n);

}  // namespace lectern::cuda
