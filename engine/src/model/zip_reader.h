// The central directory of a zip archive as written by torch.save (private to the .pth parser).
// Only "stored" entries are supported: torch never compresses, and refusing compression means a
// crafted archive can never make us inflate more bytes than the file holds.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lectern/result.h"

namespace lectern {

struct ZipEntry {
    std::string name;
    std::uint64_t data_offset = 0;  // first byte of the entry's data in the archive
    std::uint64_t size = 0;         // bytes of data (stored, so compressed == uncompressed)
};

// List every entry of the archive in `bytes`. Handles ZIP64 (checkpoints are several GB). Each
// entry's data is checked to lie inside the buffer. Errors are one line, e.g.
// "zip entry archive/data/3: compressed zip entries are not supported".
Result<std::vector<ZipEntry>> read_zip_entries(std::span<const std::byte> bytes);

}  // namespace lectern
