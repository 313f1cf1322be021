// KV chunk files: writing one complete chunk crash-safely, mapping it back as a KvChunk view
// through an LRU of mappings with a RAM budget, and verifying a whole file.
//
// Layout (little-endian, version 1):
//   0  "LKVK"            4  u32 version       8  i32 block        12 u32 reserved (0)
//   16 i64 index         24 u8 dtype (KvDType), 3 bytes 0         28 i32 heads H
//   32 i32 rows B        36 i32 head_dim (64) 40 u64 data offset  48 u64 file size
//   56 u32 CRC-32 of bytes [0, 56) and [64, data offset)          60 u32 reserved (0)
//   64 u32 head_crc[H], then f32 means[H][64], then zeros up to the data offset (a multiple
//      of 64, so every head slice is 64-byte aligned)
//   data: for each head h, its k rows [B][64] then its v rows [B][64] (elements of dtype)
//   then (int8 only) f32 k_scale[H], f32 v_scale[H]; the file ends there.
// head_crc[h] = CRC-32 of head h's k slice, v slice, then (int8) k_scale[h] and v_scale[h]. A
// head's bytes are contiguous so that a question touching one head reads (and checks) only that
// head; the small header part is checked whenever a file is mapped.
#include "store/chunk_files.h"

#include <cstring>
#include <list>
#include <optional>
#include <mutex>
#include <unordered_map>
#include <vector>

#ifdef _WIN32
#include <windows.h>  // NOMINMAX, WIN32_LEAN_AND_MEAN: lectern_config (cmake/LecternConfig.cmake)
#else
#include <sys/stat.h>
#endif

#include "core/atomic_file.h"
#include "core/mapped_file.h"
#include "core/native_path.h"

