// The manifest of a document store (private to the engine): manifest.json, the single commit
// point. It lists every file that belongs to the store with its size and CRC-32 (KV chunk files
// implicitly: every block has tokens / chunk_size of them, all chunk_file_bytes long, each
// checked by the per-head CRCs inside it). Anything in the folder it does not list is a leftover
// of an interrupted write. Format: docs/store-format.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/document_store.h"
#include "lectern/result.h"

namespace lectern {

inline constexpr int store_format_version = 1;
inline constexpr const char* manifest_name = "manifest.json";

// A file the manifest lists, by its path relative to the store folder.
struct ListedFile {
    std::string path;
    std::uint64_t bytes = 0;
    std::uint32_t crc = 0;  // CRC-32 of the whole file
};

// Tokens [begin, end) and their byte offsets.
struct TokenSegment {
    std::int64_t begin = 0, end = 0;
    ListedFile file;
};

// Mean keys of chunks [first, end) of one attention block.
struct MeansSegment {
    int block = 0;
    std::int64_t first = 0, end = 0;
    ListedFile file;
};

struct CheckpointEntry {
    std::int64_t position = 0;
    std::string label;
    // Periodic, a caller's mark, or the end of a source: kept for asking "as of" it. The others
    // (the end of an ingest call that is none of these, a cancel) only serve resuming and are
    // replaced by the next commit.
    bool keep = true;
    ListedFile file;
};

struct Manifest {
    int version = store_format_version;
    std::string model_sha256;
    std::string model_path;
    TokenizerIdentity tokenizer;
    StoreOptions options;
    int n_attn = 0;  // shape of the model's KV caches, for reading chunk files without it
    int n_head = 0;
    std::vector<SourceInfo> sources;
    // Per source (same length as `sources`): its attachment file; path empty when it has none.
    std::vector<ListedFile> attachments;
    std::int64_t tokens = 0;
    std::uint64_t chunk_file_bytes = 0;  // 0 while no chunk is complete
    std::vector<TokenSegment> segments;
    std::vector<MeansSegment> means;
    std::vector<CheckpointEntry> checkpoints;

    std::int64_t chunk_count() const { return tokens / options.attention.chunk_size; }
    std::int64_t tokens_expected() const;
    // Every listed file plus the chunk files (not the manifest itself).
    std::uint64_t listed_bytes() const;
    std::vector<const ListedFile*> files() const;
};

std::string manifest_to_json(const Manifest& m);
// Parses and checks the manifest's internal consistency (segments contiguous and covering
// [0, tokens), checkpoints sorted and <= tokens, ...). Errors do not name the file.
Result<Manifest> parse_manifest(std::string_view text);

std::string kv_dtype_label(KvDType t);  // "f32", "f16", "int8"

}  // namespace lectern
