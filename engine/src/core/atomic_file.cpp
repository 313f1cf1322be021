// AtomicFileWriter and friends on POSIX (open/write/fsync/rename). Signal-safe against partial
// writes (loops over short writes, retries EINTR); SIGXFSZ is the caller's business (the CLI
// ignores it so that a size limit shows up as EFBIG here).
#include "core/atomic_file.h"

// The Windows implementation is atomic_file_win.cpp.
#ifndef _WIN32

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lectern {
namespace {

std::atomic<unsigned> g_temp_counter{0};

Error errno_error(const std::string& path, int err) {
    switch (err) {
        case ENOSPC: return make_error(path + ": no space left on device");
        case EFBIG: return make_error(path + ": file too large (size limit reached)");
        case EDQUOT: return make_error(path + ": disk quota exceeded");
        case EACCES:
        case EPERM: return make_error(path + ": permission denied");
        case EROFS: return make_error(path + ": read-only file system");
        case ENOENT: return make_error(path + ": no such file or directory");
        case ENOTDIR: return make_error(path + ": a parent is not a directory");
        default: return make_error(path + ": " + std::strerror(err));
    }
}

std::string parent_dir(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_temp(std::move(other.m_temp)),
      m_fd(other.m_fd),
      m_written(other.m_written) {
    other.m_fd = -1;
    other.m_temp.clear();
}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& other) noexcept {
    if (this != &other) {
        discard();
        m_path = std::move(other.m_path);
        m_temp = std::move(other.m_temp);
        m_fd = other.m_fd;
        m_written = other.m_written;
        other.m_fd = -1;
        other.m_temp.clear();
    }
    return *this;
}

AtomicFileWriter::~AtomicFileWriter() { discard(); }

void AtomicFileWriter::discard() {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
    if (!m_temp.empty()) ::unlink(m_temp.c_str());
    m_temp.clear();
}

Result<AtomicFileWriter> AtomicFileWriter::create(const std::string& path) {
    AtomicFileWriter w;
    w.m_path = path;
    w.m_temp = path + atomic_temp_marker + std::to_string(::getpid()) + "-" +
               std::to_string(g_temp_counter.fetch_add(1));
    w.m_fd = ::open(w.m_temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.m_fd < 0) {
        const int err = errno;
        w.m_temp.clear();
        return errno_error(path, err);
    }
    return w;
}

Result<void> AtomicFileWriter::write(std::span<const std::byte> bytes) {
    if (m_fd < 0) return make_error(m_path + ": write after commit or failure");
    const std::byte* p = bytes.data();
    std::size_t left = bytes.size();
    while (left > 0) {
        const ssize_t n = ::write(m_fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            discard();
            return errno_error(m_path, err);
        }
        if (n == 0) {
            discard();
            return errno_error(m_path, ENOSPC);
        }
        p += n;
        left -= std::size_t(n);
        m_written += std::uint64_t(n);
    }
    return {};
}

Result<void> AtomicFileWriter::commit() {
    if (m_fd < 0) return make_error(m_path + ": commit after failure");
    if (::fsync(m_fd) != 0) {
        const int err = errno;
        discard();
        return errno_error(m_path, err);
    }
    if (::close(m_fd) != 0) {
        m_fd = -1;
        const int err = errno;
        discard();
        return errno_error(m_path, err);
    }
    m_fd = -1;
    if (::rename(m_temp.c_str(), m_path.c_str()) != 0) {
        const int err = errno;
        discard();
        return errno_error(m_path, err);
    }
    m_temp.clear();
    return sync_directory(parent_dir(m_path));
}

Result<void> make_directories(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return errno_error(dir, ec.value());
    if (!std::filesystem::is_directory(dir, ec))
        return make_error(dir + ": exists and is not a directory");
    return {};
}

Result<void> sync_directory(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_error(dir, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    // Some file systems (and tmpfs in old kernels) refuse fsync on directories: not an error.
    if (rc != 0 && err != EINVAL && err != EROFS) return errno_error(dir, err);
    return {};
}

}  // namespace lectern

#endif  // !_WIN32

namespace lectern {

// The same on every platform: AtomicFileWriter does the platform's part.
Result<void> write_file_atomic(const std::string& path, std::span<const std::byte> bytes) {
    auto w = AtomicFileWriter::create(path);
    if (!w) return w.error();
    if (auto ok = w->write(bytes); !ok) return ok;
    return w->commit();
}

}  // namespace lectern
