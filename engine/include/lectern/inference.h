// Running a model: weights prepared for inference, the per-document state (recurrent state plus
// the attention KV cache), and the forward pass. Spec: ../shared/docs/rwkvx-spec.md §1-§3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lectern/backend.h"
#include "lectern/kv_dtype.h"
#include "lectern/model_config.h"
#include "lectern/result.h"
#include "lectern/tokenizer.h"

namespace lectern {

// Which sparse-attention semantics the attention blocks compute (spec §3.2).
enum class AttentionMode : std::uint8_t {
    native,  // paper/training MoBA (§3.3): split-invariant, what "ingest once, ask later" needs
    compat,  // official rwkv-x 0.1.3 (§3.4-§3.6): prefill chunk-local, decode shared top-k
};

struct AttentionOptions {
    AttentionMode mode = AttentionMode::native;
    int chunk_size = 2048;  // B
    int top_k = 3;          // K: own chunk + (K-1) selected (native); K selected chunks (compat)
    // compat-mode KV-cache management (spec §3.6); 0 disables it (kv_max = 0 means off).
    int kv_max = 0;     // Mx: compress when the cache holds more rows than this
    int kv_min = 0;     // Mn: size after compression
    int kv_window = 0;  // Wo: most recent rows always kept
    KvDType kv_dtype = KvDType::f32;
    // Ablation only: attention blocks skip their attention sublayer (no KV cache is kept; their
    // channel mix still runs), which shows what the sparse attention contributes.
    bool bypass = false;
};

struct RuntimeOptions {
    int threads = 0;  // 0 = all hardware threads
    // Where the forward pass runs. cuda needs a build with the CUDA backend registered
    // (lectern::register_cuda_backend(), kernels/model/) and a device; resolve_backend picks one.
    // On cuda, compat attention runs on the CPU (same results); traced calls run on the GPU.
    Backend backend = Backend::cpu;
    // cuda: bytes of device memory the model and its states may use (weights, then the KV
    // mirrors of the attention blocks); 0 = 90% of the memory free after loading the weights.
    std::size_t gpu_memory_budget = 0;
    // cuda, experimental (off until a GPU run confirms it; LECTERN_CUDA_GRAPHS=1 / 0 in the
    // environment overrides it at load): replay one-token calls from CUDA graphs captured per
    // state instead of launching every kernel. Pure RWKV-7 (or bypass): the whole call is one
    // graph. RWKV-X: each run of RWKV blocks between attention blocks is one graph, the attention
    // blocks (whose arguments change every token) keep their plain launches. Same bits either way.
    bool cuda_graphs = false;
};

// Weights prepared for inference. Immutable after load, shared by every State and thread.
class Model {
public:
    ~Model();
    Model(const Model&) = delete;
    Model& operator=(const Model&) = delete;

    // Open, validate (infer_model_config) and prepare a checkpoint. Matrices stay memory-mapped in
    // their stored dtype (f32/f16/bf16); only small vectors are converted to float32.
    static Result<std::shared_ptr<const Model>> load(const std::string& path,
                                                     const RuntimeOptions& runtime = {});

    // A model of `config`'s shape with random weights built in memory (no file), for speed
    // measurements: matrices in `dtype` (views into one shared random pool, so host memory stays
    // small; the GPU backend uploads each separately), vectors float32 in ranges that keep the
    // activations finite. Shapes: rwkv7_shape / rwkvx_shape below, or any consistent config.
    static Result<std::shared_ptr<const Model>> random(const ModelConfig& config, DType dtype,
                                                       std::uint32_t seed,
                                                       const RuntimeOptions& runtime = {});

    const ModelConfig& config() const;
    const RuntimeOptions& runtime() const;

