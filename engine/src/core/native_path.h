// The engine's path strings are UTF-8 on every platform (the app passes QString::toStdString()).
// On POSIX that is also what the kernel takes, so these are plain conversions. On Windows a
// narrow std::string given to std::filesystem::path, std::ifstream or a ...A() API is read in the
// ANSI code page, which mangles any name outside it: there the path is built from the UTF-8
// bytes (char8_t) and opened through the wide (...W) APIs. Private to the engine.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace lectern {

// A UTF-8 path string as a std::filesystem::path (for std::filesystem calls and file streams).
inline std::filesystem::path native_path(std::string_view utf8) {
#ifdef _WIN32
    return std::filesystem::path(
        std::u8string_view(reinterpret_cast<const char8_t*>(utf8.data()), utf8.size()));
#else
    return std::filesystem::path(utf8);
#endif
}

// A std::filesystem::path back to the engine's UTF-8 string (generic separators not forced).
inline std::string path_utf8(const std::filesystem::path& path) {
#ifdef _WIN32
    const std::u8string s = path.u8string();
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
#else
    return path.string();
#endif
}

// The same with '/' separators (a store's relative file names are compared in that form).
inline std::string generic_path_utf8(const std::filesystem::path& path) {
#ifdef _WIN32
    const std::u8string s = path.generic_u8string();
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
#else
    return path.generic_string();
#endif
}

#ifdef _WIN32
// For the ...W() Win32 APIs.
inline std::wstring wide_path(std::string_view utf8) { return native_path(utf8).wstring(); }
#endif

}  // namespace lectern
