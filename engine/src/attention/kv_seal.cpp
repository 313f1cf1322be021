// Sealing a complete KV chunk on the CPU (see kv_seal.h): each head's rows gathered into one
// slice, the way the chunk store lays a head out, rounded through kv_round_trip, and put back.
#include "attention/kv_seal.h"

#include <vector>

#include "attention/kv_chunk_store.h"

namespace lectern {

void kv_seal_chunk(KvDType dtype, int rows, int n_embd, std::size_t stride, float* keys,
                   float* values) {
    if (dtype == KvDType::f32 || rows <= 0) return;
    const int heads = n_embd / kv_head_dim;
    std::vector<float> slice(std::size_t(rows) * kv_head_dim);
    for (float* base : {keys, values})
        for (int h = 0; h < heads; ++h) {
            for (int r = 0; r < rows; ++r)
                for (int d = 0; d < kv_head_dim; ++d)
                    slice[std::size_t(r) * kv_head_dim + std::size_t(d)] =
                        base[std::size_t(r) * stride + std::size_t(h) * kv_head_dim +
                             std::size_t(d)];
            kv_round_trip(dtype, slice.data(), slice.size(), slice.data());
            for (int r = 0; r < rows; ++r)
                for (int d = 0; d < kv_head_dim; ++d)
                    base[std::size_t(r) * stride + std::size_t(h) * kv_head_dim + std::size_t(d)] =
                        slice[std::size_t(r) * kv_head_dim + std::size_t(d)];
        }
}

void kv_sealed_key_mean(int rows, int n_embd, std::size_t stride, const float* keys, float* out) {
    if (rows <= 0) return;
    for (int c = 0; c < n_embd; ++c) {
        double acc = 0.0;
        for (int r = 0; r < rows; ++r) acc += keys[std::size_t(r) * stride + std::size_t(c)];
        out[c] = float(acc / rows);
    }
}

}  // namespace lectern
