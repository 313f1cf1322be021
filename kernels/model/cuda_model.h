// CudaModel: a loaded model's weights in device memory (matrices in their stored dtype, vectors
// float32), the cuBLAS context, the per-call scratch, and the KV memory budget shared by every
// state of the model. Its forward() (cuda_forward.cpp) runs one engine call on the GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_host_rows.h"
#include "cuda_kv_staging.h"
#include "infer/device_backend.h"
#include "infer/model_weights.h"
#include "lectern/cuda/cuda_device.h"
#include "lectern/cuda/matmul.h"

struct CUevent_st;  // cudaEvent_t's pointee, named without cuda_runtime.h
#include "lectern/cuda/sparse_attention.h"

namespace lectern::cuda {

// Rows processed as one set of matrix products; longer calls are cut (exact: RWKV-7 and native
// attention are split-invariant). Bounds the scratch memory. The default of segment_rows(): a
// model with attention blocks (RWKV-X) uses it.
inline constexpr int kSegmentRows = 1024;
// A model without attention blocks (RWKV-7) uses segments this long where the scratch fits in a
// quarter of the memory the weights leave free, else kSegmentRows. Why: at 1,024 rows a C x C
// product's output is ~160 tiles for an H200's 132 SMs (1.2 waves, the last mostly idle; the
// prefill's products ran at 63 % of the bf16 roofline), and a segment's ~1,000 launches are
// paid four times as often. Session 16's same-process A/B at 2.9B: +10 % and +6 % prefill
// tokens/s at 4,096 rows (docs/performance.md). ~1.5 GB of scratch at 2.9B (1,024: ~0.4 GB).
// RWKV-X keeps 1,024: its KV rows come back through page-locked host buffers of a segment's size.
inline constexpr int kWideSegmentRows = 4096;
// The segment length for a model with attention blocks: kSegmentRows, or
// LECTERN_CUDA_SEGMENT_ROWS (16 to 16384, rounded down to a multiple of 16; read once per
// process) for a same-machine comparison of segment lengths (larger segments: wider matrix
// products, fewer launches, more scratch), which sets every model's.
int segment_rows();
// LECTERN_CUDA_SEGMENT_ROWS when set (and valid), else 0.
int segment_rows_override();
// Segments of at least this many rows append their KV rows to the host caches with one thread
// per attention block (CudaModel::append_host_rows).
inline constexpr int kParallelAppendRows = 64;
// The head's rows per piece in an all-rows call (CudaModel::head_in_pieces): the logits scratch.
inline constexpr int kHeadPieceRows = 256;

struct DeviceRwkvBlock {
    const float *ln1_w = nullptr, *ln1_b = nullptr, *ln2_w = nullptr, *ln2_b = nullptr;
    const float *x_r = nullptr, *x_w = nullptr, *x_k = nullptr, *x_v = nullptr, *x_a = nullptr,
                *x_g = nullptr;
    const float *w0 = nullptr, *a0 = nullptr, *v0 = nullptr, *k_k = nullptr, *k_a = nullptr;
    const float *r_k = nullptr, *lnx_w = nullptr, *lnx_b = nullptr, *ffn_x_k = nullptr;
    DeviceMatrix w1, w2, a1, a2, v1, v2, g1, g2;
    DeviceMatrix receptance, key, value, output, ffn_key, ffn_value;
};

struct DeviceAttnBlock {
    const float *ln1_w = nullptr, *ln1_b = nullptr, *ln2_w = nullptr, *ln2_b = nullptr;
    const float* ffn_x_k = nullptr;
    DeviceMatrix query, key, value, output, ffn_key, ffn_value;
};

// Device scratch for up to `rows` tokens (layout in cuda_model.cpp).
struct DeviceWorkspace {
    int rows = 0;
    float *x = nullptr, *u = nullptr, *xr = nullptr, *xw = nullptr, *xk = nullptr, *xv = nullptr,
          *xa = nullptr, *xg = nullptr;
    float *r = nullptr, *k = nullptr, *v = nullptr, *w = nullptr, *a = nullptr, *vg = nullptr,
          *g = nullptr, *alpha = nullptr, *beta = nullptr, *y = nullptr, *out = nullptr,
          *kx = nullptr, *v_first = nullptr;
    float* lora_hidden = nullptr;  // [rows][Dw + Da + Dg + Dv]
    float* ffn_hidden = nullptr;   // [rows][F]
    void* ffn_rounded = nullptr;   // [rows][max(F, ranks)] 16-bit: the value product's input
    // The LoRA up products' 16-bit inputs ([rows][Dw + Da + Dg + Dv], lora_inner_n): the same
    // memory as ffn_rounded, which the channel mix fills only after the time mix is done with it.
    void* lora_rounded = nullptr;
    float* logits = nullptr;       // [logit_rows][V]
    int logit_rows = 0;            // min(rows, kHeadPieceRows): more go in pieces
    int* selected = nullptr;       // [rows][H][top_k - 1] sparse attention choices
    int selected_per_row = 0;      // capacity of `selected` per row (H * 15)
    float* trace_weights = nullptr;  // [rows][H][top_k - 1] their softmax shares (traced calls)
    float* wkv_prep = nullptr;       // the chunked WKV-7 pre-pass (head size 64; else null)
};

class CudaState;

// "1.50 GiB", or "12.3 MiB" below a GiB, for messages.
std::string memory_size(std::size_t bytes);

// A run of consecutive entries of the model's block_order, [begin, end), launched as one piece:
// with LN0 before it when it starts the model, with the final LN and the head after it when it
// ends the model (and rows are wanted). A one-token call with graphs replays each such run
// between attention blocks from its own CUDA graph (cuda_forward.cpp).
struct BlockSpan {
    int begin = 0, end = 0;
    bool ln0 = false, head = false;
};

class CudaModel final : public DeviceModel {
public:
    static Result<std::unique_ptr<DeviceModel>> create(const Model::Impl& model);
    ~CudaModel() override;

