// DocumentStore, the ask side: a State rebuilt from a checkpoint and the chunk files (read on
// demand through the shared mapping cache), the token stream and offsets, and the attended token
// ranges of a traced answer. Nothing here writes to the store.
#include <algorithm>
#include <map>

#include "attention/kv_cache_impl.h"
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
        kv.tail_rows = data->tail_rows[std::size_t(j)];
        for (int h = 0; h < c.n_head; ++h) {
            kv.tail_k[std::size_t(h)] = std::move(data->tail_k[std::size_t(j)][std::size_t(h)]);
            kv.tail_v[std::size_t(h)] = std::move(data->tail_v[std::size_t(j)][std::size_t(h)]);
        }
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

}  // namespace lectern
