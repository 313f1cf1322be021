// State: the zero state, fork, and the versioned, checksummed byte image (serialize/deserialize).
#include <cstring>
#include <string>
#include <utility>

#include "core/byte_stream.h"
#include "infer/model_weights.h"
#include "infer/state_impl.h"

namespace lectern {
namespace {

constexpr char kMagic[8] = {'L', 'C', 'T', 'N', 'S', 'T', 'A', 'T'};
constexpr std::uint32_t kVersion = 1;

// FNV-1a over every shape field of the config: two models with the same block counts and widths
// but e.g. different LoRA ranks or FFN widths get different fingerprints.
std::uint32_t config_hash(const ModelConfig& c) {
    const std::string s = std::string(arch_name(c.arch)) + "|" + c.block_order + "|" +
                          std::to_string(c.n_rwkv) + "|" + std::to_string(c.n_attn) + "|" +
                          std::to_string(c.n_embd) + "|" + std::to_string(c.n_head) + "|" +
                          std::to_string(c.head_size) + "|" + std::to_string(c.vocab) + "|" +
                          std::to_string(c.ffn_dim) + "|" + std::to_string(c.lora_decay) + "|" +
                          std::to_string(c.lora_iclr) + "|" + std::to_string(c.lora_value) + "|" +
                          std::to_string(c.lora_gate);
    std::uint32_t h = 2166136261u;
    for (unsigned char ch : s) h = (h ^ ch) * 16777619u;
    return h;
}

void put_floats(ByteWriter& w, const std::vector<float>& v) {
    w.put_bytes(v.data(), v.size() * sizeof(float));
}

bool get_floats(ByteReader& r, std::vector<float>& v) {
    return r.get_bytes(v.data(), v.size() * sizeof(float));
}

Error mismatch(const char* what, std::int32_t theirs, int ours) {
    return make_error("state: made for a model with " + std::to_string(theirs) + " " + what +
                      ", this model has " + std::to_string(ours));
}

}  // namespace

RecurrentState RecurrentState::zeros(const ModelConfig& c) {
    RecurrentState s;
    const std::size_t C = std::size_t(c.n_embd);
    const std::size_t wkv = std::size_t(c.n_head) * c.head_size * c.head_size;
    s.att_shift.assign(std::size_t(c.n_rwkv), std::vector<float>(C, 0.0f));
    s.wkv.assign(std::size_t(c.n_rwkv), std::vector<float>(wkv, 0.0f));
    s.ffn_shift.assign(std::size_t(c.n_rwkv), std::vector<float>(C, 0.0f));
    s.attn_ffn_shift.assign(std::size_t(c.n_attn), std::vector<float>(C, 0.0f));
    return s;
}

Result<void> check_attention_options(const AttentionOptions& o) {
    if (o.mode != AttentionMode::native && o.mode != AttentionMode::compat)
        return make_error("attention options: unknown mode " + std::to_string(int(o.mode)));
    if (o.kv_dtype != KvDType::f32 && o.kv_dtype != KvDType::f16 && o.kv_dtype != KvDType::int8)
        return make_error("attention options: unknown KV dtype " + std::to_string(int(o.kv_dtype)));
    if (o.chunk_size < 1)
        return make_error("attention options: chunk size must be positive, got " +
                          std::to_string(o.chunk_size));
    if (o.top_k < 1)
        return make_error("attention options: top-k must be positive, got " +
                          std::to_string(o.top_k));
    if (o.kv_max < 0 || o.kv_min < 0 || o.kv_window < 0)
        return make_error("attention options: KV cache limits must not be negative");
    if (o.kv_max > 0 && o.kv_window > o.kv_min)
        return make_error("attention options: KV window " + std::to_string(o.kv_window) +
                          " is larger than the minimum cache size " + std::to_string(o.kv_min));
    return {};
}

State::State(std::shared_ptr<const Model> model, const AttentionOptions& attention)
    : m_impl(std::make_unique<Impl>()) {
    const ModelConfig& c = model->config();
    m_impl->attention = attention;
    m_impl->rec = RecurrentState::zeros(c);
    m_impl->kv.reserve(std::size_t(c.n_attn));
    for (int j = 0; j < c.n_attn; ++j) m_impl->kv.emplace_back(c.n_embd, c.n_head, attention);
    m_impl->model = std::move(model);
}
State::State(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
State::State(State&&) noexcept = default;
State& State::operator=(State&&) noexcept = default;
State::~State() = default;

Result<void> State::Impl::sync_host() const {
    if (!host_rec_stale) return {};
    if (!device) return make_error("state: the device copy of the recurrent state is missing");
    if (auto ok = device->download(rec); !ok)
        return with_context("state: reading the recurrent state back from the GPU", ok.error());
    host_rec_stale = false;
    return {};
}

State State::fork() const {
    auto copy = std::make_unique<Impl>();
    copy->model = m_impl->model;
    copy->attention = m_impl->attention;
    copy->position = m_impl->position;
    // The host copy is always complete; a GPU state is also copied on the device when the
    // backend can (a question forked from a document's state then skips uploading its KV rows),
    // else the copy's next GPU call uploads it.
    if (auto ok = m_impl->sync_host(); !ok) copy->broken = ok.error().message;
    copy->rec = m_impl->rec;
    copy->kv.reserve(m_impl->kv.size());
    for (const KvCache& k : m_impl->kv) copy->kv.push_back(k.fork());
    if (copy->broken.empty()) copy->broken = m_impl->broken;
    if (m_impl->device && m_impl->device_rec_valid && copy->broken.empty()) {
        std::lock_guard lock(m_impl->model->impl().mutex);
        copy->device = m_impl->device->fork();
        copy->device_rec_valid = copy->device != nullptr;
    }
    return State(std::move(copy));
}

std::int64_t State::position() const { return m_impl->position; }
const AttentionOptions& State::attention() const { return m_impl->attention; }
const Model& State::model() const { return *m_impl->model; }

namespace {
// Views of the host copy, refreshed from the GPU first (empty when that fails).
std::span<const float> view(const State::Impl& s,
                            const std::vector<std::vector<float>> RecurrentState::*part, int i) {
    if (!s.sync_host()) return {};
    const auto& v = s.rec.*part;
    if (i < 0 || std::size_t(i) >= v.size()) return {};
    return v[std::size_t(i)];
}
}  // namespace

std::span<const float> State::wkv_state(int i) const {
    return view(*m_impl, &RecurrentState::wkv, i);
}
std::span<const float> State::att_shift(int i) const {
    return view(*m_impl, &RecurrentState::att_shift, i);
}
std::span<const float> State::ffn_shift(int i) const {
    return view(*m_impl, &RecurrentState::ffn_shift, i);
}
std::span<const float> State::attn_ffn_shift(int j) const {
    return view(*m_impl, &RecurrentState::attn_ffn_shift, j);
}

// Image layout (little-endian): magic[8], u32 version, u64 total size, fingerprint (i32 n_rwkv,
// n_attn, n_embd, n_head, vocab, u32 config hash), options (u8 mode, i32 chunk, top_k, kv_max,
// kv_min, kv_window, u8 kv_dtype), i64 position, per RWKV block att_shift, wkv, ffn_shift,
// per attention block ffn_shift, per attention block (u64 length, KvCache image), u32 CRC-32 of
// everything before it.
Result<std::vector<std::byte>> State::serialize() const {
    if (auto ok = m_impl->sync_host(); !ok) return ok.error();
    const ModelConfig& c = m_impl->model->config();
    const AttentionOptions& o = m_impl->attention;
    // The magic is copied into a sized vector rather than appended: GCC 12 reports a false
    // -Wstringop-overflow for the first insert into an empty vector here.
    std::vector<std::byte> out(sizeof kMagic);
    std::memcpy(out.data(), kMagic, sizeof kMagic);
    std::size_t floats = 0;
    for (const auto* group : {&m_impl->rec.att_shift, &m_impl->rec.wkv, &m_impl->rec.ffn_shift,
                              &m_impl->rec.attn_ffn_shift})
        for (const auto& v : *group) floats += v.size();
    out.reserve(128 + floats * sizeof(float));
    ByteWriter w(out);
    w.put(kVersion);
    const std::size_t size_at = out.size();
    w.put(std::uint64_t(0));  // patched below
    for (int v : {c.n_rwkv, c.n_attn, c.n_embd, c.n_head, c.vocab}) w.put(std::int32_t(v));
    w.put(config_hash(c));
    w.put(std::uint8_t(o.mode));
    for (int v : {o.chunk_size, o.top_k, o.kv_max, o.kv_min, o.kv_window}) w.put(std::int32_t(v));
    w.put(std::uint8_t(o.kv_dtype));
    w.put(std::int64_t(m_impl->position));
    for (int i = 0; i < c.n_rwkv; ++i) {
        put_floats(w, m_impl->rec.att_shift[std::size_t(i)]);
        put_floats(w, m_impl->rec.wkv[std::size_t(i)]);
        put_floats(w, m_impl->rec.ffn_shift[std::size_t(i)]);
    }
    for (const auto& s : m_impl->rec.attn_ffn_shift) put_floats(w, s);
    for (const KvCache& k : m_impl->kv) {
        std::vector<std::byte> image;
        if (auto ok = k.serialize(image); !ok) return with_context("state image", ok.error());
        w.put(std::uint64_t(image.size()));
        w.put_bytes(image.data(), image.size());
    }
    const std::uint64_t total = out.size() + sizeof(std::uint32_t);
    std::memcpy(out.data() + size_at, &total, sizeof total);
    w.put(crc32(out));
    return out;
}

Result<State> State::deserialize(std::shared_ptr<const Model> model,
                                 std::span<const std::byte> bytes) {
    ByteReader r(bytes);
    char magic[8];
    if (!r.get_bytes(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof magic) != 0)
        return make_error("state: not a Lectern state image (bad magic)");
    std::uint32_t version = 0;
    std::uint64_t total = 0;
    if (!r.get(version)) return make_error("state: truncated (no format version)");
    if (version > kVersion)
        return make_error("state: format version " + std::to_string(version) +
                          " is newer than this Lectern (" + std::to_string(kVersion) + ")");
    if (version == 0) return make_error("state: bad format version 0");
    if (!r.get(total)) return make_error("state: truncated (no size)");
    if (bytes.size() < total)
        return make_error("state: truncated (" + std::to_string(bytes.size()) + " of " +
                          std::to_string(total) + " bytes)");
    if (bytes.size() > total)
        return make_error("state: " + std::to_string(bytes.size() - total) +
                          " unexpected bytes after the image");
    if (total < r.position() + 4) return make_error("state: bad image size " + std::to_string(total));
    std::uint32_t stored_crc = 0;
    std::memcpy(&stored_crc, bytes.data() + total - 4, 4);
    if (crc32(bytes.first(std::size_t(total - 4))) != stored_crc)
        return make_error("state: checksum mismatch");
    // From here the image is intact: a failed read means it was written inconsistently.
    ByteReader body(bytes.first(std::size_t(total - 4)));
    body.get_bytes(magic, sizeof magic);
    body.get(version);
    body.get(total);
    const ModelConfig& c = model->config();
    std::int32_t fp[5];
    std::uint32_t hash = 0;
    for (auto& v : fp)
        if (!body.get(v)) return make_error("state: truncated header");
    if (!body.get(hash)) return make_error("state: truncated header");
    if (fp[0] != c.n_rwkv) return mismatch("RWKV blocks", fp[0], c.n_rwkv);
    if (fp[1] != c.n_attn) return mismatch("attention blocks", fp[1], c.n_attn);
    if (fp[2] != c.n_embd) return mismatch("channels", fp[2], c.n_embd);
    if (fp[3] != c.n_head) return mismatch("heads", fp[3], c.n_head);
    if (fp[4] != c.vocab) return mismatch("vocabulary entries", fp[4], c.vocab);
    if (hash != config_hash(c))
        return make_error("state: made for a model with a different configuration");

    AttentionOptions o;
    std::uint8_t mode = 0, kv_dtype = 0;
    std::int32_t ints[5];
    std::int64_t position = 0;
    bool ok = body.get(mode);
    for (auto& v : ints) ok = ok && body.get(v);
    ok = ok && body.get(kv_dtype) && body.get(position);
    if (!ok) return make_error("state: truncated header");
    o.mode = AttentionMode(mode);
    o.chunk_size = ints[0];
    o.top_k = ints[1];
    o.kv_max = ints[2];
    o.kv_min = ints[3];
    o.kv_window = ints[4];
    o.kv_dtype = KvDType(kv_dtype);
    if (auto checked = check_attention_options(o); !checked)
        return with_context("state", checked.error());
    if (position < 0) return make_error("state: negative position " + std::to_string(position));

    auto impl = std::make_unique<Impl>();
    impl->attention = o;
    impl->position = position;
    impl->rec = RecurrentState::zeros(c);
    for (int i = 0; i < c.n_rwkv; ++i) {
        const std::size_t u = std::size_t(i);
        if (!get_floats(body, impl->rec.att_shift[u]) || !get_floats(body, impl->rec.wkv[u]) ||
            !get_floats(body, impl->rec.ffn_shift[u]))
            return make_error("state: truncated in RWKV block " + std::to_string(i));
    }
    for (int j = 0; j < c.n_attn; ++j)
        if (!get_floats(body, impl->rec.attn_ffn_shift[std::size_t(j)]))
            return make_error("state: truncated in attention block " + std::to_string(j));
    // The KV cache images are parsed in place (no copy): walk them by offset.
    std::size_t pos = body.position();
    const std::size_t end = std::size_t(total - 4);
    for (int j = 0; j < c.n_attn; ++j) {
        std::uint64_t len = 0;
        if (end - pos < sizeof len)
            return make_error("state: truncated KV cache of attention block " + std::to_string(j));
        std::memcpy(&len, bytes.data() + pos, sizeof len);
        pos += sizeof len;
        if (len > end - pos)
            return make_error("state: truncated KV cache of attention block " + std::to_string(j));
        auto kv = KvCache::deserialize(bytes.subspan(pos, std::size_t(len)), c.n_embd, c.n_head,
                                       o);
        if (!kv)
            return with_context("state: KV cache of attention block " + std::to_string(j),
                                kv.error());
        pos += std::size_t(len);
        impl->kv.push_back(std::move(*kv));
    }
    if (pos != end)
        return make_error("state: " + std::to_string(end - pos) +
                          " unexpected bytes before the checksum");
    impl->model = std::move(model);
    return State(std::move(impl));
}

}  // namespace lectern
