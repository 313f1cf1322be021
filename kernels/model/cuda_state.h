// CudaState: one State's data on the GPU. The recurrent state lives twice (committed and work):
// a call runs on the work copy and swaps only when it succeeded, so a failed call leaves the
// state as it was. Each attention block keeps its chunk means on the device, and its KV rows
// either as a dense float32 mirror (the layout the sparse attention kernels read: [rows][C], every
// position) while every block's mirror fits the GPU memory budget, or, once one does not, in the
// paged cache of cuda_kv_pages.h (chunk slots, LRU, loads from the host). The host KvCache stays
// complete; rows the device lacks (a reopened document, rows a CPU call appended) are uploaded or
// paged in from it. A dense state whose mirrors do not fit the budget twice lends them to its fork
// instead of copying them (KvLoan, cuda_state_lend.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "attention/kv_cache_impl.h"
#include "cuda_kv_pages.h"
#include "cuda_model.h"
#include "infer/state_impl.h"

namespace lectern::cuda {

struct KvMirror {
    DeviceBuffer keys, values;       // [capacity][C] float32 (dense mode)
    DeviceBuffer means;              // [mean_capacity][C] float32
    std::int64_t capacity = 0;       // rows (dense mode; 0 when paged)
    std::int64_t rows = 0;           // rows equal to the host cache's first rows
    std::int64_t mean_chunks = 0;
    std::int64_t mean_capacity = 0;  // chunks
    std::size_t charged = 0;         // bytes charged to the model's budget
    bool borrowed = false;           // keys, values and means are a lender's (KvLoan)

    // The bytes the mirror holds on the device: its charge, or a borrowed one's buffers (the
    // lender's loan carries their charge).
    std::size_t bytes() const {
        return borrowed ? keys.size() + values.size() + means.size() : charged;
    }
    // The chunk means' next capacity when `chunks` do not fit: a quarter more (and 16) than
    // `from`, so appending one chunk at a time reallocates rarely (CudaState::reserve_means; a
    // borrowing fork's own means start at it, from the chunks it copies).
    static std::int64_t grown_mean_capacity(std::int64_t from, std::int64_t chunks) {
        return std::max(chunks, from + from / 4 + 16);
    }
};

class CudaState;

// A dense state's KV mirrors lent to its fork (State::fork when the budget has no room for a
// copy: a question forked from a document's state on a card that holds the document once). The
// fork reads the lender's rows in place and appends its own after them, inside the lender's
// spare capacity; the lender's open chunk (rows past its last complete chunk, which the fork's
// sealing may round) is saved first and restored when the mirrors come back. They come back when
// the fork is destroyed, grows them, turns paged or is reclaimed as idle; or when the lender is
// used again, which takes them from the fork (whose next call uploads from the host). Shared by
// both; `lock` guards it and the borrower's borrowed mirrors, since a state may be destroyed on
// another thread than the one running calls.
struct KvLoan {
    struct Block {
        bool out = false;                     // the buffers are in the borrower's mirror
        bool adopted = false;                 // the borrower kept them (the lender uploads again)
        DeviceBuffer keys, values, means;     // given back, waiting for the lender
        std::size_t charged = 0;              // the lender's budget charge for them
        DeviceBuffer open_keys, open_values;  // the lender's open-chunk rows
        std::int64_t open_from = 0, open_rows = 0;
        std::size_t open_charged = 0;
    };
    std::mutex lock;
    CudaState* borrower = nullptr;  // null once it is destroyed
    bool lender_alive = true;
    std::vector<Block> blocks;
};

// A paged state's slot pool lent to its fork (State::fork of a document whose KV rows are paged:
// the app's question). Without it the fork started with an empty pool, took the budget back from
// the document's idle pool, and loaded every chunk its question selected from the host again (a
// chunk of the 3.6B shape is 42 MB); the document then did the same at its next call. The fork
// runs on the document's slots as they are: they hold the same rows, since complete chunks never
// change. What the fork writes from the chunk the lender's rows end in on (its own rows; a chunk
// it completes and seals) is forgotten when the pool comes back. It comes back when the fork is
// destroyed (parked here until the lender's next call or fork picks it up) or when the lender is
// used again while the fork lives (recalled: the fork's next call loads what it needs). The
// borrower's chunk means are its own copy. Shared by both; `lock` guards it, since a state may be
// destroyed on another thread than the one running calls.
struct PoolLoan {
    std::mutex lock;
    CudaState* borrower = nullptr;          // holds the pool; null once it gave it back or died
    bool lender_alive = true;
    std::vector<std::int64_t> lender_rows;  // per block: the lender's device rows when it lent
    std::unique_ptr<KvPages> returned;      // given back by the borrower, waiting for the lender
};

class CudaState final : public DeviceState {
public:
    CudaState(CudaModel& model, int chunk_size);
    ~CudaState() override;

