// Checkpoint, token-segment and means-segment files: their binary layouts (little-endian, a magic
// and the range they cover up front so that a file renamed into the wrong place is caught) and
// the listed-file read/write helpers shared by the store.
#include "store/data_files.h"

#include <cstring>
#include <fstream>

#include "attention/kv_cache_impl.h"
#include "core/atomic_file.h"
#include "core/byte_stream.h"
#include "core/mapped_file.h"
#include "core/native_path.h"

namespace lectern {
namespace {

constexpr char kCheckpointMagic[8] = {'L', 'C', 'T', 'N', 'C', 'K', 'P', 'T'};
constexpr char kSegmentMagic[8] = {'L', 'C', 'T', 'N', 'T', 'O', 'K', 'S'};
constexpr char kMeansMagic[8] = {'L', 'C', 'T', 'N', 'M', 'E', 'A', 'N'};
constexpr std::uint32_t kVersion = 1;

std::vector<std::byte> start(const char (&magic)[8], std::size_t total) {
    // Reserved up front: besides saving reallocations, GCC 12 otherwise reports false
    // -Warray-bounds for the inserts that grow a small vector.
    std::vector<std::byte> out;
    out.reserve(total);
    out.resize(12);
    std::memcpy(out.data(), magic, 8);
    std::memcpy(out.data() + 8, &kVersion, 4);
    return out;
}

bool check_start(ByteReader& r, const char (&magic)[8]) {
    char m[8];
    std::uint32_t version = 0;
    return r.get_bytes(m, 8) && std::memcmp(m, magic, 8) == 0 && r.get(version) &&
           version == kVersion;
}

void put_floats(ByteWriter& w, const std::vector<float>& v) {
    w.put_bytes(v.data(), v.size() * sizeof(float));
}

}  // namespace

std::string checkpoint_rel_path(std::int64_t position) {
    return "checkpoints/ck" + std::to_string(position) + ".state";
}
std::string segment_rel_path(std::int64_t begin, std::int64_t end) {
    return "tokens/t" + std::to_string(begin) + "-" + std::to_string(end) + ".tok";
}
std::string means_rel_path(int block, std::int64_t first, std::int64_t end) {
    return "kv/b" + std::to_string(block) + "/m" + std::to_string(first) + "-" +
           std::to_string(end) + ".mean";
}

std::string attachment_rel_path(std::size_t source_index) {
    return "sources/s" + std::to_string(source_index) + ".att";
}

Result<ListedFile> write_listed_file(const std::string& dir, const std::string& rel,
                                     std::span<const std::byte> bytes) {
    if (auto ok = write_file_atomic(dir + "/" + rel, bytes); !ok) return ok.error();
    return ListedFile{rel, bytes.size(), crc32(bytes)};
}

Result<std::vector<std::byte>> read_listed_file(const std::string& dir, const ListedFile& f) {
    const std::string path = dir + "/" + f.path;
    std::ifstream in(native_path(path), std::ios::binary | std::ios::ate);
    if (!in)
        return make_error(path + ": missing or unreadable; the store is damaged (rebuild it)");
    const std::streamoff size = in.tellg();
    if (size < 0 || std::uint64_t(size) != f.bytes)
        return make_error(path + ": " + std::to_string(size) + " bytes, expected " +
                          std::to_string(f.bytes) + " (truncated or damaged; rebuild the store)");
    std::vector<std::byte> bytes(std::size_t(f.bytes));
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size())))
        return make_error(path + ": read error");
    if (crc32(bytes) != f.crc)
        return make_error(path + ": checksum mismatch (the file is damaged; rebuild the store)");
    return bytes;
}

std::uint64_t checkpoint_size(const ModelConfig& c, std::int64_t tail_rows_total) {
    const std::uint64_t C = std::uint64_t(c.n_embd);
    const std::uint64_t wkv = std::uint64_t(c.n_head) * c.head_size * c.head_size;
    const std::uint64_t floats = std::uint64_t(c.n_rwkv) * (2 * C + wkv) +
                                 std::uint64_t(c.n_attn) * C +
                                 std::uint64_t(tail_rows_total) * C * 2;
    return 12 + 8 + 5 * 4 + floats * 4 + std::uint64_t(c.n_attn) * 4 + 4;
}

