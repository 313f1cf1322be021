// Sequential little-endian writer and bounds-checked reader for the engine's own binary images
// (serialized State, KV caches). The reader never reads past its span; a short read is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace lectern {

class ByteWriter {
public:
    explicit ByteWriter(std::vector<std::byte>& out) : m_out(out) {}

    template <typename T>
    void put(T value) {
        static_assert(std::is_trivially_copyable_v<T>);
        const auto* p = reinterpret_cast<const std::byte*>(&value);
        m_out.insert(m_out.end(), p, p + sizeof(T));  // the engine targets little-endian hosts
    }
    void put_bytes(const void* data, std::size_t n) {
        const auto* p = static_cast<const std::byte*>(data);
        m_out.insert(m_out.end(), p, p + n);
    }
    std::size_t size() const { return m_out.size(); }

private:
    std::vector<std::byte>& m_out;
};

class ByteReader {
public:
    explicit ByteReader(std::span<const std::byte> in) : m_in(in) {}

    // False (and nothing read) when fewer than sizeof(T) bytes remain.
    template <typename T>
    bool get(T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        if (remaining() < sizeof(T)) return false;
        std::memcpy(&value, m_in.data() + m_pos, sizeof(T));
        m_pos += sizeof(T);
        return true;
    }
    bool get_bytes(void* data, std::size_t n) {
        if (remaining() < n) return false;
        if (n == 0) return true;  // data may be null (an empty vector's data()): memcpy(null, _, 0) is UB
        std::memcpy(data, m_in.data() + m_pos, n);
        m_pos += n;
        return true;
    }
    std::size_t remaining() const { return m_in.size() - m_pos; }
    std::size_t position() const { return m_pos; }

private:
    std::span<const std::byte> m_in;
    std::size_t m_pos = 0;
};

// CRC-32 (IEEE) over a byte range, for checksummed images.
std::uint32_t crc32(std::span<const std::byte> bytes, std::uint32_t seed = 0);

}  // namespace lectern