    std::string describe() const override;
    Result<void> warm_up(State::Impl& s, int next_tokens) override;
    bool lost() override;
    Result<void> forward(State::Impl& s, std::span<const token_id> tokens, bool all_rows,
                         std::vector<float>& logits, ForwardTrace* trace) override;

    // A traced call is in progress: attention blocks compute their chunks' softmax shares
    // (ws.trace_weights) next to their choices (ws.selected) and record both.
    bool tracing() const { return m_trace.trace != nullptr; }
    // Attention block `block`'s choices and shares for the n rows of the current segment, from
    // the device (`selected`, `weights`: [n][H][top_k - 1]), into the call's trace
    // (cuda_trace.cpp). Synchronous (the copies wait for the launches before them).
    Result<void> record_trace_rows(int block, int n, int top_k, const int* selected,
                                   const float* weights);

    const ModelConfig& config() const { return m_model.config; }
    const Model::Impl& host() const { return m_model; }
    MatmulContext& matmul_context() { return m_matmul; }
    // The stream every launch of a call goes to: the legacy default stream, or the capture
    // stream while a decode graph is being recorded (cuda_forward.cpp).
    cuda_stream stream() const { return m_stream; }
    const DeviceWorkspace& workspace() const { return m_ws; }
    const std::vector<DeviceRwkvBlock>& rwkv() const { return m_rwkv; }
    const std::vector<DeviceAttnBlock>& attn() const { return m_attn; }

    // The host buffer `buffer` (0 or 1) of attention block `block` that a segment's new KV rows
    // are copied back into for the host caches (CudaState::new_rows, keep_new_rows), page-locked
    // where the driver grants it. The model's, not a state's: calls run one at a time (the
    // model's mutex), and a row buffer is appended from before its call returns. So a new
    // state, a question's fork or a reading's next state pins nothing, and the first small call
    // after a prefill frees nothing; the buffers keep their largest size (2 x 8 blocks x 1,024
    // rows x 20 KB = 336 MB at the 3.6B shape after a prefill) until the model is destroyed.
    HostRows& kv_row_buffer(int buffer, int block);
    // The staging buffers every KvUploader shares (cuda_kv_upload.h): a dense mirror's catch-up
    // and a paged state's loads, a question's fork's among them, pin nothing once they are sized.
    KvStaging& kv_staging() { return m_kv_staging; }

