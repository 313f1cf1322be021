// Which CUDA device is present, asked at run time so that one binary starts everywhere (static
// cudart: no driver or no GPU is an error value, never a crash).
#pragma once

#include <cstddef>
#include <string>

#include "lectern/result.h"

namespace lectern::cuda {

struct DeviceInfo {
    std::string name;
    int compute_major = 0;
    int compute_minor = 0;
    std::size_t total_memory = 0;
};

// Device 0, or an error saying why CUDA cannot be used ("no CUDA driver", "no CUDA device").
Result<DeviceInfo> device_info();

// Device memory owned by RAII; all operations report CUDA failures as Errors.
class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(DeviceBuffer&&) noexcept;
    DeviceBuffer& operator=(DeviceBuffer&&) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer();

    static Result<DeviceBuffer> allocate(std::size_t bytes);
    Result<void> upload(const void* host, std::size_t bytes, std::size_t offset = 0);
    Result<void> download(void* host, std::size_t bytes, std::size_t offset = 0) const;
    Result<void> fill(unsigned char byte);

    void* data() const { return m_ptr; }
    std::size_t size() const { return m_bytes; }

private:
    void* m_ptr = nullptr;
    std::size_t m_bytes = 0;
};

}  // namespace lectern::cuda
