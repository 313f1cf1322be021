// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) for checksummed engine images.
#include <array>

#include "core/byte_stream.h"

namespace lectern {
namespace {

constexpr std::array<std::uint32_t, 256> make_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}

constexpr auto kTable = make_table();

}  // namespace

std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t seed) {
    std::uint32_t c = ~seed;
    for (std::byte b : bytes) c = kTable[(c ^ std::to_integer<std::uint32_t>(b)) & 0xFF] ^ (c >> 8);
    return ~c;
}

}  // namespace lectern
