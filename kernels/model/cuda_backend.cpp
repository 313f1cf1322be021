// register_cuda_backend(): hands the engine the CUDA probe and model loader (infer/device_backend.h).
#include "lectern/cuda_backend.h"

#include "cuda_model.h"
#include "lectern/cuda/cublas_api.h"
#include "lectern/cuda/cuda_device.h"

namespace lectern {
namespace {

// A usable GPU and the cuBLAS the matrix products need (loaded at run time, so a machine with a
// driver but no cuBLAS gets the CPU with a note under --backend auto, not a failed load).
Result<std::string> probe_cuda() {
    auto info = cuda::device_info();
    if (!info) return info.error();
    if (auto blas = cuda::cublas_api(); !blas) return blas.error();
    return info->name;
}

Result<std::unique_ptr<DeviceModel>> load_cuda(const Model::Impl& model) {
    return cuda::CudaModel::create(model);
}

}  // namespace

void register_cuda_backend() {
    DeviceBackend b;
    b.backend = Backend::cuda;
    b.probe = &probe_cuda;
    b.load = &load_cuda;
    register_device_backend(b);
}

}  // namespace lectern