// magic[8], u32 version, i64 position, i32 n_rwkv, n_attn, n_embd, n_head, head_size, per RWKV
// block att_shift, wkv, ffn_shift, per attention block ffn_shift, per attention block (i32
// tail_rows, tail k [H][rows][64], tail v), u32 CRC-32 of everything before.
std::vector<std::byte> encode_checkpoint(const State::Impl& s) {
    const ModelConfig& c = s.model->config();
    std::int64_t tails = 0;
    for (const KvCache& kv : s.kv) tails += kv.impl().tail.rows();
    std::vector<std::byte> out = start(kCheckpointMagic, checkpoint_size(c, tails));
    ByteWriter w(out);
    w.put(std::int64_t(s.position));
    for (int v : {c.n_rwkv, c.n_attn, c.n_embd, c.n_head, c.head_size}) w.put(std::int32_t(v));
    for (int i = 0; i < c.n_rwkv; ++i) {
        put_floats(w, s.rec.att_shift[std::size_t(i)]);
        put_floats(w, s.rec.wkv[std::size_t(i)]);
        put_floats(w, s.rec.ffn_shift[std::size_t(i)]);
    }
    for (const auto& v : s.rec.attn_ffn_shift) put_floats(w, v);
    for (const KvCache& kv : s.kv) {
        const KvCache::Impl& k = kv.impl();
        w.put(std::int32_t(k.tail.rows()));
        const std::size_t n = std::size_t(k.tail.rows()) * kv_head_dim;
        for (int h = 0; h < k.n_head && n > 0; ++h) w.put_bytes(k.tail.keys(h), n * 4);
        for (int h = 0; h < k.n_head && n > 0; ++h) w.put_bytes(k.tail.values(h), n * 4);
    }
    w.put(crc32(out));
    return out;
}

Result<CheckpointData> decode_checkpoint(std::span<const std::byte> bytes, const ModelConfig& c,
                                         int chunk_size) {
    if (bytes.size() < 16) return make_error("not a checkpoint (too short)");
    std::uint32_t stored = 0;
    std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
    if (crc32(bytes.first(bytes.size() - 4)) != stored)
        return make_error("checkpoint checksum mismatch (the file is damaged)");
    ByteReader r(bytes.first(bytes.size() - 4));
    if (!check_start(r, kCheckpointMagic)) return make_error("not a checkpoint (bad magic)");
    CheckpointData d;
    std::int32_t shape[5];
    if (!r.get(d.position)) return make_error("truncated checkpoint");
    for (auto& v : shape)
        if (!r.get(v)) return make_error("truncated checkpoint");
    if (shape[0] != c.n_rwkv || shape[1] != c.n_attn || shape[2] != c.n_embd ||
        shape[3] != c.n_head || shape[4] != c.head_size)
        return make_error("checkpoint was made for a model of another shape");
    d.rec = RecurrentState::zeros(c);
    bool ok = d.position >= 0;
    for (int i = 0; ok && i < c.n_rwkv; ++i) {
        auto& a = d.rec.att_shift[std::size_t(i)];
        auto& wkv = d.rec.wkv[std::size_t(i)];
        auto& f = d.rec.ffn_shift[std::size_t(i)];
        ok = r.get_bytes(a.data(), a.size() * 4) && r.get_bytes(wkv.data(), wkv.size() * 4) &&
             r.get_bytes(f.data(), f.size() * 4);
    }
    for (auto& v : d.rec.attn_ffn_shift) ok = ok && r.get_bytes(v.data(), v.size() * 4);
    const std::size_t H = std::size_t(c.n_head);
    d.tail_rows.assign(std::size_t(c.n_attn), 0);
    d.tail_k.assign(std::size_t(c.n_attn), std::vector<std::vector<float>>(H));
    d.tail_v.assign(std::size_t(c.n_attn), std::vector<std::vector<float>>(H));
    for (int j = 0; ok && j < c.n_attn; ++j) {
        std::int32_t rows = 0;
        ok = r.get(rows) && rows >= 0 && rows < chunk_size &&
             d.position % chunk_size == rows;  // native: rows == position (no compression)
        const std::size_t n = ok ? std::size_t(rows) * kv_head_dim : 0;
        for (auto* group : {&d.tail_k[std::size_t(j)], &d.tail_v[std::size_t(j)]})
            for (std::size_t h = 0; ok && h < H; ++h) {
                (*group)[h].resize(n);
                ok = r.get_bytes((*group)[h].data(), n * 4);
            }
        d.tail_rows[std::size_t(j)] = rows;
    }
    if (!ok || r.remaining() != 0) return make_error("inconsistent checkpoint contents");
    return d;
}