    // Device scratch of at least `bytes` for stage 2 of sparse attention
    // (sparse_attention_scratch_bytes: the tensor-core prefill, or decode's split keys), kept and
    // grown by half again when too small; {} for 0 bytes, and {} when the GPU has no room for it
    // (the call then takes the float32 kernels, one block per pair in decode). Not charged to the
    // KV budget (~22 MB for a 1,024-row segment of the 3.6B shape with top_k 3, 169 KB for a
    // token). Never called during a graph capture: attention blocks are launched plainly.
    SparseAttentionScratch attention_scratch(std::size_t bytes);

    // KV mirror memory accounting against the budget; charge fails with a message that says
    // how much is in use and what to do. Before failing it takes back the device KV of the
    // other states (reclaim_idle_pools).
    Result<void> charge_kv(std::size_t bytes);
    void release_kv(std::size_t bytes);
    // Budget bytes not charged yet (what a paged KV pool may still take).
    std::size_t kv_available();

    // Every CudaState of the model registers itself (constructor, destructor). A paged KV pool
    // and the dense mirrors are caches of their state's host rows, and calls run one at a time,
    // so when the budget runs out those of the states not in the current call are freed (they
    // reload their rows when next used): a fork, or a second document, then fits beside the first.
    void register_state(CudaState* state);
    void unregister_state(CudaState* state);
    // Frees the device KV (pools, dense mirrors) of every registered state but the one in the
    // current call; the bytes freed.
    std::size_t reclaim_idle_pools();

private:
    explicit CudaModel(const Model::Impl& model) : m_model(model) {}
    Result<void> upload_weights();
    Result<void> allocate_workspace();
    // The scratch's bytes for m_segment_rows rows; with `base`, also lays it out there into *out.
    std::size_t workspace_layout(std::byte* base, DeviceWorkspace* out) const;
    std::size_t workspace_bytes() const;
    // One cut of a call (up to m_segment_rows tokens): embedding, blocks, and the head when
    // want_rows (into the workspace; download_logits brings them to the host). `graphs`
    // (one-token calls only): the blocks by decode_graphed.
    Result<void> run_segment(State::Impl& s, CudaState& st, const token_id* tokens, int n,
                             bool want_rows, bool last_only, bool graphs);
    // The head's rows of the segment just run (1 with last_only, else n) into logits_out; waits
    // for the segment.
    Result<void> download_logits(int rows, float* logits_out);
    // An all-rows segment longer than the logits scratch: the head over the workspace's rows
    // (normalised by run_blocks) a piece of logit_rows at a time, each downloaded in turn.
    Result<void> head_in_pieces(int rows, float* logits_out);
    // Each attention block's n new rows (rows[j]: keys, then values) into its host cache.
    Result<void> append_host_rows(State::Impl& s, const std::vector<const float*>& rows, int n);
    // The embedding rows of tokens into the workspace's x (host conversion, asynchronous upload;
    // the device LayerNorm LN0 comes with the blocks).
    Result<void> embed(const token_id* tokens, int n);
    // The blocks and the head over the n rows in the workspace (the head: the last row only
    // when last_only, into the workspace's logits); no host transfer, so capturable.
    Result<void> blocks_and_head(State::Impl& s, CudaState& st, int n, bool want_rows,
                                 bool last_only);
    // The launches of one span of blocks over the workspace's n rows. Capturable when the span
    // holds no attention block with active attention.
    Result<void> run_blocks(State::Impl& s, CudaState& st, const BlockSpan& span, int n,
                            bool last_only);
    // blocks_and_head for a one-token call with graphs: every span without active attention
    // replayed from the state's graph for it (captured on first use), attention blocks launched
    // as usual in between. Any capture failure runs that span (and every later one, for good)
    // with plain launches instead.
    Result<void> decode_graphed(State::Impl& s, CudaState& st, bool attention);
    // Span `segment` from its graph: true when it was launched, false when graphs cannot be used
    // (the caller then launches the span itself).
    Result<bool> launch_graph(State::Impl& s, CudaState& st, int segment, int segments,
                              const BlockSpan& span);

