// Which compute backend runs the forward pass (CPU or an NVIDIA GPU), chosen at run time so that
// one binary starts everywhere: "auto" takes the GPU when this build has the CUDA backend and a
// device is present, else the CPU with a note saying why.
#pragma once

#include <string>
#include <string_view>

#include "lectern/result.h"

namespace lectern {

enum class Backend { cpu, cuda };

const char* backend_name(Backend b);  // "cpu" | "cuda"

struct BackendChoice {
    Backend backend = Backend::cpu;
    // One line for the user when "auto" fell back to the CPU ("no NVIDIA GPU found; using the
    // CPU", "built without CUDA; using the CPU") or naming the GPU chosen; may be empty.
    std::string note;
};

// Resolve "auto" | "cpu" | "cuda". An explicit "cuda" that cannot be honoured (no CUDA backend in
// this build, no driver, no device) is an error value; an unknown name too.
Result<BackendChoice> resolve_backend(std::string_view request);

}  // namespace lectern
