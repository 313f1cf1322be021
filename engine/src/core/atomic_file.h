// Crash-safe file output (private to the engine): a file is written under a temporary name in
// its final directory, flushed to disk, renamed over the final name and the directory entry
// flushed, so after a crash at any moment a reader sees either the old file or the complete new
// one, never a torn one. Errors are one line naming the file and the cause ("no space left on
// device", "file too large", "permission denied", "read-only file system", ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "lectern/result.h"

namespace lectern {

// Streams a new file's contents; commit() makes it appear under `path`. Destroying a writer that
// was not committed removes the temporary file.
class AtomicFileWriter {
public:
    AtomicFileWriter() = default;
    AtomicFileWriter(AtomicFileWriter&& other) noexcept;
    AtomicFileWriter& operator=(AtomicFileWriter&& other) noexcept;
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
    ~AtomicFileWriter();

    static Result<AtomicFileWriter> create(const std::string& path);
    Result<void> write(std::span<const std::byte> bytes);
    std::uint64_t bytes_written() const { return m_written; }
    // fsync, rename over `path`, fsync the directory. (Windows: FlushFileBuffers, then
    // MoveFileExW with MOVEFILE_WRITE_THROUGH, which also makes the rename durable.)
    Result<void> commit();

private:
    void discard();

    std::string m_path;
    std::string m_temp;
#ifdef _WIN32
    void* m_handle = nullptr;  // HANDLE of the temporary file (atomic_file_win.cpp)
#else
    int m_fd = -1;
#endif
    std::uint64_t m_written = 0;
};

// The whole file in one go.
Result<void> write_file_atomic(const std::string& path, std::span<const std::byte> bytes);

// Create `dir` and its parents (like mkdir -p); an error names the path and the cause.
Result<void> make_directories(const std::string& dir);

// Flush a directory's entries (after renames or removals in it). A no-op on Windows, which has
// no directory fsync; there the renames are written through instead (see atomic_file_win.cpp).
Result<void> sync_directory(const std::string& dir);

// Suffix of the temporary names AtomicFileWriter uses ("<name>.tmp-<pid>-<n>"): a folder scan can
// recognise and delete leftovers of a killed writer.
inline constexpr const char* atomic_temp_marker = ".tmp-";

}  // namespace lectern
