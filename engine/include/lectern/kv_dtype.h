// The precision an attention KV cache is kept in: its own header so that CUDA sources (whose
// compiler may lack the C++20 library the rest of lectern/inference.h uses) can name it.
#pragma once

#include <cstdint>

namespace lectern {

enum class KvDType : std::uint8_t { f32, f16, int8 };

}  // namespace lectern