namespace lectern {

using HeadChecks = std::shared_ptr<std::atomic<std::uint8_t>[]>;

namespace {

constexpr char file_magic[4] = {'L', 'K', 'V', 'K'};
constexpr std::uint32_t file_version = 1;
constexpr std::size_t fixed_header = 64;
constexpr std::size_t meta_crc_at = 56;
constexpr std::size_t data_alignment = 64;

struct Layout {
    std::size_t crc_table = fixed_header;
    std::size_t means = 0;
    std::size_t data = 0;
    std::size_t slice = 0;  // one head's k (or v)
    std::size_t scales = 0;
    std::size_t size = 0;
};

Layout layout_of(KvDType dtype, int n_head, int rows) {
    Layout l;
    const std::size_t H = std::size_t(n_head);
    l.means = l.crc_table + H * sizeof(std::uint32_t);
    const std::size_t header_end = l.means + H * kv_head_dim * sizeof(float);
    l.data = (header_end + data_alignment - 1) / data_alignment * data_alignment;
    l.slice = std::size_t(rows) * kv_head_dim * kv_dtype_size(dtype);
    l.scales = l.data + 2 * H * l.slice;
    l.size = l.scales + (dtype == KvDType::int8 ? 2 * H * sizeof(float) : 0);
    return l;
}

const char* dtype_name(KvDType t) {
    switch (t) {
        case KvDType::f32:
            return "f32";
        case KvDType::f16:
            return "f16";
        case KvDType::int8:
            return "int8";
    }
    return "?";
}

template <typename T>
T read_at(const std::byte* p, std::size_t offset) {
    T v;
    std::memcpy(&v, p + offset, sizeof v);
    return v;
}

std::uint32_t head_crc_of(const KvRows& r, std::size_t slice) {
    std::uint32_t crc = crc32({static_cast<const std::byte*>(r.k), slice});
    crc = crc32({static_cast<const std::byte*>(r.v), slice}, crc);
    if (r.dtype == KvDType::int8) {
        crc = crc32(std::as_bytes(std::span(&r.k_scale, 1)), crc);
        crc = crc32(std::as_bytes(std::span(&r.v_scale, 1)), crc);
    }
    return crc;
}

// Checks everything but the per-head CRCs: header fields against what the caller expects, the
// size, and the header CRC. Errors name the file.
Result<Layout> check_header(const std::string& path, std::span<const std::byte> bytes, int block,
                            std::int64_t index, KvDType dtype, int n_head, int rows) {
    auto fail = [&](const std::string& what) { return make_error(path + ": " + what); };
    if (bytes.size() < fixed_header)
        return fail("truncated chunk file (" + std::to_string(bytes.size()) + " bytes)");
    const std::byte* p = bytes.data();
    if (std::memcmp(p, file_magic, 4) != 0) return fail("not a KV chunk file (bad magic)");
    if (const auto v = read_at<std::uint32_t>(p, 4); v != file_version)
        return fail("unsupported chunk file version " + std::to_string(v));
    const auto f_block = read_at<std::int32_t>(p, 8);
    const auto f_index = read_at<std::int64_t>(p, 16);
    const auto f_dtype = read_at<std::uint8_t>(p, 24);
    const auto f_heads = read_at<std::int32_t>(p, 28);
    const auto f_rows = read_at<std::int32_t>(p, 32);
    const auto f_dim = read_at<std::int32_t>(p, 36);
    if (f_block != block)
        return fail("holds attention block " + std::to_string(f_block) + ", expected " +
                    std::to_string(block));
    if (f_index != index)
        return fail("holds chunk " + std::to_string(f_index) + ", expected " +
                    std::to_string(index));
    if (f_dtype != std::uint8_t(dtype))
        return fail(std::string("KV dtype ") +
                    (f_dtype <= std::uint8_t(KvDType::int8) ? dtype_name(KvDType(f_dtype)) : "?") +
                    ", expected " + dtype_name(dtype));
    if (f_heads != n_head)
        return fail(std::to_string(f_heads) + " heads, expected " + std::to_string(n_head));
    if (f_rows != rows)
        return fail(std::to_string(f_rows) + " rows, expected " + std::to_string(rows));
    if (f_dim != kv_head_dim) return fail("head size " + std::to_string(f_dim) + ", expected 64");
    if (read_at<std::uint32_t>(p, 60) != 0) return fail("bad reserved field");
    const Layout l = layout_of(dtype, n_head, rows);
    if (read_at<std::uint64_t>(p, 40) != l.data) return fail("bad data offset");
    if (read_at<std::uint64_t>(p, 48) != l.size || bytes.size() != l.size)
        return fail("size " + std::to_string(bytes.size()) + " bytes, expected " +
                    std::to_string(l.size) + " (truncated or damaged)");
    std::uint32_t crc = crc32(bytes.first(meta_crc_at));
    crc = crc32(bytes.subspan(l.crc_table, l.data - l.crc_table), crc);
    if (crc != read_at<std::uint32_t>(p, meta_crc_at))
        return fail(
            "header fails its checksum (the file is corrupt; rebuild the document's store)");
    return l;
}

}  // namespace

std::string chunk_file_path(const std::string& store_dir, int block, std::int64_t index) {
    return store_dir + "/kv/b" + std::to_string(block) + "/c" + std::to_string(index) + ".kv";
}

Result<std::uint64_t> write_chunk_file(const std::string& path, const KvChunk& chunk, int block,
                                       std::int64_t index) {
    const KvDType dtype = chunk.dtype();
    const int H = chunk.heads();
    const Layout l = layout_of(dtype, H, chunk.rows());

    // Header, CRC table and means first (the head CRCs need one pass over the data), then each
    // head's slices straight from the chunk's memory.
    std::vector<std::byte> header(l.data, std::byte{0});
    std::byte* p = header.data();
    auto put = [&](std::size_t at, auto v) { std::memcpy(p + at, &v, sizeof v); };
    std::memcpy(p, file_magic, 4);
    put(4, file_version);
    put(8, std::int32_t(block));
    put(16, std::int64_t(index));
    put(24, std::uint8_t(dtype));
    put(28, std::int32_t(H));
    put(32, std::int32_t(chunk.rows()));
    put(36, std::int32_t(kv_head_dim));
    put(40, std::uint64_t(l.data));
    put(48, std::uint64_t(l.size));
    for (int h = 0; h < H; ++h) {
        // A view's bytes must be intact before they are copied into a new file.
        auto rows = chunk.checked_head(h);
        if (!rows) return rows.error();
        put(l.crc_table + std::size_t(h) * 4, head_crc_of(*rows, l.slice));
        std::memcpy(p + l.means + std::size_t(h) * kv_head_dim * sizeof(float), chunk.mean(h),
                    kv_head_dim * sizeof(float));
    }
    std::uint32_t crc = crc32(std::span<const std::byte>(header).first(meta_crc_at));
    crc = crc32(std::span<const std::byte>(header).subspan(l.crc_table, l.data - l.crc_table), crc);
    put(meta_crc_at, crc);

    if (auto dir = path.rfind('/'); dir != std::string::npos && dir > 0)
        if (auto made = make_directories(path.substr(0, dir)); !made) return made.error();
    auto writer = AtomicFileWriter::create(path);
    if (!writer) return writer.error();
    if (auto ok = writer->write(header); !ok) return ok.error();
    for (int h = 0; h < H; ++h) {
        const KvRows r = chunk.head(h);
        if (auto ok = writer->write({static_cast<const std::byte*>(r.k), l.slice}); !ok)
            return ok.error();
        if (auto ok = writer->write({static_cast<const std::byte*>(r.v), l.slice}); !ok)
            return ok.error();
    }
    if (dtype == KvDType::int8) {
        std::vector<float> scales(2 * std::size_t(H));
        for (int h = 0; h < H; ++h) {
            scales[std::size_t(h)] = chunk.head(h).k_scale;
            scales[std::size_t(H + h)] = chunk.head(h).v_scale;
        }
        if (auto ok = writer->write(std::as_bytes(std::span(scales))); !ok) return ok.error();
    }
    if (auto ok = writer->commit(); !ok) return ok.error();
    return std::uint64_t(l.size);
}

namespace {

// Map `path` and wrap it as a KvChunk view (header checked; heads checked on first use).
Result<std::shared_ptr<const KvChunk>> open_chunk_file(const std::string& path, int block,
                                                       std::int64_t index, KvDType dtype,
                                                       int n_head, int rows,
                                                       HeadChecks head_checks = nullptr) {
    auto mapped = MappedFile::open(path);
    if (!mapped) return mapped.error();
    auto file = std::make_shared<const MappedFile>(std::move(*mapped));
    auto layout = check_header(path, file->bytes(), block, index, dtype, n_head, rows);
    if (!layout) return layout.error();
    const Layout& l = *layout;
    const std::byte* base = file->bytes().data();
    const auto* scales = reinterpret_cast<const float*>(base + l.scales);
    return KvChunk::view(dtype, n_head, rows, base + l.data, base + l.data + l.slice, 2 * l.slice,
                         dtype == KvDType::int8 ? scales : nullptr,
                         dtype == KvDType::int8 ? scales + n_head : nullptr,
                         reinterpret_cast<const float*>(base + l.means),
                         reinterpret_cast<const std::uint32_t*>(base + l.crc_table), file, path,
                         std::move(head_checks));
}

// What identifies one version of a file: a chunk rewritten after a failed ingest is a new inode
// (written under a temporary name and renamed), so its heads are checked again.
struct FileIdentity {
    std::uint64_t device = 0, inode = 0, size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileIdentity&) const = default;
};

#ifdef _WIN32
// Windows: volume serial number and file index stand for st_dev and st_ino (a file renamed over
// the old one has its own index); the last write time counts 100 ns from 1601, turned into ns
// from 1970 as on POSIX (in 1601's units * 100 it would overflow an int64).
std::optional<FileIdentity> file_identity(const std::string& path) {
    HANDLE h = ::CreateFileW(wide_path(path).c_str(), FILE_READ_ATTRIBUTES,
                             FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                             OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) return std::nullopt;
    BY_HANDLE_FILE_INFORMATION info{};
    const BOOL ok = ::GetFileInformationByHandle(h, &info);
    ::CloseHandle(h);
    if (!ok) return std::nullopt;
    const auto join = [](DWORD high, DWORD low) {
        return (std::uint64_t(high) << 32) | std::uint64_t(low);
    };
    const FILETIME& t = info.ftLastWriteTime;
    return FileIdentity{std::uint64_t(info.dwVolumeSerialNumber),
                        join(info.nFileIndexHigh, info.nFileIndexLow),
                        join(info.nFileSizeHigh, info.nFileSizeLow),
                        (std::int64_t(join(t.dwHighDateTime, t.dwLowDateTime)) -
                         std::int64_t(116444736000000000)) * 100};
}
#else
std::optional<FileIdentity> file_identity(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return FileIdentity{std::uint64_t(st.st_dev), std::uint64_t(st.st_ino),
                        std::uint64_t(st.st_size),
                        std::int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}
#endif

}  // namespace

// The cache holds chunk views (each owning its mapping). The per-head check states outlive the
// mappings (a few bytes per chunk file, keyed by path and file identity), so a head's CRC is
// checked once per process even when a small budget makes the LRU remap chunks all the time:
// without that, a 1M-token ingest with a 64 MB budget spent 72% of its time in CRC-32.
struct ChunkFileCache::Impl {
    struct Checks {
        FileIdentity identity;
        HeadChecks states;
    };

