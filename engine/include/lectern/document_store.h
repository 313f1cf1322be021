// Persistent document memory: one folder per document holding what the model learned while
// reading it once (recurrent-state checkpoints, the attention KV cache in chunk files, the token
// stream and a token -> source offset map), so that every later question processes only the
// question. Native attention only (its results do not depend on how the text was split into
// calls, so "ingest now, ask tomorrow" equals one pass over document + question).
// Format: docs/store-format.md. Tests: tests/store/.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lectern/inference.h"
#include "lectern/result.h"
#include "lectern/tokenizer.h"

namespace lectern {

// Fixed when a store is created; recorded in its manifest and used by every later ingest and ask.
struct StoreOptions {
    // mode must be native; kv_max/kv_min/kv_window must be 0. kv_dtype f16 by default here
    // (int8: a quarter of f32, a per-chunk, per-head scale; f32: exact, twice f16).
    AttentionOptions attention = default_attention();
    std::int64_t checkpoint_every = 65536;  // tokens between recurrent-state checkpoints (> 0)
    std::uint64_t disk_budget_bytes = 0;    // 0 = no limit; ingest stops with an error past it
                                            // (DocumentStore::set_disk_budget changes it)

    static AttentionOptions default_attention() {
        AttentionOptions a;
        a.kv_dtype = KvDType::f16;
        return a;
    }
};

// Per-process settings of an open store (not recorded).
struct StoreRuntime {
    // Memory-mapped KV chunk files kept open at once (least recently used are unmapped first):
    // bounds the memory an ask uses, whatever the document length.
    std::uint64_t ram_budget_bytes = std::uint64_t(512) << 20;
};

// Identifies the tokenizer the token stream was made with (kind "world" or "sentencepiece", and a
// SHA-256 of its vocabulary / model file). A store refuses a different one.
struct TokenizerIdentity {
    std::string kind;
    std::string sha256;
};

// One source appended to the store (most stores have one). Offsets in the token -> offset map
// count bytes of all sources concatenated in order (source i starts at the sum of the sizes of
// the sources before it).
struct SourceInfo {
    std::string name;    // file name as given, informational
    std::string sha256;  // of the source file's bytes (hex)
    std::uint64_t bytes = 0;
    std::string settings;          // ingest settings that produced the text (free-form, recorded)
    std::int64_t first_token = 0;  // filled by the store
    std::int64_t tokens = 0;       // tokens of this source (expected total while ingesting)
    // Filled by the store: size of the source's attachment (begin_source), 0 when it has none.
    std::uint64_t attachment_bytes = 0;
};

struct CheckpointInfo {
    std::int64_t position = 0;  // tokens consumed when the state was saved
    std::string label;          // "" for periodic ones; the caller's mark otherwise
    std::uint64_t bytes = 0;
};

// What `store info` shows; readable without loading the model.
struct StoreSummary {
    int format_version = 0;
    std::string model_sha256;
    std::string model_path;  // absolute path of the checkpoint it was made with (a hint for ask)
    TokenizerIdentity tokenizer;
    StoreOptions options;
    std::vector<SourceInfo> sources;
    std::int64_t tokens = 0;           // committed (ingested and saved)
    std::int64_t tokens_expected = 0;  // sum of sources' tokens; > tokens while unfinished
    bool complete = false;             // tokens == tokens_expected
    std::vector<CheckpointInfo> checkpoints;
    std::uint64_t disk_bytes = 0;  // every file the manifest lists, plus the manifest
    double bytes_per_token = 0.0;
};

struct IngestProgress {
    std::int64_t tokens_done = 0;   // committed + processed in this call (of the whole store)
    std::int64_t tokens_total = 0;  // tokens_expected
    double tokens_per_s = 0.0;      // this call's rate so far
    double eta_s = 0.0;             // at that rate
    std::string device_note;        // on a GPU: where the KV rows sit (device_memory_note)
};

struct IngestControl {
    // Called from the ingesting thread after every processed piece (a few times per second at
    // most is up to the caller to throttle; pieces are <= 2048 tokens).
    std::function<void(const IngestProgress&)> on_progress;
    // Checked between pieces. cancel: save a checkpoint at the current position and return
    // IngestOutcome::cancelled (nothing is lost; a later ingest resumes). pause: wait (polling)
    // until it is cleared or cancel is set.
    const std::atomic<bool>* cancel = nullptr;
    const std::atomic<bool>* pause = nullptr;
    // Extra checkpoint positions (absolute token indices, e.g. chapter starts) with labels.
    std::vector<CheckpointInfo> marks;
};

enum class IngestOutcome : std::uint8_t { complete, cancelled };

// Provenance of an answer: token ranges of the document the attention blocks looked at while
// producing it, strongest first; weight = the share of softmax mass on that range, averaged over
// generated tokens, attention blocks and heads (the rest went to the question's own tokens).
struct AttendedRange {
    std::int64_t begin = 0;  // token index, inclusive
    std::int64_t end = 0;    // exclusive
    double weight = 0.0;
};

// What of a store's committed token stream the attention can still see exactly (the coverage
// strip of the desktop reader). A range of tokens and the source bytes they came from.
struct CoverageRange {
    std::int64_t begin = 0;  // token index, inclusive
    std::int64_t end = 0;    // exclusive
    // Byte offsets (all sources concatenated) of the first token and just past the last one
    // (the next token's offset, or the sources' total at the end of a finished source); -1 when
    // the tokens were stored without offsets.
    std::int64_t byte_begin = -1;
    std::int64_t byte_end = -1;
};

struct CoverageMark {
    std::int64_t position = 0;  // a kept checkpoint: one can ask "as of" it
    std::string label;
    std::int64_t byte = -1;  // offset of the token at `position` (or the end); -1: unknown
};

struct StoreCoverage {
    std::int64_t tokens = 0;  // committed: read and saved
    std::int64_t tokens_expected = 0;
    std::int64_t chunk_size = 0;
    int attention_blocks = 0;  // 0: a recurrent-only model; nothing is held exactly
    std::uint64_t source_bytes = 0;  // sum of the sources' bytes
    // [0, tokens) split in order into ranges whose keys and values every attention block holds
    // exactly (complete chunks whose chunk files are all present with their size; the rows of
    // the incomplete last chunk, kept in float32 in the checkpoint at `tokens`) and ranges held
    // only in the recurrent state (no attention blocks, or a chunk file missing or cut short).
    std::vector<CoverageRange> exact;
    std::vector<CoverageRange> recurrent_only;
    std::vector<CoverageMark> checkpoints;
};

class DocumentStore {
public:
    DocumentStore(DocumentStore&&) noexcept;
    DocumentStore& operator=(DocumentStore&&) noexcept;
    ~DocumentStore();

