// KV chunk files of a document store (private to the engine): one file per complete chunk of one
// attention block, written once (crash-safe, core/atomic_file.h) and read back memory-mapped
// through a process-wide LRU with a RAM budget, so that an ask over a million-token document maps
// only the chunks its attention selects. Each head's k/v slice carries its own CRC-32, checked the
// first time that slice is read (a question touches a few heads of a few chunks; reading whole
// chunks to check them would cost ~10x the I/O). Format: docs/store-format.md.
// Tests: tests/store/tst_chunk_files.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "attention/kv_chunk_store.h"
#include "lectern/result.h"

namespace lectern {

// "<store>/kv/b<block>/c<index>.kv" (block: attention-block number, index: chunk number, both
// decimal without padding).
std::string chunk_file_path(const std::string& store_dir, int block, std::int64_t index);

// Write `chunk` (complete, any KvDType) as chunk `index` of attention block `block`. Returns the
// file's size. Errors name the file (full disk, permission, ...); nothing is left behind.
Result<std::uint64_t> write_chunk_file(const std::string& path, const KvChunk& chunk, int block,
                                       std::int64_t index);

// Shared by every DiskChunkSource of a process (or of one store): holds the mappings of recently
// used chunk files, unmapping the least recently used when the mapped bytes exceed the budget.
// A chunk still in use (a live shared_ptr) stays valid after eviction; its mapping goes away with
// the last reference. Thread-safe.
class ChunkFileCache {
public:
    explicit ChunkFileCache(std::uint64_t ram_budget_bytes);
    ~ChunkFileCache();
    std::uint64_t mapped_bytes() const;  // files currently held by the cache
    std::uint64_t budget() const;

    struct Impl;
    Impl& impl() { return *m_impl; }

private:
    std::unique_ptr<Impl> m_impl;
};

// Opens chunk files of one attention block on demand (ChunkSource for ChunkStore). Checks each
// file's header against (block, index, dtype, heads, rows) and size when mapping it; per-head
// CRCs are checked on first use of a head (KvChunk::checked_head).
std::shared_ptr<ChunkSource> make_disk_chunk_source(std::shared_ptr<ChunkFileCache> cache,
                                                    const std::string& store_dir, int block,
                                                    KvDType dtype, int n_head, int chunk_size);

// Read and check a whole chunk file (every head's CRC, the header, the size): `store verify`.
Result<void> verify_chunk_file(const std::string& path, int block, std::int64_t index,
                               KvDType dtype, int n_head, int chunk_size);

}  // namespace lectern