    struct Entry {
        std::shared_ptr<const KvChunk> chunk;
        std::uint64_t bytes = 0;
        std::list<std::string>::iterator lru;  // position in `order`
    };

    explicit Impl(std::uint64_t budget_) : budget(budget_) {}

    template <typename Open>
    Result<std::shared_ptr<const KvChunk>> get(const std::string& path, const Open& open) {
        {
            std::lock_guard lock(mutex);
            if (auto it = entries.find(path); it != entries.end()) {
                order.splice(order.begin(), order, it->second.lru);
                return it->second.chunk;
            }
        }
        // Mapped outside the lock: other threads keep reading cached chunks meanwhile. Two
        // threads may map the same file; the first one inserted wins.
        HeadChecks states;
        if (const auto id = file_identity(path)) {
            std::lock_guard lock(mutex);
            auto& known = checks[path];
            if (!known.states || !(known.identity == *id)) {
                known.identity = *id;
                known.states = nullptr;  // created by the first view below
            }
            states = known.states;
        }
        auto opened = open(states);
        if (!opened) return opened.error();
        std::lock_guard lock(mutex);
        if (auto it = entries.find(path); it != entries.end()) {
            order.splice(order.begin(), order, it->second.lru);
            return it->second.chunk;
        }
        const KvChunk& c = **opened;
        if (!states) {
            if (auto it = checks.find(path); it != checks.end() && !it->second.states)
                it->second.states = c.head_checks();
        }
        const std::uint64_t size = layout_of(c.dtype(), c.heads(), c.rows()).size;
        order.push_front(path);
        entries.emplace(path, Entry{*opened, size, order.begin()});
        mapped += size;
        // The least recently used go first; the new entry only if it alone exceeds the budget
        // (the caller's pointer keeps it mapped until it is done with it).
        while (mapped > budget && !order.empty()) {
            auto victim = entries.find(order.back());
            mapped -= victim->second.bytes;
            entries.erase(victim);
            order.pop_back();
        }
        return opened;
    }

