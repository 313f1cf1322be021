// libFuzzer target: parse_pth on arbitrary bytes (zip container, pickle VM, tensor records).
// Accepted tensors are read end to end so that ASan catches any view reaching outside the input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "lectern/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto table = lectern::parse_pth(std::as_bytes(std::span(data, size)));
    if (!table) return 0;
    unsigned sum = 0;
    for (const lectern::TensorView& t : table->tensors) {
        for (std::size_t i = 0; i < t.nbytes; ++i) sum += std::to_integer<unsigned>(t.data[i]);
    }
    volatile unsigned sink = sum;
    (void)sink;
    return 0;
}
