// KvCache: complete chunks in a ChunkStore (shared between forks) plus the float32 tail chunk,
// and the cache's self-describing, checksummed byte image.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "attention/kv_cache_impl.h"

namespace lectern {

namespace {

constexpr std::uint32_t image_magic = 0x43564b4cu;  // "LKVC" in file byte order
constexpr std::uint32_t image_version = 1;
// magic, version, length, C, H, B, dtype, compressed, reserved, tokens, rows, chunk count
constexpr std::size_t header_bytes = 4 + 4 + 8 + 4 * 3 + 1 + 1 + 2 + 8 * 3;

}  // namespace

KvCache::Impl::Impl(int n_embd_, int n_head_, const AttentionOptions& options_)
    : n_embd(n_embd_),
      n_head(n_head_),
      options(options_),
      store(n_head_, std::max(1, options_.chunk_size), options_.kv_dtype),
      tail(n_head_, std::max(1, options_.chunk_size)) {}

KvRows KvCache::Impl::tail_head(int h, int count) const {
    KvRows r;
    r.dtype = KvDType::f32;
    r.k = tail.keys(h);
    r.v = tail.values(h);
    r.stride = kv_head_dim;
    r.count = count;
    return r;
}

void KvCache::Impl::load_row(int h, std::int64_t r, bool values, float* out) const {
    const std::int64_t c = r / chunk_size();
    if (c < store.chunk_count()) {
        kv_load_row(store.chunk(c).head(h), values, int(r % chunk_size()), out);
    } else {
        kv_load_row(tail_head(h, tail.rows()), values, int(r - c * chunk_size()), out);
    }
}

void KvCache::Impl::append_tail(const float* k, const float* v, int n, std::size_t stride) {
    tail.append(k, v, n, stride);
    tokens += n;
}

void KvCache::Impl::complete_tail_if_full() {
    if (tail.rows() < chunk_size()) return;
    std::vector<const float*> kp(static_cast<std::size_t>(n_head), nullptr),
        vp(std::size_t(n_head), nullptr);
    for (int h = 0; h < n_head; ++h) {
        kp[std::size_t(h)] = tail.keys(h);
        vp[std::size_t(h)] = tail.values(h);
    }
    store.append_chunk(
        KvChunk::build(options.kv_dtype, n_head, chunk_size(), kp.data(), vp.data()));
    tail.clear();
}

void KvCache::Impl::append(const float* k, const float* v, int n, std::size_t stride) {
    int done = 0;
    while (done < n) {
        const int take = std::min(n - done, chunk_size() - tail.rows());
        append_tail(k + std::size_t(done) * stride, v + std::size_t(done) * stride, take, stride);
        complete_tail_if_full();
        done += take;
    }
}

KvCache::KvCache(int n_embd, int n_head, const AttentionOptions& options)
    : m_impl(std::make_unique<Impl>(n_embd, n_head, options)) {}
KvCache::KvCache(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
KvCache::KvCache(KvCache&&) noexcept = default;
KvCache& KvCache::operator=(KvCache&&) noexcept = default;
KvCache::~KvCache() = default;

// Copying the Impl copies the chunk pointers (shared, immutable) and the per-head means, and
// shares the tail's rows until one side appends (kv_tail.h): O(chunks), never the rows.
KvCache KvCache::fork() const {
    return KvCache(std::make_unique<Impl>(*m_impl));
}

std::int64_t KvCache::rows() const {
    return m_impl->rows();
}
std::int64_t KvCache::chunk_count() const {
    return m_impl->store.chunk_count();
}

Result<void> KvCache::serialize(std::vector<std::byte>& out) const {
    const Impl& c = *m_impl;
    const std::size_t start = out.size();
    ByteWriter w(out);
    w.put(image_magic);
    w.put(image_version);
    w.put(std::uint64_t(0));  // image length, patched below
    w.put(std::int32_t(c.n_embd));
    w.put(std::int32_t(c.n_head));
    w.put(std::int32_t(c.chunk_size()));
    w.put(std::uint8_t(c.options.kv_dtype));
    w.put(std::uint8_t(c.compressed ? 1 : 0));
    w.put(std::uint16_t(0));
    w.put(std::int64_t(c.tokens));
    w.put(std::int64_t(c.rows()));
    w.put(std::int64_t(c.store.chunk_count()));
    // Chunks that live on disk are mapped one at a time (and their heads checked) as they are
    // copied; a failure leaves `out` as it was.
    for (std::int64_t i = 0; i < c.store.chunk_count(); ++i) {
        auto chunk = c.store.acquire(i);
        Result<void> written = chunk ? (*chunk)->write(w) : Result<void>(chunk.error());
        if (!written) {
            out.resize(start);
            return written.error();
        }
    }
    // The store's means, which equal the chunks' own (the image reader recomputes and compares).
    for (std::int64_t i = 0; i < c.store.chunk_count(); ++i)
        for (int h = 0; h < c.n_head; ++h)
            w.put_bytes(c.store.means(h) + std::size_t(i) * kv_head_dim,
                        kv_head_dim * sizeof(float));
    const std::size_t tail_bytes = std::size_t(c.tail.rows()) * kv_head_dim * sizeof(float);
    for (int h = 0; h < c.n_head && tail_bytes > 0; ++h) w.put_bytes(c.tail.keys(h), tail_bytes);
    for (int h = 0; h < c.n_head && tail_bytes > 0; ++h) w.put_bytes(c.tail.values(h), tail_bytes);
    const std::uint64_t length = out.size() - start + 4;
    std::memcpy(out.data() + start + 8, &length, 8);
    const std::uint32_t crc = crc32(std::span<const std::byte>(out).subspan(start));
    w.put(crc);
    return {};
}

Result<std::size_t> KvCache::image_size(std::span<const std::byte> in) {
    ByteReader r(in);
    std::uint32_t magic = 0, version = 0;
    std::uint64_t length = 0;
    if (!r.get(magic) || !r.get(version) || !r.get(length))
        return make_error("KV cache image: truncated header");
    if (magic != image_magic) return make_error("KV cache image: bad magic");
    if (version != image_version)
        return make_error("KV cache image: unsupported version " + std::to_string(version));
    if (length < header_bytes + 4 || length > in.size())
        return make_error("KV cache image: length " + std::to_string(length) +
                          " does not fit the " + std::to_string(in.size()) + " bytes given");
    return std::size_t(length);
}

namespace {

// Everything after the fixed 16-byte prefix that image_size() checked; fills `impl`.
Result<void> read_image(std::span<const std::byte> in, int n_embd, int n_head,
                        const AttentionOptions& options, std::unique_ptr<KvCache::Impl>& impl) {
    ByteReader r(in.subspan(16));
    std::int32_t C = 0, H = 0, B = 0;
    std::uint8_t dtype = 0, compressed = 0;
    std::uint16_t reserved = 0;
    std::int64_t tokens = 0, rows = 0, n_chunks = 0;
    if (!r.get(C) || !r.get(H) || !r.get(B) || !r.get(dtype) || !r.get(compressed) ||
        !r.get(reserved) || !r.get(tokens) || !r.get(rows) || !r.get(n_chunks))
        return make_error("truncated header");
    if (C != n_embd || H != n_head)
        return make_error("shape C=" + std::to_string(C) + " H=" + std::to_string(H) +
                          ", expected C=" + std::to_string(n_embd) +
                          " H=" + std::to_string(n_head));
    if (B != options.chunk_size)
        return make_error("chunk size " + std::to_string(B) + ", expected " +
                          std::to_string(options.chunk_size));
    if (dtype > std::uint8_t(KvDType::int8) || KvDType(dtype) != options.kv_dtype)
        return make_error("KV dtype " + std::to_string(dtype) + " does not match the options");
    if (compressed > 1 || reserved != 0) return make_error("bad flags");
    if (n_chunks < 0 || rows < 0 || n_chunks > rows / B || rows - n_chunks * B >= B)
        return make_error("rows " + std::to_string(rows) + " inconsistent with " +
                          std::to_string(n_chunks) + " chunks of " + std::to_string(B));
    if (tokens < rows || (!compressed && tokens != rows))
        return make_error("token count " + std::to_string(tokens) + " inconsistent with rows");
    const std::size_t chunk_bytes =
        std::size_t(H) * std::size_t(B) * kv_head_dim * kv_dtype_size(options.kv_dtype) * 2;
    if (std::uint64_t(n_chunks) > r.remaining() / std::max<std::size_t>(chunk_bytes, 1))
        return make_error("chunk count exceeds the image");

    impl = std::make_unique<KvCache::Impl>(n_embd, n_head, options);
    for (std::int64_t i = 0; i < n_chunks; ++i) {
        auto chunk = KvChunk::read(r, options.kv_dtype, H, B);
        if (!chunk) return with_context("chunk " + std::to_string(i), chunk.error());
        impl->store.append_chunk(std::move(*chunk));
    }
    float mean[kv_head_dim];
    for (std::int64_t i = 0; i < n_chunks; ++i) {
        for (int h = 0; h < H; ++h) {
            if (!r.get_bytes(mean, sizeof(mean))) return make_error("truncated means");
            if (std::memcmp(mean, impl->store.chunk(i).mean(h), sizeof(mean)) != 0)
                return make_error("chunk " + std::to_string(i) + " head " + std::to_string(h) +
                                  ": stored mean differs from the chunk's keys");
        }
    }
    const int tail = int(rows - n_chunks * B);
    // All heads' keys, then all heads' values.
    std::vector<std::vector<float>> sides(std::size_t(2 * H));
    std::vector<const float*> heads(std::size_t(2 * H));
    for (std::size_t i = 0; i < sides.size(); ++i) {
        sides[i].resize(std::size_t(tail) * kv_head_dim);
        // (An empty vector's data() may be null, and memcpy(null, _, 0) is undefined.)
        if (!sides[i].empty() && !r.get_bytes(sides[i].data(), sides[i].size() * sizeof(float)))
            return make_error("truncated tail");
        heads[i] = sides[i].data();
    }
    impl->tail.assign(tail, heads.data(), heads.data() + H);
    impl->tokens = tokens;
    impl->compressed = compressed != 0;
    if (r.remaining() != 4) return make_error("size does not match its contents");
    return {};
}

}  // namespace

Result<KvCache> KvCache::deserialize(std::span<const std::byte> in, int n_embd, int n_head,
                                     const AttentionOptions& options) {
    auto size = image_size(in);
    if (!size) return size.error();
    if (*size != in.size())
        return make_error("KV cache image: " + std::to_string(in.size() - *size) +
                          " trailing bytes");
    std::uint32_t stored_crc = 0;
    std::memcpy(&stored_crc, in.data() + in.size() - 4, 4);
    if (crc32(in.first(in.size() - 4)) != stored_crc)
        return make_error("KV cache image: checksum mismatch");
    if (auto valid = validate_attention_options(options, n_embd, n_head); !valid)
        return with_context("KV cache image", valid.error());
    std::unique_ptr<Impl> impl;
    auto status = read_image(in, n_embd, n_head, options, impl);
    if (!status) return with_context("KV cache image", status.error());
    return KvCache(std::move(impl));
}

}  // namespace lectern
