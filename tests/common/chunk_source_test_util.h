// Shared by the tests that serve a state's complete KV chunks from a ChunkSource of their own
// (tst_disk_backed_cache, tst_cuda_chunk_source), as a reopened document store's are served from
// disk: the chunks are moved out of memory into one source per attention block.
#pragma once

#include <memory>
#include <vector>

#include "attention/kv_cache_impl.h"
#include "attention/kv_chunk_store.h"
#include "infer/state_impl.h"
#include "lectern/inference.h"

namespace chunk_source_test {

// Every attention block's complete chunks handed to a new Source (a ChunkSource with a public
// `chunks` vector it serves from) and dropped from the block's memory. One source per block.
template <class Source>
std::vector<std::shared_ptr<Source>> move_chunks_to_sources(lectern::State& s) {
    std::vector<std::shared_ptr<Source>> sources;
    for (auto& kv : s.impl().kv) {
        lectern::ChunkStore& store = kv.impl().store;
        auto source = std::make_shared<Source>();
        for (std::int64_t c = 0; c < store.chunk_count(); ++c)
            source->chunks.push_back(store.shared_chunk(c));
        store.set_source(source);
        store.drop_resident(store.chunk_count());
        sources.push_back(source);
    }
    return sources;
}

}  // namespace chunk_source_test
