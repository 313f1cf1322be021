// Backend selection (lectern/backend.h) and the registry of GPU backends (infer/device_backend.h).
#include <mutex>
#include <optional>

#include "infer/device_backend.h"

namespace lectern {
namespace {

std::mutex g_mutex;
std::optional<DeviceBackend> g_cuda;

}  // namespace

const char* backend_name(Backend b) { return b == Backend::cuda ? "cuda" : "cpu"; }

void register_device_backend(const DeviceBackend& backend) {
    std::lock_guard lock(g_mutex);
    if (backend.backend == Backend::cuda) g_cuda = backend;
}

const DeviceBackend* registered_device_backend(Backend backend) {
    std::lock_guard lock(g_mutex);
    if (backend == Backend::cuda && g_cuda) return &*g_cuda;
    return nullptr;
}

Result<BackendChoice> resolve_backend(std::string_view request) {
    if (request == "cpu") return BackendChoice{Backend::cpu, ""};
    if (request != "auto" && request != "cuda")
        return make_error("unknown backend '" + std::string(request) +
                          "' (known: auto, cpu, cuda)");
    const DeviceBackend* cuda = registered_device_backend(Backend::cuda);
    if (!cuda) {
        if (request == "cuda")
            return make_error("this build of Lectern has no CUDA backend; use --backend cpu");
        return BackendChoice{Backend::cpu, "built without CUDA; using the CPU"};
    }
    auto device = cuda->probe();
    if (!device) {
        if (request == "cuda")
            return make_error("the CUDA backend cannot run here: " + device.error().message);
        return BackendChoice{Backend::cpu,
                             "no NVIDIA GPU found (" + device.error().message + "); using the CPU"};
    }
    return BackendChoice{Backend::cuda, "using the GPU " + *device};
}

}  // namespace lectern
