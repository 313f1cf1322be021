// KvUploader (cuda_kv_upload.h): host KV rows packed as stored, through page-locked staging and
// a device piece buffer, widened on the device.
#include "cuda_kv_upload.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "attention/kv_packed_rows.h"
#include "cuda_check.cuh"
#include "cuda_engine_common.h"
#include "lectern/cuda/kv_widen.h"

namespace lectern::cuda {

namespace {

// Runs stage(h0, h1) over the heads [0, H) on up to `threads` threads (this one included).
void split_heads(int H, int threads, const std::function<void(int, int)>& stage) {
    std::vector<std::thread> started;
    int t = 1;
    try {
        for (; t < threads; ++t)
            started.emplace_back(stage, H * t / threads, H * (t + 1) / threads);
    } catch (const std::system_error&) {
        stage(H * t / threads, H);  // no thread to be had: the rest here
    }
    stage(0, H / threads);
    for (std::thread& th : started) th.join();
}

constexpr std::size_t align16(std::size_t n) { return (n + 15) / 16 * 16; }

}  // namespace

std::size_t KvPackedLayout::piece_stride() const {
    return align16(kv_packed_bytes(dtype, heads, piece_rows));
}

std::size_t KvPackedLayout::bytes() const {
    if (rows <= 0) return 0;
    return offset_of(pieces() - 1) + kv_packed_bytes(dtype, heads, rows_of(pieces() - 1));
}

int stage_threads(std::size_t bytes, int heads) {
    if (bytes < kParallelStageBytes) return 1;
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    return std::clamp(std::min(cores, kMaxStageThreads), 1, std::max(heads, 1));
}

KvDType host_rows_dtype(const KvCache::Impl& host, std::int64_t r0) {
    return r0 < host.store.chunk_count() * host.chunk_size() ? host.options.kv_dtype
                                                               : KvDType::f32;
}

bool kv_upload_widens_on_host() {
    static const bool on_host = [] {
        const char* v = std::getenv("LECTERN_CUDA_KV_UPLOAD");
        return v && std::string_view(v) == "f32";
    }();
    return on_host;
}

Result<void> pack_host_rows(const KvCache::Impl& host, std::int64_t r0,
                            const KvPackedLayout& layout, std::byte* out) {
    const int B = host.chunk_size();
    const int H = layout.heads;
    const std::int64_t n = layout.rows;
    if (n <= 0) return {};
    const std::int64_t chunk_rows = host.store.chunk_count() * B;
    const std::size_t esize = kv_dtype_size(layout.dtype);
    const std::size_t row_bytes = kv_head_dim * esize;
    // Head h's share of every piece: its m rows of keys, then of values, from `k`, `v` (which
    // point at the first row to pack).
    const auto copy_head = [&](int h, const std::byte* k, const std::byte* v) {
        for (int p = 0; p < layout.pieces(); ++p) {
            const int m = layout.rows_of(p);
            const std::size_t slice = std::size_t(m) * row_bytes;
            std::byte* at = out + layout.offset_of(p) + std::size_t(h) * 2 * slice;
            const std::size_t from = std::size_t(p) * std::size_t(layout.piece_rows) * row_bytes;
            std::memcpy(at, k + from, slice);
            std::memcpy(at + slice, v + from, slice);
        }
    };
    if (r0 < chunk_rows) {
        const std::int64_t c = r0 / B;
        auto chunk = host.store.acquire(c);
        if (!chunk) return chunk.error();
        const bool widen_here = layout.dtype == KvDType::f32 && (*chunk)->dtype() != KvDType::f32;
        if (((*chunk)->dtype() != layout.dtype && !widen_here) || (*chunk)->heads() != H)
            return make_error("KV chunk " + std::to_string(c) +
                              " is not stored as the cache's other chunks");
        const std::size_t first = std::size_t(r0 - c * B) * row_bytes;
        const int i0 = int(r0 - c * B);
        // A whole chunk of the 3.6B shape is 21 MB in f16; the heads (and each head's check on
        // first use) go to several threads.
        std::vector<std::optional<Error>> failed(static_cast<std::size_t>(H));
        std::vector<float> scales(std::size_t(H) * 2);
        const auto stage = [&](int h0, int h1) {
            for (int h = h0; h < h1; ++h) {
                auto rows = (*chunk)->checked_head(h);
                if (!rows) {
                    failed[std::size_t(h)] = rows.error();
                    continue;
                }
                if (widen_here) {  // LECTERN_CUDA_KV_UPLOAD=f32: the host converts, the bus
                    // carries float32 (the path before the device widened rows)
                    for (int p = 0; p < layout.pieces(); ++p) {
                        const int m = layout.rows_of(p);
                        auto* at = reinterpret_cast<float*>(out + layout.offset_of(p)) +
                                   std::size_t(h) * 2 * std::size_t(m) * kv_head_dim;
                        for (int i = 0; i < m; ++i) {
                            const int row = i0 + p * layout.piece_rows + i;
                            kv_load_row(*rows, false, row, at + std::size_t(i) * kv_head_dim);
                            kv_load_row(*rows, true, row,
                                        at + std::size_t(m + i) * kv_head_dim);
                        }
                    }
                } else {
                    copy_head(h, static_cast<const std::byte*>(rows->k) + first,
                              static_cast<const std::byte*>(rows->v) + first);
                }
                scales[std::size_t(h) * 2] = rows->k_scale;
                scales[std::size_t(h) * 2 + 1] = rows->v_scale;
            }
        };
        split_heads(H, stage_threads(layout.bytes(), H), stage);
        for (const auto& e : failed)
            if (e) return *e;
        if (layout.dtype == KvDType::int8)
            for (int p = 0; p < layout.pieces(); ++p)
                std::memcpy(out + layout.offset_of(p) +
                                std::size_t(H) * 2 * std::size_t(layout.rows_of(p)) * row_bytes,
                            scales.data(), scales.size() * sizeof(float));
        return {};
    }
    if (layout.dtype != KvDType::f32) return make_error("the KV tail is packed as float32");
    // The tail is float32: up to a chunk's 42 MB at the 3.6B shape, on several threads too.
    const std::size_t first = std::size_t(r0 - chunk_rows) * row_bytes;
    split_heads(H, stage_threads(layout.bytes(), H), [&](int h0, int h1) {
        for (int h = h0; h < h1; ++h)
            copy_head(h, reinterpret_cast<const std::byte*>(host.tail.keys(h)) + first,
                      reinterpret_cast<const std::byte*>(host.tail.values(h)) + first);
    });
    return {};
}

KvStaging::~KvStaging() {
    for (int i = 0; i < 2; ++i) {
        if (m_copied[i]) {
            cudaEventSynchronize(static_cast<cudaEvent_t>(m_copied[i]));
            cudaEventDestroy(static_cast<cudaEvent_t>(m_copied[i]));
        }
        if (m_pinned[i]) cudaFreeHost(m_pinned[i]);
    }
}

KvUploader::~KvUploader() {
    (void)finish();  // the buffers stay the model's; the rows they carry must have arrived
}

Result<void> KvUploader::finish() {
    for (int i = 0; i < 2; ++i)
        if (m_staging.m_copied[i])
            LECTERN_CUDA_TRY(cudaEventSynchronize(static_cast<cudaEvent_t>(m_staging.m_copied[i])));
    return {};
}

int KvUploader::piece_rows(KvDType dtype) {
    static const int set = [] {
        const char* v = std::getenv("LECTERN_CUDA_KV_PIECE_ROWS");
        return v ? std::max(0, std::atoi(v)) : 0;
    }();
    return set > 0 ? set : kPieceRows * int(sizeof(float) / kv_dtype_size(dtype));
}

Result<void> KvUploader::upload(const KvCache::Impl& host, std::int64_t r0, std::int64_t n,
                                std::size_t C, float* keys, float* values) {
    if (n <= 0) return {};
    KvPackedLayout layout;
    layout.dtype = kv_upload_widens_on_host() ? KvDType::f32 : host_rows_dtype(host, r0);
    layout.heads = int(C / kv_head_dim);
    layout.rows = n;
    layout.piece_rows = piece_rows(layout.dtype);
    const cudaStream_t stream = m_model.stream();
    KvStaging& st = m_staging;
    std::size_t piece_bytes = 0;  // the largest piece of any precision (int8 adds its scales)
    for (const KvDType d : {KvDType::f32, KvDType::f16, KvDType::int8})
        piece_bytes = std::max(
            piece_bytes, KvPackedLayout{d, layout.heads, piece_rows(d), piece_rows(d)}.bytes());
    if (st.m_piece.size() < piece_bytes) {
        auto piece = DeviceBuffer::allocate(piece_bytes);
        if (!piece) return piece.error();
        st.m_piece = std::move(*piece);  // (freeing the old one waits for the work that reads it)
    }
    const int i = st.m_next;
    st.m_next ^= 1;
    if (st.m_copied[i]) {
        // This buffer's previous DMA must be done before it is refilled.
        LECTERN_CUDA_TRY(cudaEventSynchronize(static_cast<cudaEvent_t>(st.m_copied[i])));
    } else {
        cudaEvent_t e = nullptr;
        LECTERN_CUDA_TRY(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
        st.m_copied[i] = e;
    }
    if (st.m_staged_bytes[i] < layout.bytes()) {
        // The most one upload carries (rows of one chunk, float32 at most), at once: an open
        // chunk's rows grow by one per token, and so would the buffer.
        const std::size_t want = std::max(
            layout.bytes(), KvPackedLayout{KvDType::f32, layout.heads, host.chunk_size(),
                                           piece_rows(KvDType::f32)}
                                .bytes());
        if (st.m_pinned[i]) cudaFreeHost(st.m_pinned[i]);
        st.m_pinned[i] = nullptr;
        st.m_staged_bytes[i] = 0;
        st.m_pageable[i] = {};
        void* p = nullptr;
        if (cudaHostAlloc(&p, want, cudaHostAllocDefault) == cudaSuccess) {
            st.m_pinned[i] = static_cast<std::byte*>(p);
        } else {
            // No page-locked memory to be had: pageable memory works, slower (the driver copies
            // it through its own staging before the call returns).
            cudaGetLastError();
            st.m_pageable[i].resize(layout.bytes());
        }
        st.m_staged_bytes[i] = st.m_pinned[i] ? want : layout.bytes();
    }
    std::byte* staged = st.m_pinned[i] ? st.m_pinned[i] : st.m_pageable[i].data();
    if (auto ok = pack_host_rows(host, r0, layout, staged); !ok) return ok;
    for (int p = 0; p < layout.pieces(); ++p) {
        const int m = layout.rows_of(p);
        const std::size_t at = std::size_t(p) * std::size_t(layout.piece_rows) * C;
        LECTERN_CUDA_TRY(cudaMemcpyAsync(st.m_piece.data(), staged + layout.offset_of(p),
                                         kv_packed_bytes(layout.dtype, layout.heads, m),
                                         cudaMemcpyHostToDevice, stream));
        LECTERN_TRY(kv_widen_rows(layout.dtype, layout.heads, m, st.m_piece.data(), C, keys + at,
                                  values + at, stream));
    }
    LECTERN_CUDA_TRY(cudaEventRecord(static_cast<cudaEvent_t>(st.m_copied[i]), stream));
    return {};
}

}  // namespace lectern::cuda