    const Model::Impl& m_model;  // owns this object
    int m_segment_rows = kSegmentRows;  // segment_rows() at load: the workspace's row count
    cuda_stream m_stream = nullptr;
    // The trace of the call in progress (null: untraced), the call's token count and the first
    // token of the segment being run.
    struct TraceTarget {
        ForwardTrace* trace = nullptr;
        int call_tokens = 0;
        int segment_start = 0;
    } m_trace;
    cuda_stream m_capture_stream = nullptr;  // created on the first capture
    // Recorded after a segment's KV rows are enqueued for the host, one per row buffer
    // (CudaState::new_rows); created with the model, as m_embed_uploaded.
    CUevent_st* m_rows_copied[2] = {nullptr, nullptr};
    // Decode graphs wanted: RuntimeOptions::cuda_graphs, or LECTERN_CUDA_GRAPHS (cuda_model.cpp).
    bool m_graphs_enabled = false;
    bool m_graphs_failed = false;  // a capture failed once: stay on the plain path
    DeviceInfo m_info;
    DeviceBuffer m_weights;  // every matrix and vector, 256-byte aligned pieces
    std::size_t m_weight_bytes = 0;
    std::vector<DeviceRwkvBlock> m_rwkv;
    std::vector<DeviceAttnBlock> m_attn;
    const float *m_ln0_w = nullptr, *m_ln0_b = nullptr, *m_ln_out_w = nullptr,
                *m_ln_out_b = nullptr;
    DeviceMatrix m_head;
    MatmulContext m_matmul;
    DeviceBuffer m_work;
    DeviceWorkspace m_ws;
    DeviceBuffer m_attention_scratch;  // attention_scratch()
    std::size_t m_attention_scratch_bytes = 0;
    // The embedding rows of the last two segments, page-locked where the driver grants it: a
    // segment's rows are uploaded asynchronously (embed), so the host goes on to launch the next
    // segment while the GPU works; a buffer is rewritten only after its upload (the event).
    HostRows m_embed_rows[2];
    std::vector<HostRows> m_kv_rows[2];  // kv_row_buffer(): per buffer, one per attention block
    KvStaging m_kv_staging;  // kv_staging(): empty until the first upload
    CUevent_st* m_embed_uploaded[2] = {nullptr, nullptr};
    int m_embed_next = 0;
    std::size_t m_kv_budget = 0;
    std::size_t m_kv_used = 0;
    // Guards m_kv_used: a State may be destroyed (release_kv) on another thread than a call.
    std::mutex m_kv_mutex;
    // The registered states (reclaim_idle_pools) and the one in the current call (forward).
    // m_states_mutex is never held while m_kv_mutex is: a pool's release takes the latter.
    std::mutex m_states_mutex;
    std::vector<CudaState*> m_states;
    CudaState* m_active = nullptr;
    // Marks a state as in a call (or warm_up) while it lives: reclaim_idle_pools leaves it alone.
    struct ActiveState {
        CudaState*& slot;
        ActiveState(CudaState*& active, CudaState& st) : slot(active) { slot = &st; }
        ~ActiveState() { slot = nullptr; }
    };
    // The state's device copy, made if it has none yet (nothing uploaded).
    CudaState& device_state(State::Impl& s);
    // Upload what the device copy lacks (the recurrent state after a CPU call or for a fresh
    // state; the KV rows, with room for T more): the start of every call, and warm_up.
    Result<void> bring_up(State::Impl& s, CudaState& st, int T);
};

}  // namespace lectern::cuda
