// The GEMV epilogues (lectern::cuda::GemvEpilogue) on the host, with the CPU twins' formulas:
// what tst_gemv_cuda and the emulator test (tests/emu/gemv_emu_case.h) expect after a product.
#pragma once

#include "cpu/channel_mix.h"
#include "cpu/lora.h"
#include "lectern/cuda/matmul.h"

namespace gemv_test {

inline float host_epilogue(lectern::cuda::GemvEpilogue e, float acc, float resid) {
    using lectern::cuda::GemvEpilogue;
    switch (e) {
        case GemvEpilogue::none:
            return acc;
        case GemvEpilogue::add:
            return resid + acc;
        case GemvEpilogue::relu_square:
            lectern::relu_square(&acc, 1);
            return acc;
        case GemvEpilogue::tanh:
            lectern::lora_inner(lectern::LoraInner::tanh, &acc, 1);
            return acc;
        case GemvEpilogue::sigmoid:
            lectern::lora_inner(lectern::LoraInner::sigmoid, &acc, 1);
            return acc;
    }
    return acc;
}

}  // namespace gemv_test
