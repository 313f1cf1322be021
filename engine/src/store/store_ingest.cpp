// DocumentStore: declaring sources, the ingest loop and the commit protocol. Chunk files are
// written as soon as their chunk completes (then dropped from memory, so ingest memory does not
// grow with the document); at each checkpoint position the token segment, the new chunk means and
// the checkpoint are written under new names and the manifest is replaced atomically: the commit.
// Files the previous manifest listed are never overwritten, so a crash at any moment leaves the
// last commit intact (docs/store-format.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "attention/kv_cache_impl.h"
#include "core/atomic_file.h"
#include "core/native_path.h"
#include "infer/state_impl.h"
#include "store/data_files.h"
#include "store/store_impl.h"

namespace lectern {
namespace {

// What an ingest call has produced since the last commit.
struct Pending {
    std::vector<token_id> tokens;
    std::vector<std::int64_t> offsets;
    std::vector<std::vector<float>> means;  // per block, [new chunk][H][64]
    std::vector<std::int64_t> chunks_written;  // per block: chunk files on disk
    std::uint64_t bytes = 0;                   // chunk files written
};

class Ingest {
public:
    Ingest(DocumentStore::Impl& s, const IngestControl& control)
        : m_s(s), m_control(control), m_start(std::chrono::steady_clock::now()) {
        const Manifest& m = s.manifest;
        m_pending.means.assign(std::size_t(m.n_attn), {});
        m_pending.chunks_written.assign(std::size_t(m.n_attn), m.chunk_count());
        m_first = m.tokens;
    }

    Result<IngestOutcome> run(std::span<const token_id> tokens,
                              std::span<const std::int64_t> offsets);

private:
    Result<void> check_budget(std::uint64_t extra) const;
    Result<void> write_new_chunks();
    Result<void> commit(const std::string& label, bool keep);
    void report(std::int64_t position) const;

