// The small files of a document store (private to the engine): recurrent-state checkpoints, token
// segments (tokens and their source byte offsets) and chunk-mean segments. Each is written once
// under a new name (core/atomic_file.h) and listed in the manifest with its size and CRC-32, which
// is checked whenever the file is read. Format: docs/store-format.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "infer/state_impl.h"
#include "lectern/result.h"
#include "store/manifest.h"

namespace lectern {

// "checkpoints/ck<position>.state", "tokens/t<begin>-<end>.tok", "kv/b<block>/m<first>-<end>.mean"
std::string checkpoint_rel_path(std::int64_t position);
std::string segment_rel_path(std::int64_t begin, std::int64_t end);
std::string means_rel_path(int block, std::int64_t first, std::int64_t end);
// "sources/s<index>.att": the caller's opaque attachment of source <index>.
std::string attachment_rel_path(std::size_t source_index);

// Write `bytes` crash-safely as dir/rel; returns the listing (size, CRC). Errors name the file.
Result<ListedFile> write_listed_file(const std::string& dir, const std::string& rel,
                                     std::span<const std::byte> bytes);
// Read dir/f.path whole and check its size and CRC against the listing. Errors name the file and
// say what to do.
Result<std::vector<std::byte>> read_listed_file(const std::string& dir, const ListedFile& f);

// What a checkpoint holds: the recurrent state, the position, and per attention block the float32
// rows of its incomplete chunk ([head][rows][64]).
struct CheckpointData {
    std::int64_t position = 0;
    RecurrentState rec;
    std::vector<int> tail_rows;                           // [attention block]
    std::vector<std::vector<std::vector<float>>> tail_k;  // [block][head] -> rows * 64
    std::vector<std::vector<std::vector<float>>> tail_v;
};

std::vector<std::byte> encode_checkpoint(const State::Impl& state);
// Checks magic, version, its own CRC and the model's shape. Errors do not name the file.
Result<CheckpointData> decode_checkpoint(std::span<const std::byte> bytes, const ModelConfig& c,
                                         int chunk_size);
std::uint64_t checkpoint_size(const ModelConfig& c, std::int64_t tail_rows_total);

std::vector<std::byte> encode_segment(std::int64_t begin, std::span<const token_id> tokens,
                                      std::span<const std::int64_t> offsets);
// The tokens and offsets of a segment file whose listing says it holds [begin, end).
Result<void> decode_segment(std::span<const std::byte> bytes, std::int64_t begin,
                            std::int64_t end, std::vector<token_id>* tokens,
                            std::vector<std::int64_t>* offsets);
std::uint64_t segment_size(std::int64_t tokens);

// means: [chunks][H][64] floats.
std::vector<std::byte> encode_means(int block, std::int64_t first, std::int64_t end, int n_head,
                                    std::span<const float> means);
Result<std::vector<float>> decode_means(std::span<const std::byte> bytes, int block,
                                        std::int64_t first, std::int64_t end, int n_head);
std::uint64_t means_size(std::int64_t chunks, int n_head);

}  // namespace lectern