    // Create an empty store in `dir` (created; must not exist or be empty).
    static Result<DocumentStore> create(const std::string& dir,
                                        std::shared_ptr<const Model> model,
                                        const TokenizerIdentity& tokenizer,
                                        const StoreOptions& options,
                                        const StoreRuntime& runtime = {});
    // Open an existing store for `model` (its fingerprint must match). Files an interrupted ingest
    // left behind (not listed in the manifest) are removed. Checks every listed file's size; the
    // checksums of KV chunks are verified as they are first read.
    static Result<DocumentStore> open(const std::string& dir, std::shared_ptr<const Model> model,
                                      const StoreRuntime& runtime = {});
    // The manifest alone (for `store info`), without a model.
    static Result<StoreSummary> summary(const std::string& dir);
    // Which committed tokens are held exactly (see StoreCoverage), from the manifest, the chunk
    // files' presence and sizes (not their contents) and the token offsets at the ranges' edges;
    // without a model, never writing. Cheap enough to call after every commit.
    static Result<StoreCoverage> coverage(const std::string& dir);
    // read_attachment() without opening the store (no model): the same checks.
    static Result<std::vector<std::byte>> read_attachment(const std::string& dir,
                                                          int source_index);
    // Read every listed file and check its checksum; with a model, also the fingerprint and that
    // the last checkpoint deserializes. Returns the first problem as an error naming the file.
    static Result<void> verify(const std::string& dir, std::shared_ptr<const Model> model = nullptr);

    // SHA-256 (hex) over the model's tensors (names, dtypes, shapes and bytes, in name order).
    static std::string model_fingerprint(const Model& model);

    StoreSummary summary() const;
    const std::string& dir() const;
    std::int64_t tokens() const;  // committed

    // Declare a source before ingesting its tokens (tokens = its total token count), or resume
    // the last one: if the last source has the same sha256 and is unfinished, nothing changes.
    // Fails if an unfinished source with another sha256 is pending.
    // `attachment`: opaque bytes kept with the source for the caller (e.g. the map from text
    // offsets to pages of an extracted PDF). Written crash-safely as its own file, listed in the
    // manifest with size and CRC (checked by open's size check, verify and read_attachment), and
    // never rewritten: resuming a source keeps the attachment it was begun with. Empty: none.
    Result<void> begin_source(const SourceInfo& source,
                              std::span<const std::byte> attachment = {});
    // The attachment of source `source_index` (0-based; empty when it has none), checked against
    // its size and CRC. Errors name the file.
    Result<std::vector<std::byte>> read_attachment(int source_index) const;

    // Feed the next tokens of the current source (the store's position is tokens(); `offsets`,
    // empty or one per token, are byte offsets of each token's first byte in the concatenated
    // sources). Saves a checkpoint every checkpoint_every tokens, at each mark, and at the end.
    // On any error (I/O, full disk, budget, a bad token id) the last saved checkpoint stays valid
    // and a later call resumes from it.
    Result<IngestOutcome> ingest(std::span<const token_id> tokens,
                                 std::span<const std::int64_t> offsets,
                                 const IngestControl& control = {});

    // Change the recorded disk budget (0 = no limit), e.g. after ingest stopped at it. Committed
    // to the manifest at once; nothing else changes.
    Result<void> set_disk_budget(std::uint64_t bytes);

    // A fresh State at the end of the committed stream (as_of < 0) or at a checkpoint's position
    // (as_of must be one); its KV chunks are read from the store's files on demand. The store is
    // never modified by what is later fed into the State.
    Result<State> load_state(std::int64_t as_of = -1) const;

    Result<std::vector<token_id>> read_tokens(std::int64_t begin, std::int64_t end) const;
    Result<std::vector<std::int64_t>> read_offsets(std::int64_t begin, std::int64_t end) const;

    // Merge a trace of forward calls on a State loaded from this store into attended ranges
    // (one per chunk, adjacent chunks not merged), strongest first. `rows`: the trace rows
    // (tokens) to include.
    std::vector<AttendedRange> attended_ranges(const ForwardTrace& trace, int first_row,
                                               int rows) const;

    struct Impl;

private:
    explicit DocumentStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

}  // namespace lectern