    struct Impl;
    const Impl& impl() const { return *m_impl; }

private:
    explicit Model(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Configs of the released shapes (spec §1.2; head size 64, FFN 4C, vocab 65536, LoRA ranks from
// the RWKV-7 init formula): "rwkv7-0.4b" (L24 C1024), "rwkv7-1.5b" (L24 C2048), "rwkv7-2.9b"
// (L32 C2560), "rwkvx-3.6b" (32 RWKV + 8 attention blocks at C2560, (RRRRA)x8); and "rwkvx-tiny"
// (2 RWKV + 1 attention block at C128, vocab 1024: a smoke test of the benchmarks, not a
// released shape). Error for others.
Result<ModelConfig> model_shape(const std::string& name);

// Everything the model remembers about the tokens fed so far. Starts as the zero state.
class State {
public:
    State(std::shared_ptr<const Model> model, const AttentionOptions& attention);
    State(State&&) noexcept;
    State& operator=(State&&) noexcept;
    ~State();

    // An independent copy. Cheap: complete KV chunks are shared copy-on-write; only the recurrent
    // state and the partial last chunk are copied.
    State fork() const;

    std::int64_t position() const;  // tokens consumed
    const AttentionOptions& attention() const;
    const Model& model() const;

    // A versioned, checksummed byte image (recurrent state + KV cache + options), and back.
    // deserialize checks magic, version, checksum and that the image belongs to `model`'s shape.
    // serialize fails only when KV chunks kept on disk (a document store) cannot be read or are
    // corrupt; the error names the file.
    Result<std::vector<std::byte>> serialize() const;
    static Result<State> deserialize(std::shared_ptr<const Model> model,
                                     std::span<const std::byte> bytes);

    // Read-only views of the recurrent state, for tests and diagnostics (spec §2.7); empty for an
    // index out of range. wkv_state: [H][N][N] as [head][value i][key j]; the shifts: [C].
    std::span<const float> wkv_state(int rwkv_block) const;
    std::span<const float> att_shift(int rwkv_block) const;
    std::span<const float> ffn_shift(int rwkv_block) const;
    std::span<const float> attn_ffn_shift(int attn_block) const;

    struct Impl;
    Impl& impl() { return *m_impl; }
    const Impl& impl() const { return *m_impl; }

private:
    explicit State(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// Provenance of forward calls: for every fed token, attention block and head, the complete KV
// chunks its sparse attention selected besides the query's own chunk (native: top_k - 1 of them;
// chunk c covers token positions [c * chunk_size, (c + 1) * chunk_size)), with the share of that
// head's softmax mass each chunk received (the rest went to the own chunk). Rows accumulate over
// calls, so one trace can follow a prompt and every generated token.
struct ForwardTrace {
    int n_attn = 0;  // attention blocks; set by the first traced call
    int n_head = 0;
    int width = 0;   // slots per (row, block, head)
    int rows = 0;    // tokens traced so far
    std::vector<std::int64_t> position;  // [rows]: absolute position of each traced token
    std::vector<std::int32_t> chunk;     // [rows][n_attn][n_head][width]; -1 = unused slot
    std::vector<float> weight;           // same shape; in [0, 1], summing to <= 1 per head
};

// Feed `tokens` as one call: one token takes the decode path, more take the prefill path (the
// two differ only in compat mode). Writes float32 logits, row-major [rows][vocab]: every input
// position when `all_rows`, else only the last. Validates first (empty input, id >= vocab): a
// failed call leaves `state` exactly as it was.
// `trace`, when given, gets one row per token appended (compat mode records chunks without
// weights: weight 0).
Result<void> forward(State& state, std::span<const token_id> tokens, bool all_rows,
                     std::vector<float>& logits, ForwardTrace* trace = nullptr);

// Put `state` on its model's device now, as its first call would (the GPU backend: the recurrent
// state and the KV rows, with room for `next_tokens` more), so that forks made afterwards are
// copied there instead of each uploading the rows from the host (State::fork). Nothing to do on
// the CPU backend or in compat mode. On failure the state is unchanged and still usable (its next
// call uploads as usual).
Result<void> warm_up(State& state, int next_tokens = 4096);

// Where `state`'s data sits on its model's device, in words, for notes and logs: empty on the CPU
// backend and before the state's first device call; else e.g. "KV rows on the GPU: 3.1 MiB
// (every chunk resident)" or "paged KV cache on the GPU: 12 chunk slots (6.0 MiB) for 48 chunks
// ...", which tells a user why questions over a long document read from RAM or disk.
std::string device_memory_note(const State& state);

// What `model` holds on its device, in words, for notes, logs and benchmark records: empty on the
// CPU backend; else e.g. "NVIDIA H200, 5.41 GiB of weights, 1.47 GiB of scratch for segments of
// 4096 tokens, 112.20 GiB for KV rows".
std::string device_model_note(const Model& model);

// Whether `model`'s GPU has stopped working for this process: a kernel fault (an illegal address,
// a hardware error) loses the device context, and every later GPU call of the model fails. The
// caller then loads the model again on the CPU backend (documents resume from their stores).
// False on the CPU backend, and after failures that leave the device usable (an allocation
// refused, a call cut short).
bool gpu_lost(const Model& model);

}  // namespace lectern
