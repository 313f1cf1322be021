// Element types of model tensors as stored on disk, and conversions to float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace lectern {

enum class DType : std::uint8_t { f32, f16, bf16 };

std::string_view dtype_name(DType t);  // "f32", "f16", "bf16"
inline std::size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }

inline float bf16_to_f32(std::uint16_t h) {
    std::uint32_t bits = std::uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

float f16_to_f32(std::uint16_t h);

// Round-to-nearest-even conversions (NaN stays NaN).
std::uint16_t f32_to_bf16(float f);
std::uint16_t f32_to_f16(float f);
// f32_to_f16 over n floats: the same bits, with F16C where the CPU has it (8 per instruction).
void f32_to_f16_n(const float* src, std::uint16_t* dst, std::size_t n);

// Convert n elements of type `from` starting at `src` (any alignment) to float32.
void convert_to_f32(DType from, const void* src, float* dst, std::size_t n);

}  // namespace lectern
