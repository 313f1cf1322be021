// Reading the zip container of torch.save: end-of-central-directory (plain and ZIP64), central
// directory entries and local headers. Nothing is decompressed; every offset and size read from
// the file is checked against the file size before use.
#include "model/zip_reader.h"

#include <algorithm>
#include <string_view>

#include "model/byte_reader.h"

namespace lectern {

namespace {

using bytes::fits;
using bytes::le;

constexpr std::uint32_t eocd_sig = 0x06054b50;
constexpr std::uint32_t zip64_locator_sig = 0x07064b50;
constexpr std::uint32_t zip64_eocd_sig = 0x06064b50;
constexpr std::uint32_t central_sig = 0x02014b50;
constexpr std::uint32_t local_sig = 0x04034b50;
constexpr std::uint64_t eocd_size = 22;
constexpr std::uint64_t central_size = 46;
constexpr std::uint64_t local_size = 30;
constexpr std::uint64_t max_comment = 0xffff;

struct Directory {
    std::uint64_t entries = 0;
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::uint64_t end = 0;  // where the central directory must end (start of the EOCD records)
};

// The EOCD record sits at the very end, followed only by a comment of at most 64 KiB.
Result<std::uint64_t> find_eocd(std::span<const std::byte> b) {
    const std::uint64_t n = b.size();
    if (n < eocd_size) return make_error("not a zip archive (too short)");
    const std::uint64_t lowest = n - eocd_size > max_comment ? n - eocd_size - max_comment : 0;
    for (std::uint64_t pos = n - eocd_size + 1; pos-- > lowest;) {
        if (le<4>(b, pos) == eocd_sig && pos + eocd_size + le<2>(b, pos + 20) == n) return pos;
    }
    return make_error("not a zip archive or truncated (no end of central directory record)");
}

Result<Directory> read_directory(std::span<const std::byte> b) {
    auto eocd = find_eocd(b);
    if (!eocd) return eocd.error();
    const std::uint64_t pos = *eocd;
    if (le<2>(b, pos + 4) != 0 || le<2>(b, pos + 6) != 0)
        return make_error("multi-disk zip archives are not supported");
    Directory d;
    d.entries = le<2>(b, pos + 10);
    d.size = le<4>(b, pos + 12);
    d.offset = le<4>(b, pos + 16);
    d.end = pos;

    // A ZIP64 locator right before the EOCD points at the ZIP64 EOCD, whose 64-bit fields replace
    // the saturated 16/32-bit ones.
    if (pos >= 20 && le<4>(b, pos - 20) == zip64_locator_sig) {
        const std::uint64_t rec = le<8>(b, pos - 20 + 8);
        if (!fits(pos - 20, rec, 56) || le<4>(b, rec) != zip64_eocd_sig)
            return make_error("corrupt zip: bad ZIP64 end of central directory");
        d.entries = le<8>(b, rec + 32);
        d.size = le<8>(b, rec + 40);
        d.offset = le<8>(b, rec + 48);
        d.end = rec;
    }
    if (!fits(d.end, d.offset, d.size))
        return make_error("corrupt zip: central directory lies outside the file");
    // Each entry takes at least 46 bytes, which bounds the count any file can claim.
    if (d.entries > d.size / central_size)
        return make_error("corrupt zip: central directory claims " + std::to_string(d.entries) +
                          " entries in " + std::to_string(d.size) + " bytes");
    return d;
}

// Apply the ZIP64 extended-information extra field (id 1): it holds, in this order, only those of
// size, compressed size and local header offset whose 32-bit field is saturated.
Result<void> apply_zip64_extra(std::span<const std::byte> b, std::uint64_t extra,
                               std::uint64_t extra_len, std::uint64_t& size, std::uint64_t& csize,
                               std::uint64_t& offset) {
    std::uint64_t p = extra;
    const std::uint64_t end = extra + extra_len;
    while (p + 4 <= end) {
        const std::uint64_t id = le<2>(b, p);
        const std::uint64_t len = le<2>(b, p + 2);
        if (p + 4 + len > end) return make_error("corrupt zip: extra field overruns its entry");
        if (id == 1) {
            std::uint64_t q = p + 4;
            for (std::uint64_t* field : {&size, &csize, &offset}) {
                if (*field != 0xffffffffu) continue;
                if (q + 8 > p + 4 + len) return make_error("corrupt zip: short ZIP64 extra field");
                *field = le<8>(b, q);
                q += 8;
            }
        }
        p += 4 + len;
    }
    return {};
}

Result<ZipEntry> read_central_entry(std::span<const std::byte> b, const Directory& d,
                                    std::uint64_t& pos) {
    const std::uint64_t dir_end = d.offset + d.size;
    if (!fits(dir_end, pos, central_size) || le<4>(b, pos) != central_sig)
        return make_error("corrupt zip: bad central directory entry");
    const std::uint64_t flags = le<2>(b, pos + 8);
    const std::uint64_t method = le<2>(b, pos + 10);
    std::uint64_t csize = le<4>(b, pos + 20);
    std::uint64_t size = le<4>(b, pos + 24);
    const std::uint64_t name_len = le<2>(b, pos + 28);
    const std::uint64_t extra_len = le<2>(b, pos + 30);
    const std::uint64_t comment_len = le<2>(b, pos + 32);
    std::uint64_t local = le<4>(b, pos + 42);
    const std::uint64_t record = central_size + name_len + extra_len + comment_len;
    if (!fits(dir_end, pos, record)) return make_error("corrupt zip: central directory truncated");

    ZipEntry e;
    e.name = std::string(bytes::chars(b, pos + central_size, name_len));
    const std::string what = "zip entry " + bytes::printable(e.name);
    auto ext = apply_zip64_extra(b, pos + central_size + name_len, extra_len, size, csize, local);
    if (!ext) return with_context(what, ext.error());
    pos += record;

    if (flags & 1u) return make_error(what + ": encrypted zip entries are not supported");
    if (method != 0) return make_error(what + ": compressed zip entries are not supported");
    if (csize != size) return make_error(what + ": stored entry with differing sizes");

    // The local header repeats name and extra field with its own lengths (torch pads the extra
    // field so tensor data is 64-byte aligned), so the data offset must come from it.
    if (!fits(d.offset, local, local_size) || le<4>(b, local) != local_sig)
        return make_error(what + ": bad local header");
    const std::uint64_t data = local + local_size + le<2>(b, local + 26) + le<2>(b, local + 28);
    if (!fits(d.offset, data, size))
        return make_error(what + ": data (" + std::to_string(size) +
                          " bytes) lies outside the file");
    e.data_offset = data;
    e.size = size;
    return e;
}

}  // namespace

Result<std::vector<ZipEntry>> read_zip_entries(std::span<const std::byte> b) {
    auto dir = read_directory(b);
    if (!dir) return dir.error();
    std::vector<ZipEntry> entries;
    entries.reserve(static_cast<std::size_t>(dir->entries));
    std::uint64_t pos = dir->offset;
    for (std::uint64_t i = 0; i < dir->entries; ++i) {
        auto e = read_central_entry(b, *dir, pos);
        if (!e) return e.error();
        entries.push_back(std::move(*e));
    }
    return entries;
}

}  // namespace lectern
