// Packed KV rows (kv_packed_rows.h): their size, and their widening on the CPU, the GPU's
// reference.
#include "attention/kv_packed_rows.h"

#include <cstdint>

#include "attention/kv_chunk_store.h"

namespace lectern {

std::size_t kv_packed_bytes(KvDType dtype, int heads, int rows) {
    const std::size_t elements = std::size_t(heads) * 2 * std::size_t(rows) * kv_head_dim;
    const std::size_t scales = dtype == KvDType::int8 ? std::size_t(heads) * 2 * sizeof(float) : 0;
    return elements * kv_dtype_size(dtype) + scales;
}

void kv_widen_rows(KvDType dtype, int heads, int rows, const void* packed, std::size_t stride,
                   float* keys, float* values) {
    const std::size_t slice = std::size_t(rows) * kv_head_dim;  // elements of one head's keys
    const auto* bytes = static_cast<const std::byte*>(packed);
    const auto* scales = reinterpret_cast<const float*>(
        bytes + std::size_t(heads) * 2 * slice * kv_dtype_size(dtype));
    for (int h = 0; h < heads; ++h)
        for (const bool value : {false, true}) {
            KvRows r;
            r.dtype = dtype;
            const std::size_t first = (std::size_t(h) * 2 + (value ? 1 : 0)) * slice;
            r.k = r.v = bytes + first * kv_dtype_size(dtype);
            if (dtype == KvDType::int8) r.k_scale = r.v_scale = scales[2 * h + (value ? 1 : 0)];
            r.count = rows;
            float* out = (value ? values : keys) + std::size_t(h) * kv_head_dim;
            for (int i = 0; i < rows; ++i) kv_load_row(r, value, i, out + std::size_t(i) * stride);
        }
}

}  // namespace lectern
