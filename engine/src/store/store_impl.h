// DocumentStore::Impl and the helpers its .cpp files share (private to the engine). The store's
// code is split by concern: store_open.cpp (create/open/summary/verify, cleaning leftovers),
// store_ingest.cpp (sources, the ingest loop and the commit protocol), store_read.cpp (load_state,
// tokens and offsets, attended ranges).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "lectern/document_store.h"
#include "store/chunk_files.h"
#include "store/manifest.h"

namespace lectern {

struct DocumentStore::Impl {
    std::string dir;
    std::shared_ptr<const Model> model;
    StoreRuntime runtime;
    Manifest manifest;             // what is committed
    std::uint64_t manifest_bytes = 0;
    std::shared_ptr<ChunkFileCache> cache;

    // The ingest state at manifest.tokens, kept between ingest calls so that a resumed call does
    // not re-read the checkpoint; reset after any error (it may then be past the commit).
    std::optional<State> work;

    // Chunk means per attention block ([chunk][H][64]) read from the means files, shared by every
    // load_state; grows as ingest commits.
    mutable std::mutex means_mutex;
    mutable std::vector<std::vector<float>> means;
    mutable std::int64_t means_chunks = 0;  // chunks `means` covers (all blocks alike)

    // A State at `position` (0 or a checkpoint's): recurrent state and KV tails from the
    // checkpoint, complete chunks from the chunk files. Errors name the file.
    Result<State> build_state(std::int64_t position) const;
    // Makes `means` cover the first `chunks` chunks of every block.
    Result<void> load_means(std::int64_t chunks) const;
};

// Write `m` as dir/manifest.json (atomically); returns its size.
Result<std::uint64_t> write_manifest(const std::string& dir, const Manifest& m);

// "64 MB", "1.5 GB", "812 bytes"; and 812000 -> "812,000".
std::string human_bytes(std::uint64_t bytes);
std::string with_commas(std::int64_t n);

}  // namespace lectern