    Result<void> download(RecurrentState& out) override;
    Result<void> upload(const RecurrentState& in);
    // A device copy (recurrent state and dense KV mirrors, copied on the device) when this state
    // is dense and the budget has room for the copy's mirrors without taking anyone's back;
    // null otherwise (paged, or no room: the fork uploads from the host when it first runs).
    std::unique_ptr<DeviceState> fork() const override;
    // "KV rows on the GPU: ..." (dense) or "paged KV cache on the GPU: ..." (cuda_state_paged.cpp).
    std::string memory_note() const override;

    // The flat recurrent layout: per RWKV block att_shift [C], wkv [H*N*N], ffn_shift [C]; then
    // per attention block ffn_shift [C].
    float* att_shift(int i) { return m_work + rwkv_offset(i); }
    float* wkv(int i) { return att_shift(i) + m_C; }
    float* ffn_shift(int i) { return wkv(i) + m_wkv; }
    float* attn_ffn_shift(int j) { return m_work + rwkv_offset(m_n_rwkv) + std::size_t(j) * m_C; }

    // Start a call: work := committed. Finish it: committed := work (a pointer swap).
    Result<void> begin();
    void commit();

    KvMirror& kv(int j) { return m_kv[std::size_t(j)]; }

    // Frees the device's copy of the KV cache that the host cache can give back (for
    // CudaModel::reclaim_idle_pools; never during this state's own call): the paged pool (its
    // chunks are reloaded when next needed), or the dense mirrors with their means (uploaded again
    // by the next call); borrowed mirrors go back to their lender. The bytes freed.
    std::size_t release_pool();

    // Decode graphs (cudaGraphExec_t), one per span of a one-token call (`segments` of them:
    // the runs between attention blocks, or the whole call) and per work buffer, since a graph
    // keeps the recurrent-state pointers it was captured with and the buffers swap every call;
    // null until captured. Owned: destroyed with the state. Names the current work buffer's.
    void*& graph_slot(int segment, int segments);
    // Before a call of T rows: every block's device KV caught up with its host cache and room
    // for T more rows. Dense mirrors while they fit the budget; when one does not, the state
    // switches to the paged cache for good (its dense rows are dropped, the means kept).
    Result<void> prepare(const std::vector<KvCache>& hosts, int T);
    bool paged() const { return m_pages != nullptr; }
    KvPages& pages() { return *m_pages; }
    // Slots that would hold every chunk of every block at `rows` rows, or at the end of the call
    // being prepared if that is later (the pool never needs more).
    int useful_slots(std::int64_t rows) const;
    // Paged mode: keep the rows a call computed for block j ([T][C] device keys and values) on
    // the host until forward() appends them to the host cache (in buffer 0; the copy is enqueued
    // on the model's stream, and forward() waits for the segment's event before it appends).
    Result<void> keep_new_rows(int j, const float* keys, const float* values, int T);
    // The n rows the segment just run appended to block j after its mirror's rows (k.rows), for
    // the host: keys [n][C] then values [n][C], in host buffer `buffer` (0 or 1) of block j.
    // Dense: the copy is only enqueued on the model's stream (into page-locked rows where the
    // driver grants them), so the rows are there once the stream has passed this point (forward()
    // records an event) and stay until the next copy into the same buffer; two buffers let one
    // segment's rows be appended while the next segment's are copied. Paged: keep_new_rows'.
    Result<const float*> new_rows(int j, int n, int buffer);
    // After a failed call: means and slots past the committed rows are not to be trusted.
    void rollback(int j);
    // A KV cache in f16 or int8: block j's chunk c is complete, and the host cache holds (or will
    // hold, once the rows are appended) it in that precision. The device rounds its copy of the
    // chunk's rows the same way, so later queries select and read the chunk exactly as the CPU
    // does (cuda_state_paged.cpp). Dense: in the mirror, with the mean computed there as the host
    // computes it (kv_sealed_key_mean, bit for bit), so no host rows are needed yet. Paged: in
    // its slot, if it has one, and the host's mean: the host must have appended the chunk.
    Result<void> seal_chunk(int j, const KvCache::Impl& host, std::int64_t c);

