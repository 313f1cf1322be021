// Little helpers for reading integers out of untrusted byte buffers (private to the model
// parsers). Every read is bounds-checked by the caller through `fits`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace lectern::bytes {

// True when [offset, offset + length) lies inside a buffer of `size` bytes (overflow-safe).
inline bool fits(std::uint64_t size, std::uint64_t offset, std::uint64_t length) {
    return offset <= size && length <= size - offset;
}

// Read an unsigned little-endian integer of N bytes at `offset`; the caller checked `fits`.
template <int N>
inline std::uint64_t le(std::span<const std::byte> b, std::uint64_t offset) {
    std::uint64_t v = 0;
    for (int i = N - 1; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(b[offset + i]);
    return v;
}

inline std::string_view chars(std::span<const std::byte> b, std::uint64_t offset,
                              std::uint64_t length) {
    return {reinterpret_cast<const char*>(b.data()) + offset, static_cast<std::size_t>(length)};
}

// A name from the file made safe for a one-line error message: control bytes become '?', and
// very long names are cut.
inline std::string printable(std::string_view s, std::size_t max = 200) {
    std::string out(s.substr(0, max));
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    if (s.size() > max) out += "...";
    return out;
}

}  // namespace lectern::bytes
