// Read-only file mapping: POSIX mmap, or CreateFileMapping on Windows.
#include "core/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <utility>

#ifdef _WIN32
#include <windows.h>  // NOMINMAX, WIN32_LEAN_AND_MEAN: lectern_config (cmake/LecternConfig.cmake)

#include "core/native_path.h"
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace lectern {

MappedFile::MappedFile(MappedFile&& other) noexcept {
    *this = std::move(other);
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        release();
        m_data = std::exchange(other.m_data, nullptr);
        m_size = std::exchange(other.m_size, 0);
#ifdef _WIN32
        m_mapping = std::exchange(other.m_mapping, nullptr);
#endif
    }
    return *this;
}

MappedFile::~MappedFile() {
    release();
}

#ifndef _WIN32

namespace {

Error errno_error(const std::string& path, int err) {
    switch (err) {
        case ENOENT:
            return make_error(path + ": no such file");
        case EACCES:
        case EPERM:
            return make_error(path + ": permission denied");
        case EISDIR:
            return make_error(path + ": is a directory");
        default:
            return make_error(path + ": " + std::strerror(err));
    }
}

// Closes the descriptor on every exit path of open().
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

Result<MappedFile> MappedFile::open(const std::string& path) {
    FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) return errno_error(path, errno);
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) return errno_error(path, errno);
    if (S_ISDIR(st.st_mode)) return make_error(path + ": is a directory");
    if (!S_ISREG(st.st_mode)) return make_error(path + ": not a regular file");
    if (st.st_size == 0) return make_error(path + ": file is empty");
    const auto size = static_cast<std::size_t>(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
    if (p == MAP_FAILED) return errno_error(path, errno);
    MappedFile file;
    file.m_data = static_cast<const std::byte*>(p);
    file.m_size = size;
    return file;
}

void MappedFile::release() {
    if (m_data != nullptr) ::munmap(const_cast<std::byte*>(m_data), m_size);
    m_data = nullptr;
    m_size = 0;
}

#else  // _WIN32

namespace {

Error win_error(const std::string& path) {
    const DWORD code = ::GetLastError();
    switch (code) {
        case ERROR_FILE_NOT_FOUND:
        case ERROR_PATH_NOT_FOUND:
            return make_error(path + ": no such file");
        case ERROR_ACCESS_DENIED:
            return make_error(path + ": permission denied");
        default:
            return make_error(path + ": cannot open (error " + std::to_string(code) + ")");
    }
}

}  // namespace

// `path` is UTF-8 (native_path.h): the wide APIs take any file name, the ...A ones only names in
// the ANSI code page. FILE_SHARE_DELETE lets the store delete or replace a file that is still
// mapped, as on POSIX (the view stays valid until it is unmapped).
Result<MappedFile> MappedFile::open(const std::string& path) {
    const std::wstring wpath = wide_path(path);
    const DWORD attrs = ::GetFileAttributesW(wpath.c_str());
    if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY))
        return make_error(path + ": is a directory");
    HANDLE file = ::CreateFileW(wpath.c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE,
                                nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (file == INVALID_HANDLE_VALUE) return win_error(path);
    LARGE_INTEGER size{};
    if (!::GetFileSizeEx(file, &size)) {
        Error e = win_error(path);
        ::CloseHandle(file);
        return e;
    }
    if (size.QuadPart == 0) {
        ::CloseHandle(file);
        return make_error(path + ": file is empty");
    }
    HANDLE mapping = ::CreateFileMappingW(file, nullptr, PAGE_READONLY, 0, 0, nullptr);
    if (mapping == nullptr) {
        Error e = win_error(path);  // before CloseHandle, which may change GetLastError()
        ::CloseHandle(file);
        return e;
    }
    ::CloseHandle(file);  // the mapping keeps the file open
    void* p = ::MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
    if (p == nullptr) {
        Error e = win_error(path);
        ::CloseHandle(mapping);
        return e;
    }
    MappedFile mf;
    mf.m_data = static_cast<const std::byte*>(p);
    mf.m_size = static_cast<std::size_t>(size.QuadPart);
    mf.m_mapping = mapping;
    return mf;
}

void MappedFile::release() {
    if (m_data != nullptr) ::UnmapViewOfFile(m_data);
    if (m_mapping != nullptr) ::CloseHandle(m_mapping);
    m_data = nullptr;
    m_size = 0;
    m_mapping = nullptr;
}

#endif

void advise_will_read(const std::string& path) {
#if defined(__linux__)
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);  // starts readahead; does not block
    ::close(fd);
#else
    (void)path;
#endif
}

}  // namespace lectern