    // The file is mapped here now (so it was read, and most likely still is in the page cache).
    bool holds(const std::string& path) const {
        std::lock_guard lock(mutex);
        return entries.count(path) != 0;
    }

    mutable std::mutex mutex;
    std::uint64_t budget;
    std::uint64_t mapped = 0;
    std::list<std::string> order;  // most recently used first
    std::unordered_map<std::string, Entry> entries;
    std::unordered_map<std::string, Checks> checks;
};

ChunkFileCache::ChunkFileCache(std::uint64_t ram_budget_bytes)
    : m_impl(std::make_unique<Impl>(ram_budget_bytes)) {}
ChunkFileCache::~ChunkFileCache() = default;

std::uint64_t ChunkFileCache::mapped_bytes() const {
    std::lock_guard lock(m_impl->mutex);
    return m_impl->mapped;
}

std::uint64_t ChunkFileCache::budget() const {
    return m_impl->budget;
}

namespace {

class DiskChunkSource final : public ChunkSource {
public:
    DiskChunkSource(std::shared_ptr<ChunkFileCache> cache, std::string dir, int block,
                    KvDType dtype, int n_head, int chunk_size)
        : m_cache(std::move(cache)),
          m_dir(std::move(dir)),
          m_block(block),
          m_dtype(dtype),
          m_heads(n_head),
          m_rows(chunk_size) {}

    Result<std::shared_ptr<const KvChunk>> load(std::int64_t c) const override {
        const std::string path = chunk_file_path(m_dir, m_block, c);
        auto chunk = m_cache->impl().get(path, [&](HeadChecks states) {
            return open_chunk_file(path, m_block, c, m_dtype, m_heads, m_rows, std::move(states));
        });
        if (!chunk) return chunk.error();
        // A file cached for another source of the same path with other dimensions.
        const KvChunk& k = **chunk;
        if (k.dtype() != m_dtype || k.heads() != m_heads || k.rows() != m_rows)
            return make_error(path + ": shape differs from the cache's");
        return chunk;
    }

    // Only files this cache has not mapped: decode announces the chunks it selects on every
    // token, mostly the same ones, and each announcement costs an open, an fadvise and a close.
    void prefetch(std::int64_t c) const override {
        const std::string path = chunk_file_path(m_dir, m_block, c);
        if (!m_cache->impl().holds(path)) advise_will_read(path);
    }

private:
    std::shared_ptr<ChunkFileCache> m_cache;
    std::string m_dir;
    int m_block;
    KvDType m_dtype;
    int m_heads;
    int m_rows;
};

}  // namespace

std::shared_ptr<ChunkSource> make_disk_chunk_source(std::shared_ptr<ChunkFileCache> cache,
                                                    const std::string& store_dir, int block,
                                                    KvDType dtype, int n_head, int chunk_size) {
    return std::make_shared<DiskChunkSource>(std::move(cache), store_dir, block, dtype, n_head,
                                             chunk_size);
}

Result<void> verify_chunk_file(const std::string& path, int block, std::int64_t index,
                               KvDType dtype, int n_head, int chunk_size) {
    auto chunk = open_chunk_file(path, block, index, dtype, n_head, chunk_size);
    if (!chunk) return chunk.error();
    const KvChunk& c = **chunk;
    for (int h = 0; h < n_head; ++h) {
        auto rows = c.checked_head(h);
        if (!rows) return rows.error();
        // The stored means must be what the data give, bit for bit (as KvChunk computes them).
        float mean[kv_head_dim];
        kv_mean_key(*rows, mean);
        if (std::memcmp(mean, c.mean(h), sizeof mean) != 0)
            return make_error(path + ": head " + std::to_string(h) +
                              ": stored mean key differs from the keys (the file is corrupt; "
                              "rebuild the document's store)");
    }
    return {};
}

}  // namespace lectern