    // Dense mode. Room for `rows` rows in block j's mirror (grows geometrically within the budget).
    Result<void> reserve(int j, std::int64_t rows);
    // Upload the host cache's rows the mirror lacks, and their chunk means.
    Result<void> catch_up(int j, const KvCache::Impl& host);
    // Chunk means of every complete chunk of the first `rows` rows not yet averaged.
    Result<void> update_means(int j, std::int64_t rows);

private:
    std::size_t rwkv_offset(int i) const { return std::size_t(i) * (2 * m_C + m_wkv); }
    // Lending (cuda_state_lend.cpp). lend_to: this dense state's mirrors into `fork`'s; false
    // (nothing changed) when its open chunks cannot be saved. take_back: mirrors given back are
    // restored; with `recall`, also those still in a living fork (only from this state's own call
    // or fork, when the fork cannot be in a call). Whether nothing is out any more.
    bool lend_to(CudaState& fork);
    bool take_back(bool recall);
    // Borrower: block j's buffers back to the lender (or freed with the lender's charge when the
    // lender is gone: the bytes released), its mirror left empty. Under the loan's lock.
    std::size_t give_back(int j, KvLoan& loan);
    // Borrower: every borrowed mirror back (reclaim; `dying`: destruction); the bytes released.
    std::size_t give_back_all(bool dying);
    // Borrower: block j's mirror becomes its own, with the lender's charge (a mirror that must
    // grow and cannot beside the lender's: the lender uploads its rows again when it next runs,
    // as it did before loans when a fork took its memory). False when it is not borrowed.
    bool adopt(int j);
    // The bytes of the device's KV copy this state uses, borrowed or lent ones included.
    std::size_t kv_bytes() const;
    // Whether a fork holds mirrors of this state now.
    bool lending() const;
    // Lender: its loan ended by its destruction (what was given back is freed, what is out is
    // left to the borrower with its charge).
    void end_loan_as_lender();
    // Paged pool loans (PoolLoan, cuda_state_pool_loan.cpp). lend_pool_to: this paged state's
    // pool (and a copy of its chunk means) into `fork`; false (nothing changed) when the state
    // has no pool to lend or the budget has no room for the copied means. take_back_pool: the
    // lent pool back into this state's empty one, parked or recalled from the living fork (only
    // from this state's own call or fork, when the fork cannot be in a call). give_back_pool:
    // the borrower parks the pool in the loan for its lender (destruction). end_pool_loan: the
    // lender is gone (a parked pool is freed; one still out stays with the fork).
    bool lend_pool_to(CudaState& fork);
    bool borrows_pool() const;  // m_pages holds a lender's pool now
    void take_back_pool();
    void give_back_pool();
    void end_pool_loan();
    // Paged mode (cuda_state_paged.cpp).
    Result<void> switch_to_paged();
    Result<void> paged_catch_up(int j, const KvCache::Impl& host, int T);
    Result<void> reserve_means(int j, std::int64_t chunks);

    CudaModel& m_model;
    int m_chunk_size = 1;  // B of the state's attention options
    std::size_t m_C = 0, m_wkv = 0;
    int m_n_rwkv = 0;
    std::size_t m_floats = 0;  // recurrent floats
    DeviceBuffer m_a, m_b;
    float* m_committed = nullptr;
    float* m_work = nullptr;
    std::vector<KvMirror> m_kv;
    std::vector<float> m_staging;
    bool m_reserve_failed = false;               // a dense mirror did not fit: switch to paged
    std::int64_t m_call_end = 0;                 // rows after the call being prepared
    std::unique_ptr<KvPages> m_pages;            // paged mode
    // Paged: per block, the rows keep_new_rows copied into the model's row buffer for this
    // segment, until new_rows hands them out (the buffer is shared by every state).
    std::vector<int> m_kept_rows;
    std::vector<void*> m_graphs[2];  // per work buffer (m_a, m_b): cudaGraphExec_t per span
    std::shared_ptr<KvLoan> m_lent;  // lender: mirrors out on loan (or waiting to be restored)
    std::shared_ptr<KvLoan> m_borrowed;  // borrower: whose mirrors its `borrowed` blocks are
    std::shared_ptr<PoolLoan> m_pool_lent;      // lender: its paged pool out on loan
    std::shared_ptr<PoolLoan> m_pool_borrowed;  // borrower: whose pool m_pages holds
};

}  // namespace lectern::cuda