std::uint64_t segment_size(std::int64_t tokens) {
    return 12 + 16 + std::uint64_t(tokens) * (sizeof(token_id) + sizeof(std::int64_t));
}

// magic[8], u32 version, i64 begin, i64 end, token ids [n] (u32), offsets [n] (i64).
std::vector<std::byte> encode_segment(std::int64_t begin, std::span<const token_id> tokens,
                                      std::span<const std::int64_t> offsets) {
    std::vector<std::byte> out = start(kSegmentMagic, segment_size(std::int64_t(tokens.size())));
    ByteWriter w(out);
    w.put(std::int64_t(begin));
    w.put(std::int64_t(begin + std::int64_t(tokens.size())));
    w.put_bytes(tokens.data(), tokens.size_bytes());
    w.put_bytes(offsets.data(), offsets.size_bytes());
    return out;
}

Result<void> decode_segment(std::span<const std::byte> bytes, std::int64_t begin,
                            std::int64_t end, std::vector<token_id>* tokens,
                            std::vector<std::int64_t>* offsets) {
    ByteReader r(bytes);
    std::int64_t b = 0, e = 0;
    if (!check_start(r, kSegmentMagic) || !r.get(b) || !r.get(e) || b != begin || e != end ||
        r.remaining() != segment_size(end - begin) - 28)
        return make_error("not the token segment the manifest lists");
    const std::size_t n = std::size_t(end - begin);
    std::vector<token_id> t(n);
    std::vector<std::int64_t> o(n);
    r.get_bytes(t.data(), n * sizeof(token_id));
    r.get_bytes(o.data(), n * sizeof(std::int64_t));
    if (tokens) *tokens = std::move(t);
    if (offsets) *offsets = std::move(o);
    return {};
}

std::uint64_t means_size(std::int64_t chunks, int n_head) {
    return 12 + 4 + 16 + 4 + std::uint64_t(chunks) * std::uint64_t(n_head) * kv_head_dim * 4;
}

// magic[8], u32 version, i32 block, i64 first, i64 end, i32 heads, floats [chunks][H][64].
std::vector<std::byte> encode_means(int block, std::int64_t first, std::int64_t end, int n_head,
                                    std::span<const float> means) {
    std::vector<std::byte> out = start(kMeansMagic, means_size(end - first, n_head));
    ByteWriter w(out);
    w.put(std::int32_t(block));
    w.put(std::int64_t(first));
    w.put(std::int64_t(end));
    w.put(std::int32_t(n_head));
    w.put_bytes(means.data(), means.size_bytes());
    return out;
}

Result<std::vector<float>> decode_means(std::span<const std::byte> bytes, int block,
                                        std::int64_t first, std::int64_t end, int n_head) {
    ByteReader r(bytes);
    std::int32_t b = 0, h = 0;
    std::int64_t f = 0, e = 0;
    if (!check_start(r, kMeansMagic) || !r.get(b) || !r.get(f) || !r.get(e) || !r.get(h) ||
        b != block || f != first || e != end || h != n_head ||
        bytes.size() != means_size(end - first, n_head))
        return make_error("not the chunk means the manifest lists");
    std::vector<float> m(std::size_t(end - first) * std::size_t(n_head) * kv_head_dim);
    r.get_bytes(m.data(), m.size() * sizeof(float));
    return m;
}

}  // namespace lectern
