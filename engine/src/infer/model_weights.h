// The prepared weights of a loaded model (spec §1.3-§1.4) and Model::Impl. Private to the engine.
// Big matrices are views into the memory-mapped checkpoint in their stored dtype, in PyTorch's
// [out][in] layout (y = x · Wᵀ); LoRA matrices are transposed copies so that they have that layout
// too; every vector is float32.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "cpu/matmul.h"
#include "cpu/thread_pool.h"
#include "infer/device_backend.h"
#include "lectern/inference.h"
#include "lectern/model_file.h"

namespace lectern {

using FloatVec = std::vector<float>;

struct RwkvBlockWeights {
    FloatVec ln1_w, ln1_b, ln2_w, ln2_b;
    FloatVec x_r, x_w, x_k, x_v, x_a, x_g;  // token-shift mixes [C]
    FloatVec w0, a0, v0, k_k, k_a;          // [C]; v0 empty for block 0
    FloatVec r_k;                           // [H*N]
    FloatVec lnx_w, lnx_b;                  // GroupNorm [C]
    FloatVec ffn_x_k;                       // [C]
    Matrix w1, w2, a1, a2, v1, v2, g1, g2;  // down [D][C], up [C][D]; v1/v2 unset for block 0
    Matrix receptance, key, value, output;  // [C][C]
    Matrix ffn_key, ffn_value;              // [F][C], [C][F]
};

struct AttnBlockWeights {
    FloatVec ln1_w, ln1_b, ln2_w, ln2_b;
    FloatVec ffn_x_k;
    Matrix query, key, value, output;  // [C][C]; query is stored as att.receptance
    Matrix ffn_key, ffn_value;
};

struct ModelWeights {
    Matrix emb;  // [V][C], stored dtype; LN0 is applied per looked-up row at run time
    FloatVec ln0_w, ln0_b, ln_out_w, ln_out_b;
    Matrix head;  // [V][C]
    std::vector<RwkvBlockWeights> rwkv;
    std::vector<AttnBlockWeights> attn;
    // Backing store of the transposed LoRA copies (moving the outer vector keeps the buffers).
    std::vector<std::vector<std::byte>> owned;
};

struct Model::Impl {
    explicit Impl(ModelFile f) : file(std::move(f)) {}

    ModelFile file;  // keeps the mapping behind every Matrix view alive
    ModelConfig config;
    RuntimeOptions runtime;
    ModelWeights weights;
    // One forward call at a time uses the pool; scratch is per call.
    std::unique_ptr<ThreadPool> pool;
    mutable std::mutex mutex;
    // The weights on a GPU when runtime.backend is cuda (device_backend.h), else null. Calls on
    // it are serialised by `mutex` like the pool.
    std::unique_ptr<DeviceModel> device;
};

// After the weights are prepared: upload them to runtime.backend's device (nothing for cpu).
Result<void> attach_device(Model::Impl& impl);

}  // namespace lectern
