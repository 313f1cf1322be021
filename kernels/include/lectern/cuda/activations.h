// GPU twins of the engine's flat in-place activations: lectern::lora_inner (engine/src/cpu/lora.h,
// spec §2.2: tanh for the decay LoRA, sigmoid for the gate, none otherwise) and
// lectern::relu_square (engine/src/cpu/channel_mix.h, spec §2.5). Device pointers.
// Launch: flat grid-stride, 256 threads per block.
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

// x[i] = max(x[i], 0)², n elements, in place (NaN becomes 0, as on the CPU).
Result<void> relu_square(float* x, std::size_t n, cuda_stream stream = nullptr);

// out[i] = max(x[i], 0)² in `dtype`: float32, or rounded to nearest even to the 16-bit dtype of
// the weights of the product that reads it (cuda::MatmulInput), which then skips its own rounding
// pass. out must not overlap x.
Result<void> relu_square_to(const float* x, std::size_t n, DType dtype, void* out,
                            cuda_stream stream = nullptr);

}  // namespace lectern::cuda
