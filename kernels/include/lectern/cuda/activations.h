// GPU twins of the engine's flat in-place activations: lectern::lora_inner (engine/src/cpu/lora.h,
// spec §2.2: tanh for the decay LoRA, sigmoid for the gate, none otherwise) and
// lectern::relu_square (engine/src/cpu/channel_mix.h, spec §2.5). Device pointers.
// Launch: flat grid-stride, 256 threads per block (ReLU²: four elements per thread when n is a
// multiple of 4 and the arrays aligned to 4 elements; lora_inner_n: the parts along the grid's y).
// Tolerance vs CPU: ReLU² exact; tanh and sigmoid |Δ| <= 1e-6 + 1e-5·|cpu| (CUDA's tanhf and expf
// are within 2 ulp, glibc's within 1: a few ulp, ~3e-7 relative). Test:
// tests/kernels/tst_activations_cuda.cpp.
#pragma once

#include <cstddef>

#include "lectern/cuda/cuda_stream.h"
#include "lectern/dtype.h"
#include "lectern/result.h"

namespace lectern::cuda {

// The same values as lectern::LoraInner, which the engine keeps private.
enum class LoraInner { none, tanh, sigmoid };

// hidden[i] = f(hidden[i]) for i < n: tanh(x), 1 / (1 + exp(-x)), or unchanged.
Result<void> lora_inner(LoraInner inner, float* hidden, std::size_t n,
                        cuda_stream stream = nullptr);

// One LoRA's hidden rows ready for its up product: the n floats at `hidden` (as the down product
// wrote them) through the inner activation, written to `out` in `out_dtype`: rounded to nearest
// even to the 16-bit dtype of the up product's weights (cuda::MatmulInput, which then skips its
// own rounding pass), or float32 in place (out == hidden).
struct LoraHidden {
    float* hidden = nullptr;
    std::size_t n = 0;
    LoraInner inner = LoraInner::none;
    void* out = nullptr;
    DType out_dtype = DType::f32;
};
constexpr int kMaxLoraHiddens = 4;  // a time-mix block's decay, in-context rate, gate and value

// Every part in one launch, 1 <= count <= kMaxLoraHiddens: per part the values lora_inner gives,
// then rounded. A float32 part must be in place; a 16-bit part's out must not overlap any part's
// hidden. A time-mix block's four LoRAs took six launches this way: tanh, sigmoid and four
// rounding passes inside the up products.
Result<void> lora_inner_n(const LoraHidden* parts, int count, cuda_stream stream = nullptr);

// x[i] = max(x[i], 0)², n elements, in place (NaN becomes 0, as on the CPU).
Result<void> relu_square(float* x, std::size_t n, cuda_stream stream = nullptr);

// out[i] = max(x[i], 0)² in `dtype`: float32, or rounded to nearest even to the 16-bit dtype of
// the weights of the product that reads it (cuda::MatmulInput), which then skips its own rounding
// pass. out must not overlap x.
Result<void> relu_square_to(const float* x, std::size_t n, DType dtype, void* out,
                            cuda_stream stream = nullptr);

}  // namespace lectern::cuda
