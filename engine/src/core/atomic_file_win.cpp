// AtomicFileWriter and friends on Windows (the POSIX version is atomic_file.cpp; each file is
// empty on the other platform). Same contract as atomic_file.h:
//   create: CreateFileW of "<path>.tmp-<pid>-<n>" in the final directory;
//   commit: FlushFileBuffers (fsync), close, then MoveFileExW(MOVEFILE_REPLACE_EXISTING |
//           MOVEFILE_WRITE_THROUGH), which replaces the old file in one step and returns only
//           once the rename itself is on disk.
// sync_directory is a no-op: Windows has no way to flush a directory's entries (there is no
// fsync on a directory handle), and MOVEFILE_WRITE_THROUGH already gives what the POSIX
// directory fsync is for: the rename is durable when commit() returns.
// Paths are UTF-8 (native_path.h) and go through the ...W APIs.
#ifdef _WIN32

#include "core/atomic_file.h"

#include <atomic>
#include <filesystem>
#include <system_error>

#include <windows.h>  // NOMINMAX, WIN32_LEAN_AND_MEAN: lectern_config (cmake/LecternConfig.cmake)

#include "core/native_path.h"

namespace lectern {
namespace {

std::atomic<unsigned> g_temp_counter{0};

// ERROR_DISK_QUOTA_EXCEEDED of the Windows SDK (MinGW's headers lack the name).
constexpr DWORD error_disk_quota_exceeded = 1295;

// The system's text for a Win32 error code, as UTF-8, without the trailing line break.
std::string system_message(DWORD code) {
    wchar_t* buffer = nullptr;
    const DWORD n = ::FormatMessageW(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, code, 0, reinterpret_cast<wchar_t*>(&buffer), 0, nullptr);
    std::string text;
    if (n > 0 && buffer != nullptr) {
        const int bytes = ::WideCharToMultiByte(CP_UTF8, 0, buffer, int(n), nullptr, 0, nullptr,
                                                nullptr);
        text.resize(std::size_t(bytes));
        ::WideCharToMultiByte(CP_UTF8, 0, buffer, int(n), text.data(), bytes, nullptr, nullptr);
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == '.'))
            text.pop_back();
    }
    if (buffer != nullptr) ::LocalFree(buffer);
    if (text.empty()) text = "error " + std::to_string(code);
    return text;
}

// The same one-line messages as the POSIX errno_error, for the Win32 codes that mean the same.
Error win_error(const std::string& path, DWORD code) {
    switch (code) {
        case ERROR_DISK_FULL:
        case ERROR_HANDLE_DISK_FULL: return make_error(path + ": no space left on device");
        case ERROR_FILE_TOO_LARGE:
            return make_error(path + ": file too large (size limit reached)");
        case error_disk_quota_exceeded: return make_error(path + ": disk quota exceeded");
        case ERROR_ACCESS_DENIED: return make_error(path + ": permission denied");
        case ERROR_SHARING_VIOLATION:
        case ERROR_LOCK_VIOLATION: return make_error(path + ": in use by another program");
        case ERROR_WRITE_PROTECT: return make_error(path + ": read-only file system");
        case ERROR_FILE_NOT_FOUND:
        case ERROR_PATH_NOT_FOUND: return make_error(path + ": no such file or directory");
        case ERROR_DIRECTORY: return make_error(path + ": a parent is not a directory");
        default: return make_error(path + ": " + system_message(code));
    }
}

std::string parent_dir(const std::string& path) {
    const auto slash = path.find_last_of("/\\");
    if (slash == std::string::npos) return ".";
    if (slash == 0) return path.substr(0, 1);
    return path.substr(0, slash);
}

