// DocumentStore, the ask side: a State rebuilt from a checkpoint and the chunk files (read on
// demand through the shared mapping cache), the token stream and offsets, and the attended token
// ranges of a traced answer; the model-free coverage and attachment queries. Nothing here writes
// to the store.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "attention/kv_cache_impl.h"
#include "core/native_path.h"
#include "infer/state_impl.h"
#include "store/data_files.h"
#include "store/store_impl.h"

namespace lectern {

Result<void> DocumentStore::Impl::load_means(std::int64_t chunks) const {
    std::lock_guard lock(means_mutex);
    if (means_chunks >= chunks) return {};
    // Segments are contiguous per block: read the ones past what is loaded.
    std::vector<std::vector<float>> loaded = means;
    loaded.resize(std::size_t(manifest.n_attn));
    for (const MeansSegment& seg : manifest.means) {
        if (seg.end <= means_chunks) continue;
        auto bytes = read_listed_file(dir, seg.file);
        if (!bytes) return bytes.error();
        auto m = decode_means(*bytes, seg.block, seg.first, seg.end, manifest.n_head);
        if (!m) return with_context(dir + "/" + seg.file.path, m.error());
        auto& dst = loaded[std::size_t(seg.block)];
        dst.insert(dst.end(), m->begin(), m->end());
    }
    means = std::move(loaded);
    means_chunks = manifest.chunk_count();
    return {};
}

Result<State> DocumentStore::Impl::build_state(std::int64_t position) const {
    const AttentionOptions& a = manifest.options.attention;
    const ModelConfig& c = model->config();
    State state(model, a);
    State::Impl& s = state.impl();
    if (position == 0) {
        for (int j = 0; j < manifest.n_attn; ++j)
            s.kv[std::size_t(j)].impl().store.set_source(
                make_disk_chunk_source(cache, dir, j, a.kv_dtype, c.n_head, a.chunk_size));
        return state;
    }
    const auto ck = std::find_if(manifest.checkpoints.begin(), manifest.checkpoints.end(),
                                 [&](const CheckpointEntry& e) { return e.position == position; });
    if (ck == manifest.checkpoints.end()) {
        std::string have;
        for (const CheckpointEntry& e : manifest.checkpoints)
            have += (have.empty() ? "" : ", ") + std::to_string(e.position);
        return make_error("store " + dir + " has no checkpoint at token " +
                          std::to_string(position) + " (checkpoints: " +
                          (have.empty() ? "none" : have) + ")");
    }
    const std::string path = dir + "/" + ck->file.path;
    auto bytes = read_listed_file(dir, ck->file);
    if (!bytes) return bytes.error();
    auto data = decode_checkpoint(*bytes, c, a.chunk_size);
    if (!data) return make_error(path + ": " + data.error().message + "; rebuild the store");
    if (data->position != position)
        return make_error(path + ": holds position " + std::to_string(data->position) +
                          ", expected " + std::to_string(position) + "; rebuild the store");
    const std::int64_t chunks = position / a.chunk_size;
    if (auto ok = load_means(chunks); !ok) return ok.error();
    s.rec = std::move(data->rec);
    s.position = position;
    const std::size_t per_chunk = std::size_t(c.n_head) * kv_head_dim;
    for (int j = 0; j < manifest.n_attn; ++j) {
        KvCache::Impl& kv = s.kv[std::size_t(j)].impl();
        kv.store.set_source(
            make_disk_chunk_source(cache, dir, j, a.kv_dtype, c.n_head, a.chunk_size));
        {
            std::lock_guard lock(means_mutex);
            const std::vector<float>& m = means[std::size_t(j)];
            for (std::int64_t i = 0; i < chunks; ++i)
                kv.store.append_from_source(m.data() + std::size_t(i) * per_chunk);
        }
        // (decode_checkpoint checked each block's rows against the chunk size.)
        std::vector<const float*> keys, values;
        for (int h = 0; h < c.n_head; ++h) {
            keys.push_back(data->tail_k[std::size_t(j)][std::size_t(h)].data());
            values.push_back(data->tail_v[std::size_t(j)][std::size_t(h)].data());
        }
        kv.tail.assign(data->tail_rows[std::size_t(j)], keys.data(), values.data());
        kv.tokens = position;
    }
    return state;
}

Result<State> DocumentStore::load_state(std::int64_t as_of) const {
    return m_impl->build_state(as_of < 0 ? m_impl->manifest.tokens : as_of);
}

namespace {

// Calls f(segment tokens, segment offsets, segment begin) for every segment overlapping
// [begin, end).
template <typename F>
Result<void> for_segments(const DocumentStore::Impl& s, std::int64_t begin, std::int64_t end,
                          bool want_tokens, F&& f) {
    if (begin < 0 || end < begin || end > s.manifest.tokens)
        return make_error("token range [" + std::to_string(begin) + ", " + std::to_string(end) +
                          ") is outside the store's " + std::to_string(s.manifest.tokens) +
                          " tokens");
    for (const TokenSegment& seg : s.manifest.segments) {
        if (seg.end <= begin || seg.begin >= end) continue;
        auto bytes = read_listed_file(s.dir, seg.file);
        if (!bytes) return bytes.error();
        std::vector<token_id> t;
        std::vector<std::int64_t> o;
        auto ok = decode_segment(*bytes, seg.begin, seg.end, want_tokens ? &t : nullptr,
                                 want_tokens ? nullptr : &o);
        if (!ok) return with_context(s.dir + "/" + seg.file.path, ok.error());
        const std::int64_t lo = std::max(begin, seg.begin), hi = std::min(end, seg.end);
        f(t, o, seg.begin, lo, hi);
    }
    return {};
}

}  // namespace

Result<std::vector<token_id>> DocumentStore::read_tokens(std::int64_t begin,
                                                         std::int64_t end) const {
    std::vector<token_id> out;
    auto ok = for_segments(*m_impl, begin, end, true,
                           [&](const auto& t, const auto&, std::int64_t first, std::int64_t lo,
                               std::int64_t hi) {
                               out.insert(out.end(), t.begin() + (lo - first),
                                          t.begin() + (hi - first));
                           });
    if (!ok) return ok.error();
    return out;
}

Result<std::vector<std::int64_t>> DocumentStore::read_offsets(std::int64_t begin,
                                                              std::int64_t end) const {
    std::vector<std::int64_t> out;
    auto ok = for_segments(*m_impl, begin, end, false,
                           [&](const auto&, const auto& o, std::int64_t first, std::int64_t lo,
                               std::int64_t hi) {
                               out.insert(out.end(), o.begin() + (lo - first),
                                          o.begin() + (hi - first));
                           });
    if (!ok) return ok.error();
    return out;
}

Result<std::vector<std::byte>> DocumentStore::read_attachment(int source_index) const {
    const Manifest& m = m_impl->manifest;
    if (source_index < 0 || std::size_t(source_index) >= m.sources.size())
        return make_error("store " + m_impl->dir + ": no source " + std::to_string(source_index) +
                          " (it has " + std::to_string(m.sources.size()) + ")");
    if (std::size_t(source_index) >= m.attachments.size() ||
        m.attachments[std::size_t(source_index)].path.empty())
        return std::vector<std::byte>{};
    return read_listed_file(m_impl->dir, m.attachments[std::size_t(source_index)]);
}

std::vector<AttendedRange> DocumentStore::attended_ranges(const ForwardTrace& trace,
                                                          int first_row, int rows) const {
    const std::int64_t B = m_impl->manifest.options.attention.chunk_size;
    const std::int64_t tokens = m_impl->manifest.tokens;
    first_row = std::clamp(first_row, 0, trace.rows);
    rows = std::clamp(rows, 0, trace.rows - first_row);
    const std::size_t slots = std::size_t(trace.n_attn) * trace.n_head * trace.width;
    if (rows == 0 || slots == 0 || trace.chunk.size() < std::size_t(trace.rows) * slots) return {};
    std::map<std::int64_t, double> sum;
    for (int r = first_row; r < first_row + rows; ++r)
        for (std::size_t i = 0; i < slots; ++i) {
            const std::size_t at = std::size_t(r) * slots + i;
            const std::int64_t c = trace.chunk[at];
            // Chunks of the question itself (past the document) are not document ranges.
            if (c < 0 || c * B >= tokens) continue;
            sum[c] += at < trace.weight.size() ? double(trace.weight[at]) : 0.0;
        }
    const double norm = double(rows) * trace.n_attn * trace.n_head;
    std::vector<AttendedRange> out;
    for (const auto& [c, w] : sum)
        out.push_back(AttendedRange{c * B, std::min((c + 1) * B, tokens), w / norm});
    std::stable_sort(out.begin(), out.end(),
                     [](const AttendedRange& a, const AttendedRange& b) { return a.weight > b.weight; });
    return out;
}

namespace {

namespace fs = std::filesystem;

// The committed manifest alone (store_open.cpp's reader is private to that file; this one only
// serves the read-only queries below).
Result<Manifest> manifest_of(const std::string& dir) {
    const std::string path = dir + "/" + manifest_name;
    std::ifstream in(native_path(path), std::ios::binary);
    if (!in) {
        std::error_code ec;
        if (!fs::is_directory(native_path(dir), ec)) return make_error(dir + ": no such folder");
        return make_error(dir + ": not a Lectern document store (no " + manifest_name + ")");
    }
    std::stringstream text;
    text << in.rdbuf();
    auto m = parse_manifest(text.str());
    if (!m) return make_error(path + ": " + m.error().message + "; the store is damaged (rebuild it)");
    return m;
}

bool has_size(const std::string& path, std::uint64_t bytes) {
    std::error_code ec;
    const std::uintmax_t n = fs::file_size(native_path(path), ec);
    return !ec && n == bytes;
}

// Byte offsets of the tokens at `positions` (each < m.tokens), reading only the token segments
// that hold one of them.
Result<std::map<std::int64_t, std::int64_t>> offsets_at(const std::string& dir, const Manifest& m,
                                                        const std::vector<std::int64_t>& positions) {
    std::map<std::int64_t, std::int64_t> out;
    for (const TokenSegment& seg : m.segments) {
        const bool wanted = std::any_of(positions.begin(), positions.end(), [&](std::int64_t p) {
            return p >= seg.begin && p < seg.end;
        });
        if (!wanted) continue;
        auto bytes = read_listed_file(dir, seg.file);
        if (!bytes) return bytes.error();
        std::vector<std::int64_t> o;
        auto ok = decode_segment(*bytes, seg.begin, seg.end, nullptr, &o);
        if (!ok) return with_context(dir + "/" + seg.file.path, ok.error());
        for (std::int64_t p : positions)
            if (p >= seg.begin && p < seg.end) out[p] = o[std::size_t(p - seg.begin)];
    }
    return out;
}

}  // namespace

Result<StoreCoverage> DocumentStore::coverage(const std::string& dir) {
    auto read = manifest_of(dir);
    if (!read) return read.error();
    const Manifest& m = *read;
    StoreCoverage c;
    c.tokens = m.tokens;
    c.tokens_expected = m.tokens_expected();
    c.chunk_size = m.options.attention.chunk_size;
    c.attention_blocks = m.n_attn;
    for (const SourceInfo& s : m.sources) c.source_bytes += s.bytes;

    // Per piece (a complete chunk, then the incomplete tail): held exactly or not; consecutive
    // pieces alike are merged.
    std::vector<std::pair<CoverageRange, bool>> runs;
    auto add = [&](std::int64_t begin, std::int64_t end, bool exact) {
        if (end <= begin) return;
        if (!runs.empty() && runs.back().second == exact && runs.back().first.end == begin)
            runs.back().first.end = end;
        else
            runs.push_back({CoverageRange{begin, end}, exact});
    };
    const std::int64_t chunks = m.chunk_count();
    for (std::int64_t i = 0; i < chunks; ++i) {
        bool exact = m.n_attn > 0;
        for (int j = 0; exact && j < m.n_attn; ++j)
            exact = has_size(chunk_file_path(dir, j, i), m.chunk_file_bytes);
        add(i * c.chunk_size, (i + 1) * c.chunk_size, exact);
    }
    // The tail rows live in the checkpoint at `tokens` (there is always one).
    bool tail_exact = false;
    if (m.n_attn > 0)
        for (const CheckpointEntry& e : m.checkpoints)
            if (e.position == m.tokens) tail_exact = has_size(dir + "/" + e.file.path, e.file.bytes);
    add(chunks * c.chunk_size, m.tokens, tail_exact);

    std::vector<std::int64_t> wanted;
    for (const auto& [r, exact] : runs) {
        wanted.push_back(r.begin);
        if (r.end < m.tokens) wanted.push_back(r.end);
    }
    if (m.tokens > 0) wanted.push_back(m.tokens - 1);
    for (const CheckpointEntry& e : m.checkpoints)
        if (e.keep && e.position < m.tokens) wanted.push_back(e.position);
    auto offsets = offsets_at(dir, m, wanted);
    if (!offsets) return offsets.error();
    // Where the token at `p` starts; at the end, the sources' total once everything is read,
    // else just past the last token's first byte (its length is not stored).
    auto byte_at = [&](std::int64_t p) -> std::int64_t {
        if (p < m.tokens) {
            const auto it = offsets->find(p);
            return it == offsets->end() || it->second < 0 ? -1 : it->second;
        }
        if (m.tokens > 0 && m.tokens == c.tokens_expected) return std::int64_t(c.source_bytes);
        const auto last = offsets->find(m.tokens - 1);
        return last == offsets->end() || last->second < 0 ? -1 : last->second + 1;
    };
    for (auto& [r, exact] : runs) {
        r.byte_begin = byte_at(r.begin);
        r.byte_end = byte_at(r.end);
        (exact ? c.exact : c.recurrent_only).push_back(r);
    }
    for (const CheckpointEntry& e : m.checkpoints)
        if (e.keep) c.checkpoints.push_back(CoverageMark{e.position, e.label, byte_at(e.position)});
    return c;
}

Result<std::vector<std::byte>> DocumentStore::read_attachment(const std::string& dir,
                                                              int source_index) {
    auto m = manifest_of(dir);
    if (!m) return m.error();
    if (source_index < 0 || std::size_t(source_index) >= m->sources.size())
        return make_error("store " + dir + ": no source " + std::to_string(source_index) +
                          " (it has " + std::to_string(m->sources.size()) + ")");
    if (std::size_t(source_index) >= m->attachments.size() ||
        m->attachments[std::size_t(source_index)].path.empty())
        return std::vector<std::byte>{};
    return read_listed_file(dir, m->attachments[std::size_t(source_index)]);
}

}  // namespace lectern
