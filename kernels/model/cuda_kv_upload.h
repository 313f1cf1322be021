// KvUploader: host KV rows onto the device, for a paged slot (KvPages::load) or a dense mirror
// (CudaState::catch_up). The host copies the rows as its cache stores them (pack_host_rows: f16
// chunks are half the bytes of float32 rows, int8 a quarter; the tail is float32), a chunk's
// heads on several threads, into one of two page-locked buffers; the DMA carries those bytes in
// pieces through a small device buffer, and kv_widen_rows (kernels/kv_widen.cu) writes each
// piece's float32 [rows][C] rows where they go. While one buffer's DMA runs, the host packs the
// next rows into the other. Everything runs on the model's stream. The buffers are the model's
// (KvStaging, CudaModel::kv_staging), shared by every uploader.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "attention/kv_cache_impl.h"
#include "cuda_model.h"

namespace lectern::cuda {

// How rows of `heads` heads pack: pieces of at most piece_rows rows, each laid out as
// kv_packed_rows.h says, one after another from 16-byte aligned offsets.
struct KvPackedLayout {
    KvDType dtype = KvDType::f32;
    int heads = 0;
    std::int64_t rows = 0;
    int piece_rows = 1;

    int pieces() const { return int((rows + piece_rows - 1) / piece_rows); }
    int rows_of(int piece) const {
        return int(std::min<std::int64_t>(piece_rows, rows - std::int64_t(piece) * piece_rows));
    }
    std::size_t piece_stride() const;        // bytes from one piece to the next
    std::size_t offset_of(int piece) const { return std::size_t(piece) * piece_stride(); }
    std::size_t bytes() const;               // all pieces
};

// Rows [r0, r0 + n) of the host cache (all inside one chunk, or all in the tail) in `layout`
// (layout.rows == n; layout.dtype the chunk's, float32 for the tail, or float32 for any chunk:
// widened here) into `out`, a chunk's heads on several threads (stage_threads). Errors: a chunk
// file that cannot be read or fails its check, a chunk of another precision than the layout's.
Result<void> pack_host_rows(const KvCache::Impl& host, std::int64_t r0,
                            const KvPackedLayout& layout, std::byte* out);
// The precision rows from r0 on are stored in: the cache's for complete chunks, float32 in the
// tail.
KvDType host_rows_dtype(const KvCache::Impl& host, std::int64_t r0);

// LECTERN_CUDA_KV_UPLOAD=f32: chunks are widened to float32 on the host and carried so, as before
// the device widened them (for a same-process A/B on a GPU).
bool kv_upload_widens_on_host();

// Threads pack_host_rows uses for `bytes` bytes of `heads` heads: one below kParallelStageBytes
// (a small copy is quicker than starting a thread), else up to the cores, at most
// kMaxStageThreads and one per head.
inline constexpr std::size_t kParallelStageBytes = std::size_t(4) << 20;
inline constexpr int kMaxStageThreads = 8;
int stage_threads(std::size_t bytes, int heads);

class KvUploader {
  public:
    // Rows per piece of float32 rows; a narrower precision takes as many more as fit the same
    // bytes (f16 512, int8 1,024), so a chunk of 2,048 rows is 8, 4 or 2 DMAs and launches. The
    // device buffer holds one piece (5 MB at C = 2560). LECTERN_CUDA_KV_PIECE_ROWS sets the rows
    // for every precision (tests: pieces shorter than the test models' chunks).
    static constexpr int kPieceRows = 256;
    static int piece_rows(KvDType dtype);

    explicit KvUploader(CudaModel& model) : m_model(model), m_staging(model.kv_staging()) {}
    ~KvUploader();  // waits for the DMAs
    KvUploader(const KvUploader&) = delete;
    KvUploader& operator=(const KvUploader&) = delete;

    // Rows [r0, r0 + n) of `host` (all inside one chunk, or all in the tail) into the device's
    // float32 rows keys, values ([n][C], C floats apart), stream-ordered.
    Result<void> upload(const KvCache::Impl& host, std::int64_t r0, std::int64_t n,
                        std::size_t C, float* keys, float* values);
    // Waits until every upload so far has reached the device.
    Result<void> finish();

  private:
    CudaModel& m_model;
    KvStaging& m_staging;
};

}  // namespace lectern::cuda
