// A read-only memory map of a whole file (private to the engine). Model checkpoints are several
// GB, so they are mapped rather than read; tensor views point straight into the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "lectern/result.h"

namespace lectern {

class MappedFile {
  public:
    MappedFile() = default;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();

    // Map `path` read-only. Errors are one line starting with the path: "<path>: no such file",
    // "<path>: is a directory", "<path>: file is empty", "<path>: permission denied".
    static Result<MappedFile> open(const std::string& path);

    std::span<const std::byte> bytes() const { return {m_data, m_size}; }
    std::uint64_t size() const { return m_size; }

  private:
    void release();

    const std::byte* m_data = nullptr;
    std::size_t m_size = 0;
#ifdef _WIN32
    void* m_mapping = nullptr;  // HANDLE of the file mapping object
#endif
};

// Ask the OS to start reading `path` into its page cache now, without waiting: a later map of it
// then finds its pages there instead of faulting them in one by one. A hint: errors are ignored,
// and it does nothing where the platform has no such call (posix_fadvise WILLNEED on Linux).
void advise_will_read(const std::string& path);

}  // namespace lectern
