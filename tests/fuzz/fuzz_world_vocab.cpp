// libFuzzer target: parse_world_vocab on arbitrary text (vocabulary lines, Python literals).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lectern/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto tokenizer =
        lectern::parse_world_vocab(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)tokenizer;
    return 0;
}