    DocumentStore::Impl& m_s;
    const IngestControl& m_control;
    std::chrono::steady_clock::time_point m_start;
    Pending m_pending;
    std::int64_t m_first = 0;  // position when the call started
};

Result<void> Ingest::check_budget(std::uint64_t extra) const {
    const std::uint64_t budget = m_s.manifest.options.disk_budget_bytes;
    if (budget == 0) return {};
    const std::uint64_t total =
        m_s.manifest.listed_bytes() + m_s.manifest_bytes + m_pending.bytes + extra;
    if (total <= budget) return {};
    const std::int64_t at = m_s.work ? m_s.work->position() : m_s.manifest.tokens;
    const std::uint64_t per_token = at > 0 ? total / std::uint64_t(at) : total;
    std::string advice = "raise the budget";
    if (m_s.manifest.options.attention.kv_dtype != KvDType::int8)
        advice += " or use --kv-dtype int8";
    return make_error("disk budget of " + human_bytes(budget) + " reached at token " +
                      with_commas(at) + " (this document takes " + std::to_string(per_token) +
                      " bytes per token); " + advice);
}

// Writes the chunks the last piece completed, then lets go of their in-memory copies (attention
// reads them back from the files through the chunk source).
Result<void> Ingest::write_new_chunks() {
    Manifest& m = m_s.manifest;
    for (int j = 0; j < m.n_attn; ++j) {
        KvCache::Impl& kv = m_s.work->impl().kv[std::size_t(j)].impl();
        auto& written = m_pending.chunks_written[std::size_t(j)];
        for (; written < kv.store.chunk_count(); ++written) {
            const std::uint64_t estimate =
                m.chunk_file_bytes ? m.chunk_file_bytes
                                   : std::uint64_t(m.n_head) * kv.chunk_size() * kv_head_dim * 2 *
                                         kv_dtype_size(kv.options.kv_dtype);
            if (auto ok = check_budget(estimate); !ok) return ok;
            auto chunk = kv.store.acquire(written);
            if (!chunk) return chunk.error();
            auto size = write_chunk_file(chunk_file_path(m_s.dir, j, written), **chunk, j, written);
            if (!size) return size.error();
            // Every chunk file of a store has the same size; the manifest records it once the
            // first one exists (it is only written to the manifest at the next commit).
            if (m.chunk_file_bytes == 0) m.chunk_file_bytes = *size;
            m_pending.bytes += *size;
            auto& means = m_pending.means[std::size_t(j)];
            for (int h = 0; h < m.n_head; ++h)
                means.insert(means.end(), (*chunk)->mean(h), (*chunk)->mean(h) + kv_head_dim);
        }
        kv.store.drop_resident(kv.store.chunk_count());
    }
    return {};
}

Result<void> Ingest::commit(const std::string& label, bool keep) {
    Manifest& old = m_s.manifest;
    const std::int64_t pos = m_s.work->position();
    if (pos == old.tokens) return {};
    const std::int64_t n = pos - old.tokens;
    const std::int64_t old_chunks = old.chunk_count();
    const std::int64_t new_chunks = pos / old.options.attention.chunk_size;
    std::int64_t tail_total = 0;
    for (const KvCache& kv : m_s.work->impl().kv) tail_total += kv.impl().tail.rows();
    const std::uint64_t extra =
        segment_size(n) + checkpoint_size(m_s.model->config(), tail_total) +
        (new_chunks > old_chunks ? means_size(new_chunks - old_chunks, old.n_head) * old.n_attn
                                 : 0);
    if (auto ok = check_budget(extra); !ok) return ok;

    Manifest next = old;
    next.tokens = pos;
    auto seg = write_listed_file(
        m_s.dir, segment_rel_path(old.tokens, pos),
        encode_segment(old.tokens, m_pending.tokens, m_pending.offsets));
    if (!seg) return seg.error();
    next.segments.push_back(TokenSegment{old.tokens, pos, *seg});
    if (new_chunks > old_chunks)
        for (int j = 0; j < old.n_attn; ++j) {
            auto f = write_listed_file(
                m_s.dir, means_rel_path(j, old_chunks, new_chunks),
                encode_means(j, old_chunks, new_chunks, old.n_head, m_pending.means[std::size_t(j)]));
            if (!f) return f.error();
            next.means.push_back(MeansSegment{j, old_chunks, new_chunks, *f});
        }
    if (auto ok = m_s.work->impl().sync_host(); !ok) return ok;  // a GPU state's host copy
    auto ck = write_listed_file(m_s.dir, checkpoint_rel_path(pos),
                                encode_checkpoint(m_s.work->impl()));
    if (!ck) return ck.error();
    // A resume-only checkpoint is superseded by this one (as-of questions use the kept ones).
    std::vector<std::string> superseded;
    if (!next.checkpoints.empty() && !next.checkpoints.back().keep) {
        superseded.push_back(next.checkpoints.back().file.path);
        next.checkpoints.pop_back();
    }
    next.checkpoints.push_back(CheckpointEntry{pos, label, keep, *ck});

    auto size = write_manifest(m_s.dir, next);  // the commit point
    if (!size) return size.error();
    m_s.manifest = std::move(next);
    m_s.manifest_bytes = *size;
    std::error_code ec;
    for (const auto& p : superseded) std::filesystem::remove(native_path(m_s.dir + "/" + p), ec);
    {
        std::lock_guard lock(m_s.means_mutex);
        if (m_s.means_chunks == old_chunks) {
            for (int j = 0; j < old.n_attn; ++j) {
                const auto& add = m_pending.means[std::size_t(j)];
                m_s.means[std::size_t(j)].insert(m_s.means[std::size_t(j)].end(), add.begin(),
                                                 add.end());
            }
            m_s.means_chunks = new_chunks;
        }
    }
    for (auto& v : m_pending.means) v.clear();
    m_pending.tokens.clear();
    m_pending.offsets.clear();
    m_pending.bytes = 0;
    return {};
}

void Ingest::report(std::int64_t position) const {
    if (!m_control.on_progress) return;
    IngestProgress p;
    p.tokens_done = position;
    p.tokens_total = m_s.manifest.tokens_expected();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    p.tokens_per_s = secs > 0 ? double(position - m_first) / secs : 0.0;
    p.eta_s = p.tokens_per_s > 0 ? double(p.tokens_total - position) / p.tokens_per_s : 0.0;
    if (m_s.work) p.device_note = device_memory_note(*m_s.work);
    m_control.on_progress(p);
}

Result<IngestOutcome> Ingest::run(std::span<const token_id> tokens,
                                  std::span<const std::int64_t> offsets) {
    const Manifest& m = m_s.manifest;
    const std::int64_t end = m.tokens + std::int64_t(tokens.size());
    const std::int64_t every = m.options.checkpoint_every;
    const std::int64_t source_end = m.tokens_expected();
    constexpr std::int64_t max_piece = 2048;
    std::size_t done = 0;
    while (m_s.work->position() < end) {
        if (m_control.pause)
            while (m_control.pause->load() && !(m_control.cancel && m_control.cancel->load()))
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (m_control.cancel && m_control.cancel->load()) {
            if (auto ok = commit("", false); !ok) return ok.error();
            return IngestOutcome::cancelled;
        }
        const std::int64_t pos = m_s.work->position();
        // The next position that must be committed: periodic, a mark, or the end of the call.
        std::int64_t cut = std::min(end, (pos / every + 1) * every);
        std::string label;
        bool marked = false;
        for (const CheckpointInfo& mark : m_control.marks)
            if (mark.position > pos && mark.position <= cut) {
                cut = mark.position;
                label = mark.label;
                marked = true;
            }
        const std::int64_t piece = std::min(max_piece, cut - pos);
        std::vector<float> logits;
        auto ok = forward(*m_s.work, tokens.subspan(done, std::size_t(piece)), false, logits);
        if (!ok) return ok.error();
        m_pending.tokens.insert(m_pending.tokens.end(), tokens.begin() + std::ptrdiff_t(done),
                                tokens.begin() + std::ptrdiff_t(done + piece));
        if (offsets.empty())
            m_pending.offsets.insert(m_pending.offsets.end(), std::size_t(piece), -1);
        else
            m_pending.offsets.insert(m_pending.offsets.end(),
                                     offsets.begin() + std::ptrdiff_t(done),
                                     offsets.begin() + std::ptrdiff_t(done + piece));
        done += std::size_t(piece);
        if (auto w = write_new_chunks(); !w) return w.error();
        const std::int64_t now = pos + piece;
        if (now == cut) {
            const bool periodic = now % every == 0;
            const bool source_done = now == source_end;
            if (auto c = commit(label, periodic || marked || source_done); !c) return c.error();
        }
        report(now);
    }
    return IngestOutcome::complete;
}

}  // namespace

Result<void> DocumentStore::begin_source(const SourceInfo& source,
                                         std::span<const std::byte> attachment) {
    Manifest& m = m_impl->manifest;
    if (m.tokens < m.tokens_expected()) {
        const SourceInfo& last = m.sources.back();
        if (last.sha256 == source.sha256) return {};
        return make_error("store " + m_impl->dir + ": source \"" + last.name + "\" is not fully "
                          "ingested yet (" + with_commas(m.tokens - last.first_token) + " of " +
                          with_commas(last.tokens) + " tokens); finish it before adding \"" +
                          source.name + "\"");
    }
    if (source.tokens <= 0) return make_error("source \"" + source.name + "\" has no tokens");
    Manifest next = m;
    SourceInfo s = source;
    s.first_token = m.tokens;
    s.attachment_bytes = 0;
    next.attachments.resize(next.sources.size());
    ListedFile listed;
    if (!attachment.empty()) {
        const std::uint64_t budget = m.options.disk_budget_bytes;
        if (budget > 0 && m.listed_bytes() + m_impl->manifest_bytes + attachment.size() > budget)
            return make_error("disk budget of " + human_bytes(budget) + " reached: the "
                              "attachment of source \"" + source.name + "\" (" +
                              human_bytes(attachment.size()) + ") does not fit; raise the budget");
        // A new name per source index; a file of that name can only be a leftover of a
        // begin_source that did not commit (nothing lists it), so replacing it is safe.
        if (auto ok = make_directories(m_impl->dir + "/sources"); !ok) return ok.error();
        auto f = write_listed_file(m_impl->dir, attachment_rel_path(next.sources.size()),
                                   attachment);
        if (!f) return f.error();
        listed = *f;
        s.attachment_bytes = listed.bytes;
    }
    next.sources.push_back(std::move(s));
    next.attachments.push_back(std::move(listed));
    auto size = write_manifest(m_impl->dir, next);
    if (!size) return size.error();
    m = std::move(next);
    m_impl->manifest_bytes = *size;
    return {};
}

Result<void> DocumentStore::set_disk_budget(std::uint64_t bytes) {
    Manifest next = m_impl->manifest;
    next.options.disk_budget_bytes = bytes;
    auto size = write_manifest(m_impl->dir, next);
    if (!size) return size.error();
    m_impl->manifest = std::move(next);
    m_impl->manifest_bytes = *size;
    return {};
}

Result<IngestOutcome> DocumentStore::ingest(std::span<const token_id> tokens,
                                            std::span<const std::int64_t> offsets,
                                            const IngestControl& control) {
    Impl& s = *m_impl;
    const Manifest& m = s.manifest;
    const std::int64_t left = m.tokens_expected() - m.tokens;
    if (left <= 0)
        return make_error("store " + s.dir + ": no source is being ingested (begin_source first)");
    if (std::int64_t(tokens.size()) > left)
        return make_error(std::to_string(tokens.size()) + " tokens given, but source \"" +
                          m.sources.back().name + "\" has only " + std::to_string(left) +
                          " tokens left");
    if (!offsets.empty() && offsets.size() != tokens.size())
        return make_error("ingest: " + std::to_string(offsets.size()) + " offsets for " +
                          std::to_string(tokens.size()) + " tokens");
    const int vocab = s.model->config().vocab;
    for (std::size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] >= token_id(vocab))
            return make_error("token id " + std::to_string(tokens[i]) + " at index " +
                              std::to_string(i) + " is outside the model's vocabulary (" +
                              std::to_string(vocab) + ")");
    if (tokens.empty()) return IngestOutcome::complete;
    if (!s.work || s.work->position() != m.tokens) {
        s.work.reset();
        auto st = s.build_state(m.tokens);
        if (!st) return st.error();
        s.work.emplace(std::move(*st));
    }
    Ingest run(s, control);
    auto out = run.run(tokens, offsets);
    // After an error the working state may be past the commit (or half-updated): the next call
    // starts again from the last checkpoint.
    if (!out) {
        s.work.reset();
        return make_error(out.error().message + " (" + with_commas(m.tokens) +
                          " tokens are saved; ingest again from there to resume)");
    }
    return out;
}

}  // namespace lectern
