// cublas_api(): finds and loads the cuBLAS shared library at run time and resolves the entry
// points of lectern/cuda/cublas_api.h (why: see that header).
#include "lectern/cuda/cublas_api.h"

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#ifdef _WIN32
#include <windows.h>  // NOMINMAX, WIN32_LEAN_AND_MEAN: lectern_config (cmake/LecternConfig.cmake)
#else
#include <dlfcn.h>
#include <unistd.h>
#endif

namespace lectern::cuda {
namespace {

#ifdef _WIN32
const std::string kLibraryName = "cublas64_" + std::to_string(CUBLAS_VER_MAJOR) + ".dll";
void* open_library(const std::string& path) {
    return reinterpret_cast<void*>(LoadLibraryA(path.c_str()));
}
void* find_symbol(void* library, const char* name) {
    return reinterpret_cast<void*>(GetProcAddress(static_cast<HMODULE>(library), name));
}
std::filesystem::path executable_dir() {
    wchar_t buffer[32768];
    const DWORD n = GetModuleFileNameW(nullptr, buffer, DWORD(std::size(buffer)));
    return n ? std::filesystem::path(std::wstring(buffer, n)).parent_path()
             : std::filesystem::path();
}
#else
const std::string kLibraryName = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
void* open_library(const std::string& path) { return dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL); }
void* find_symbol(void* library, const char* name) { return dlsym(library, name); }
std::filesystem::path executable_dir() {
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path() : exe.parent_path();
}
#endif

// Where to look, in order: the loader's own search (LD_LIBRARY_PATH, ldconfig; PATH on Windows),
// the executable's folder and ../lib (a relocatable install), the toolkit used at build time.
std::vector<std::string> candidates() {
    std::vector<std::string> list{kLibraryName};
    if (const auto dir = executable_dir(); !dir.empty()) {
        list.push_back((dir / kLibraryName).string());
        list.push_back((dir.parent_path() / "lib" / kLibraryName).string());
    }
#ifdef LECTERN_CUDA_TOOLKIT_LIBRARY_DIR
    list.push_back((std::filesystem::path(LECTERN_CUDA_TOOLKIT_LIBRARY_DIR) / kLibraryName)
                       .string());
#endif
    return list;
}

template <typename F>
bool resolve(void* library, const char* name, F& slot, std::string& missing) {
    slot = reinterpret_cast<F>(find_symbol(library, name));
    if (!slot) missing += std::string(missing.empty() ? "" : ", ") + name;
    return slot != nullptr;
}

Result<const CublasApi*> load() {
    static CublasApi api;
    std::string tried;
    void* library = nullptr;
    for (const std::string& path : candidates()) {
        if ((library = open_library(path))) {
            api.library = path;
            break;
        }
        tried += (tried.empty() ? "" : ", ") + path;
    }
    if (!library)
        return make_error("cuBLAS " + std::to_string(CUBLAS_VER_MAJOR) +
                          " was not found (tried " + tried +
                          "); install the CUDA toolkit's cuBLAS, or use --backend cpu");
    std::string missing;
    resolve(library, "cublasCreate_v2", api.create, missing);
    resolve(library, "cublasDestroy_v2", api.destroy, missing);
    resolve(library, "cublasSetStream_v2", api.set_stream, missing);
    resolve(library, "cublasSetMathMode", api.set_math_mode, missing);
    resolve(library, "cublasSaxpy_v2", api.saxpy, missing);
    resolve(library, "cublasGemmEx", api.gemm_ex, missing);
    resolve(library, "cublasGetStatusName", api.status_name, missing);
    if (!missing.empty())
        return make_error(api.library + " lacks " + missing + " (another cuBLAS version?)");
    return Result<const CublasApi*>(&api);
}

}  // namespace

Result<const CublasApi*> cublas_api() {
    static std::once_flag once;
    static Result<const CublasApi*> result = make_error("cuBLAS not loaded");
    std::call_once(once, [] { result = load(); });
    return result;
}

}  // namespace lectern::cuda
