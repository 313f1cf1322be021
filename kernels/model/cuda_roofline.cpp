// measure_gpu_roofline (lectern/cuda_backend.h): device copy bandwidth and bf16 GEMM throughput,
// timed with CUDA events after a warm-up, for lectern-cli bench --shape.
#include <cublas_v2.h>

#include "lectern/cuda/cublas_api.h"
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_check.cuh"
#include "lectern/cuda/cuda_device.h"
#include "lectern/cuda_backend.h"

// Sizes that reach the card's steady state. The CPU emulator's build (tests/emu) shrinks them:
// it only checks that this code runs.
#ifndef LECTERN_ROOFLINE_COPY_BYTES
#define LECTERN_ROOFLINE_COPY_BYTES (std::size_t(1) << 30)
#endif
#ifndef LECTERN_ROOFLINE_GEMM_SIDE
#define LECTERN_ROOFLINE_GEMM_SIDE 8192
#endif

namespace lectern {
namespace {

// Milliseconds of `iterations` calls of f (after one warm-up call), on the default stream.
template <typename F>
Result<float> time_ms(int iterations, F&& f) {
    if (auto ok = f(); !ok) return ok.error();
    cudaEvent_t start, stop;
    LECTERN_CUDA_TRY(cudaEventCreate(&start));
    LECTERN_CUDA_TRY(cudaEventCreate(&stop));
    LECTERN_CUDA_TRY(cudaEventRecord(start));
    for (int i = 0; i < iterations; ++i)
        if (auto ok = f(); !ok) return ok.error();
    LECTERN_CUDA_TRY(cudaEventRecord(stop));
    LECTERN_CUDA_TRY(cudaEventSynchronize(stop));
    float ms = 0;
    LECTERN_CUDA_TRY(cudaEventElapsedTime(&ms, start, stop));
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return ms;
}

}  // namespace

Result<GpuRoofline> measure_gpu_roofline() {
    auto info = cuda::device_info();
    if (!info) return info.error();
    GpuRoofline r;
    r.device = info->name;

    {  // bandwidth: 1 GiB device-to-device copies
        const std::size_t bytes = LECTERN_ROOFLINE_COPY_BYTES;
        auto a = cuda::DeviceBuffer::allocate(bytes);
        if (!a) return a.error();
        auto b = cuda::DeviceBuffer::allocate(bytes);
        if (!b) return b.error();
        const int iterations = 10;
        auto ms = time_ms(iterations, [&]() -> Result<void> {
            LECTERN_CUDA_TRY(
                cudaMemcpyAsync(b->data(), a->data(), bytes, cudaMemcpyDeviceToDevice, nullptr));
            return {};
        });
        if (!ms) return ms.error();
        r.copy_gb_s = 2.0 * double(bytes) * iterations / (double(*ms) / 1e3) / 1e9;
    }
    {  // GEMM: bf16 inputs, float32 accumulation and output, as the prefill's matmuls
        const int n = LECTERN_ROOFLINE_GEMM_SIDE;
        const std::size_t elems = std::size_t(n) * n;
        auto a = cuda::DeviceBuffer::allocate(elems * 2);
        if (!a) return a.error();
        auto b = cuda::DeviceBuffer::allocate(elems * 2);
        if (!b) return b.error();
        auto c = cuda::DeviceBuffer::allocate(elems * 4);
        if (!c) return c.error();
        for (auto* buf : {&*a, &*b})
            if (auto ok = buf->fill(0x3c); !ok) return ok.error();  // bf16 0x3c3c ~ 0.0115
        auto api = cuda::cublas_api();
        if (!api) return api.error();
        const cuda::CublasApi* blas = *api;
        cublasHandle_t handle = nullptr;
        if (blas->create(&handle) != CUBLAS_STATUS_SUCCESS)
            return make_error("cublasCreate failed");
        const float alpha = 1.0f, beta = 0.0f;
        const int iterations = 10;
        auto ms = time_ms(iterations, [&]() -> Result<void> {
            if (blas->gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, a->data(),
                             CUDA_R_16BF, n, b->data(), CUDA_R_16BF, n, &beta, c->data(),
                             CUDA_R_32F, n, CUBLAS_COMPUTE_32F,
                             CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS)
                return make_error("cublasGemmEx (bf16 roofline) failed");
            return {};
        });
        blas->destroy(handle);
        if (!ms) return ms.error();
        r.bf16_tflops = 2.0 * double(n) * n * n * iterations / (double(*ms) / 1e3) / 1e12;
    }
    return r;
}

}  // namespace lectern
