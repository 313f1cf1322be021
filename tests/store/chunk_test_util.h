// Shared by the chunk-file tests (tst_chunk_files, tst_disk_backed_cache): a KV chunk of seeded
// random rows.
#pragma once

#include <memory>
#include <random>
#include <vector>

#include "attention/kv_chunk_store.h"

namespace chunk_test {

// H heads of `rows` rows, keys and values drawn from N(0, 1.5), stored in `dtype`.
inline std::shared_ptr<const lectern::KvChunk> random_chunk(lectern::KvDType dtype, int H,
                                                            int rows, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.5f);
    std::vector<std::vector<float>> k(static_cast<std::size_t>(H)), v(static_cast<std::size_t>(H));
    std::vector<const float*> kp, vp;
    for (int h = 0; h < H; ++h) {
        for (int i = 0; i < rows * lectern::kv_head_dim; ++i) {
            k[std::size_t(h)].push_back(d(rng));
            v[std::size_t(h)].push_back(d(rng));
        }
        kp.push_back(k[std::size_t(h)].data());
        vp.push_back(v[std::size_t(h)].data());
    }
    return lectern::KvChunk::build(dtype, H, rows, kp.data(), vp.data());
}

}  // namespace chunk_test