// A file that was just written is often opened for a moment by a virus scanner or the search
// indexer, and a reader (std::ifstream does not share delete access) may hold the old one: the
// rename then fails with a sharing error although it would succeed a few milliseconds later.
// Retry for up to about a second before reporting it.
bool replace_file(const std::wstring& from, const std::wstring& to, DWORD* error) {
    for (int attempt = 0;; ++attempt) {
        if (::MoveFileExW(from.c_str(), to.c_str(),
                          MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
            return true;
        *error = ::GetLastError();
        const bool transient = *error == ERROR_ACCESS_DENIED || *error == ERROR_SHARING_VIOLATION ||
                               *error == ERROR_LOCK_VIOLATION;
        if (!transient || attempt == 20) return false;
        ::Sleep(DWORD(attempt < 5 ? 5 : 50));
    }
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_temp(std::move(other.m_temp)),
      m_handle(other.m_handle),
      m_written(other.m_written) {
    other.m_handle = nullptr;
    other.m_temp.clear();
}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& other) noexcept {
    if (this != &other) {
        discard();
        m_path = std::move(other.m_path);
        m_temp = std::move(other.m_temp);
        m_handle = other.m_handle;
        m_written = other.m_written;
        other.m_handle = nullptr;
        other.m_temp.clear();
    }
    return *this;
}

AtomicFileWriter::~AtomicFileWriter() { discard(); }

void AtomicFileWriter::discard() {
    if (m_handle != nullptr) ::CloseHandle(m_handle);
    m_handle = nullptr;
    if (!m_temp.empty()) ::DeleteFileW(wide_path(m_temp).c_str());
    m_temp.clear();
}

Result<AtomicFileWriter> AtomicFileWriter::create(const std::string& path) {
    AtomicFileWriter w;
    w.m_path = path;
    w.m_temp = path + atomic_temp_marker + std::to_string(::GetCurrentProcessId()) + "-" +
               std::to_string(g_temp_counter.fetch_add(1));
    // Others may read or delete the temporary file (a store cleanup), not write it.
    HANDLE h = ::CreateFileW(wide_path(w.m_temp).c_str(), GENERIC_WRITE,
                             FILE_SHARE_READ | FILE_SHARE_DELETE, nullptr, CREATE_ALWAYS,
                             FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
        const DWORD err = ::GetLastError();
        w.m_temp.clear();
        return win_error(path, err);
    }
    w.m_handle = h;
    return w;
}

Result<void> AtomicFileWriter::write(std::span<const std::byte> bytes) {
    if (m_handle == nullptr) return make_error(m_path + ": write after commit or failure");
    const std::byte* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
        // WriteFile takes a DWORD count: write in pieces of at most 1 GiB.
        const DWORD want = DWORD(left < (std::size_t(1) << 30) ? left : (std::size_t(1) << 30));
        DWORD n = 0;
        if (!::WriteFile(m_handle, p, want, &n, nullptr)) {
            const DWORD err = ::GetLastError();
            discard();
            return win_error(m_path, err);
        }
        if (n == 0) {
            discard();
            return win_error(m_path, ERROR_DISK_FULL);
        }
        p += n;
        left -= n;
        m_written += n;
    }
    return {};
}

Result<void> AtomicFileWriter::commit() {
    if (m_handle == nullptr) return make_error(m_path + ": commit after failure");
    if (!::FlushFileBuffers(m_handle)) {
        const DWORD err = ::GetLastError();
        discard();
        return win_error(m_path, err);
    }
    const BOOL closed = ::CloseHandle(m_handle);
    m_handle = nullptr;
    if (!closed) {
        const DWORD err = ::GetLastError();
        discard();
        return win_error(m_path, err);
    }
    DWORD err = 0;
    if (!replace_file(wide_path(m_temp), wide_path(m_path), &err)) {
        discard();
        return win_error(m_path, err);
    }
    m_temp.clear();
    return sync_directory(parent_dir(m_path));
}

Result<void> make_directories(const std::string& dir) {
    std::error_code ec;
    const std::filesystem::path p = native_path(dir);
    std::filesystem::create_directories(p, ec);
    // MSVC's std::filesystem reports Win32 codes (system_category); MinGW's libstdc++ errno ones.
    if (ec)
        return ec.category() == std::system_category() ? win_error(dir, DWORD(ec.value()))
                                                       : make_error(dir + ": " + ec.message());
    if (!std::filesystem::is_directory(p, ec))
        return make_error(dir + ": exists and is not a directory");
    return {};
}

Result<void> sync_directory(const std::string& dir) {
    // Nothing to flush (see the top of this file); still report a missing folder as POSIX does.
    const DWORD attrs = ::GetFileAttributesW(wide_path(dir).c_str());
    if (attrs == INVALID_FILE_ATTRIBUTES) return win_error(dir, ::GetLastError());
    return {};
}

}  // namespace lectern

#endif  // _WIN32
