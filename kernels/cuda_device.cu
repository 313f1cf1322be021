// Device discovery and RAII device memory for the CUDA backend.
#include "lectern/cuda/cuda_device.h"

#include <utility>

#include "cuda_check.cuh"

namespace lectern::cuda {

Result<DeviceInfo> device_info()
{
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status == cudaErrorInsufficientDriver || status == cudaErrorNoDevice || count == 0) {
        cudaGetLastError();  // clear the sticky error so later calls start clean
        return make_error(status == cudaErrorInsufficientDriver ? "no CUDA driver"
                                                                : "no CUDA device");
    }
    LECTERN_CUDA_TRY(status);
    cudaDeviceProp prop{};
    LECTERN_CUDA_TRY(cudaGetDeviceProperties(&prop, 0));
    return DeviceInfo{prop.name, prop.major, prop.minor, prop.totalGlobalMem};
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : m_ptr(std::exchange(other.m_ptr, nullptr)), m_bytes(std::exchange(other.m_bytes, 0))
{
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept
{
    if (this != &other) {
        if (m_ptr)
            cudaFree(m_ptr);
        m_ptr = std::exchange(other.m_ptr, nullptr);
        m_bytes = std::exchange(other.m_bytes, 0);
    }
    return *this;
}

DeviceBuffer::~DeviceBuffer()
{
    if (m_ptr)
        cudaFree(m_ptr);
}

Result<DeviceBuffer> DeviceBuffer::allocate(std::size_t bytes)
{
    DeviceBuffer buffer;
    LECTERN_CUDA_TRY(cudaMalloc(&buffer.m_ptr, bytes));
    buffer.m_bytes = bytes;
    return Result<DeviceBuffer>(std::move(buffer));
}

Result<void> DeviceBuffer::upload(const void* host, std::size_t bytes, std::size_t offset)
{
    if (offset > m_bytes || bytes > m_bytes - offset)
        return make_error("DeviceBuffer::upload: range outside the buffer");
    LECTERN_CUDA_TRY(cudaMemcpy(static_cast<char*>(m_ptr) + offset, host, bytes,
                                cudaMemcpyHostToDevice));
    return {};
}

Result<void> DeviceBuffer::download(void* host, std::size_t bytes, std::size_t offset) const
{
    if (offset > m_bytes || bytes > m_bytes - offset)
        return make_error("DeviceBuffer::download: range outside the buffer");
    LECTERN_CUDA_TRY(cudaMemcpy(host, static_cast<const char*>(m_ptr) + offset, bytes,
                                cudaMemcpyDeviceToHost));
    return {};
}

Result<void> DeviceBuffer::fill(unsigned char byte)
{
    LECTERN_CUDA_TRY(cudaMemset(m_ptr, byte, m_bytes));
    return {};
}

}  // namespace lectern::cuda
