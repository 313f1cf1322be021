// DocumentStore: create, open (fingerprint check, leftover cleanup, size checks), the manifest
// summary and the full verify. The model fingerprint is what ties a store to its checkpoint.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "core/atomic_file.h"
#include "core/native_path.h"
#include "infer/model_weights.h"
#include "store/data_files.h"
#include "store/sha256.h"
#include "store/store_impl.h"

namespace lectern {
namespace fs = std::filesystem;

namespace {

Result<Manifest> read_manifest(const std::string& dir, std::uint64_t* size = nullptr) {
    const std::string path = dir + "/" + manifest_name;
    std::error_code ec;
    if (!fs::exists(native_path(path), ec)) {
        if (!fs::is_directory(native_path(dir), ec)) return make_error(dir + ": no such folder");
        return make_error(dir + ": not a Lectern document store (no " + manifest_name + ")");
    }
    std::ifstream in(native_path(path), std::ios::binary);
    if (!in) return make_error(path + ": cannot be read (permission denied?)");
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    if (size) *size = s.size();
    auto m = parse_manifest(s);
    if (!m) return make_error(path + ": " + m.error().message + "; the store is damaged (rebuild it)");
    return m;
}

std::string short_hash(const std::string& h) { return h.substr(0, 12) + "…"; }

// Removes what an interrupted ingest left behind: temporary files, chunk files past the committed
// count, and unlisted files under the store's own subfolders (never anything else). Best effort:
// a read-only store is still usable for asking, and leftovers are harmless (nothing reads them).
void remove_leftovers(const std::string& dir, const Manifest& m) {
    std::set<std::string> listed;
    for (const ListedFile* f : m.files()) listed.insert(f->path);
    std::error_code ec;
    const fs::path root_dir = native_path(dir);
    for (const auto& entry : fs::directory_iterator(root_dir, ec)) {
        const std::string name = path_utf8(entry.path().filename());
        if (name.rfind(std::string(manifest_name) + atomic_temp_marker, 0) == 0)
            fs::remove(entry.path(), ec);
    }
    for (const char* sub : {"tokens", "checkpoints", "kv", "sources"}) {
        const fs::path root = root_dir / sub;
        if (!fs::is_directory(root, ec)) continue;
        std::vector<fs::path> doomed;
        for (auto it = fs::recursive_directory_iterator(root, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (!it->is_regular_file(ec)) continue;
            const std::string rel = generic_path_utf8(fs::relative(it->path(), root_dir, ec));
            if (listed.count(rel)) continue;
            int block = -1;
            std::int64_t index = -1;
            char tail = 0;
            if (std::sscanf(rel.c_str(), "kv/b%d/c%" SCNd64 ".k%c", &block, &index, &tail) == 3 &&
                block >= 0 && block < m.n_attn && index >= 0 && index < m.chunk_count() &&
                rel == generic_path_utf8(fs::relative(
                           native_path(chunk_file_path(dir, block, index)), root_dir, ec)))
                continue;
            doomed.push_back(it->path());
        }
        for (const auto& p : doomed) fs::remove(p, ec);
    }
}

Result<void> check_sizes(const std::string& dir, const Manifest& m) {
    std::error_code ec;
    const auto check = [&](const std::string& path, std::uint64_t bytes) -> Result<void> {
        const auto size = fs::file_size(native_path(path), ec);
        if (ec)
            return make_error(path + ": missing; the store is damaged (rebuild it, or restore the "
                              "file from a backup)");
        if (size != bytes)
            return make_error(path + ": " + std::to_string(size) + " bytes, expected " +
                              std::to_string(bytes) + " (truncated or damaged; rebuild the store)");
        return {};
    };
    for (const ListedFile* f : m.files())
        if (auto ok = check(dir + "/" + f->path, f->bytes); !ok) return ok;
    for (int j = 0; j < m.n_attn; ++j)
        for (std::int64_t c = 0; c < m.chunk_count(); ++c)
            if (auto ok = check(chunk_file_path(dir, j, c), m.chunk_file_bytes); !ok) return ok;
    return {};
}

Result<void> check_model(const std::string& dir, const Manifest& m, const Model& model) {
    const std::string ours = DocumentStore::model_fingerprint(model);
    if (ours != m.model_sha256)
        return make_error("store " + dir + " was made with another model (fingerprint " +
                          short_hash(m.model_sha256) + ", this model " + short_hash(ours) +
                          "); open it with " + m.model_path + " or rebuild it");
    const ModelConfig& c = model.config();
    if (c.n_attn != m.n_attn || (c.n_attn > 0 && c.n_head != m.n_head))
        return make_error("store " + dir + ": model shape does not match the manifest");
    return {};
}

StoreSummary make_summary(const Manifest& m, std::uint64_t manifest_bytes) {
    StoreSummary s;
    s.format_version = m.version;
    s.model_sha256 = m.model_sha256;
    s.model_path = m.model_path;
    s.tokenizer = m.tokenizer;
    s.options = m.options;
    s.sources = m.sources;
    s.tokens = m.tokens;
    s.tokens_expected = m.tokens_expected();
    s.complete = s.tokens == s.tokens_expected;
    for (const CheckpointEntry& c : m.checkpoints)
        s.checkpoints.push_back(CheckpointInfo{c.position, c.label, c.file.bytes});
    s.disk_bytes = m.listed_bytes() + manifest_bytes;
    s.bytes_per_token = m.tokens > 0 ? double(s.disk_bytes) / double(m.tokens) : 0.0;
    return s;
}

}  // namespace

Result<std::uint64_t> write_manifest(const std::string& dir, const Manifest& m) {
    const std::string text = manifest_to_json(m);
    const auto* p = reinterpret_cast<const std::byte*>(text.data());
    if (auto ok = write_file_atomic(dir + "/" + manifest_name, {p, text.size()}); !ok)
        return ok.error();
    return std::uint64_t(text.size());
}

std::string with_commas(std::int64_t n) {
    std::string digits = std::to_string(n < 0 ? -n : n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(digits[i]);
    }
    return n < 0 ? "-" + out : out;
}

std::string human_bytes(std::uint64_t b) {
    const char* units[] = {"KB", "MB", "GB", "TB"};
    if (b < 1024) return std::to_string(b) + " bytes";
    double v = double(b) / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, v == double(std::uint64_t(v)) ? "%.0f %s" : "%.1f %s", v,
                  units[u]);
    return buf;
}

std::string DocumentStore::model_fingerprint(const Model& model) {
    return tensor_fingerprint(model.impl().file);
}

DocumentStore::DocumentStore(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
DocumentStore::DocumentStore(DocumentStore&&) noexcept = default;
DocumentStore& DocumentStore::operator=(DocumentStore&&) noexcept = default;
DocumentStore::~DocumentStore() = default;

Result<DocumentStore> DocumentStore::create(const std::string& dir,
                                            std::shared_ptr<const Model> model,
                                            const TokenizerIdentity& tokenizer,
                                            const StoreOptions& options,
                                            const StoreRuntime& runtime) {
    const AttentionOptions& a = options.attention;
    if (a.mode != AttentionMode::native)
        return make_error("a document store needs native attention (compat attention depends on "
                          "how the text is split into calls)");
    if (a.kv_max != 0 || a.kv_min != 0 || a.kv_window != 0)
        return make_error("a document store keeps the whole KV cache: KV cache limits must be 0");
    if (options.checkpoint_every < 1)
        return make_error("checkpoint interval must be positive, got " +
                          std::to_string(options.checkpoint_every));
    if (!model) return make_error("create: no model");
    const ModelConfig& c = model->config();
    if (c.n_attn > 0)
        if (auto ok = validate_attention_options(a, c.n_embd, c.n_head); !ok) return ok.error();
    std::error_code ec;
    if (const fs::path d = native_path(dir);
        fs::exists(d, ec) && !(fs::is_directory(d, ec) && fs::is_empty(d, ec)))
        return make_error(dir + ": already exists and is not an empty folder (choose a new "
                          "folder, or open the store there)");
    for (const char* sub : {"", "/tokens", "/checkpoints", "/kv"})
        if (auto ok = make_directories(dir + sub); !ok) return ok.error();
    for (int j = 0; j < c.n_attn; ++j)
        if (auto ok = make_directories(dir + "/kv/b" + std::to_string(j)); !ok) return ok.error();

    auto impl = std::make_unique<Impl>();
    impl->dir = dir;
    impl->model = std::move(model);
    impl->runtime = runtime;
    Manifest& m = impl->manifest;
    m.model_sha256 = model_fingerprint(*impl->model);
    m.model_path = path_utf8(fs::absolute(native_path(impl->model->impl().file.path()), ec));
    m.tokenizer = tokenizer;
    m.options = options;
    m.options.attention.kv_max = m.options.attention.kv_min = m.options.attention.kv_window = 0;
    m.n_attn = c.n_attn;
    m.n_head = c.n_head;
    auto size = write_manifest(dir, m);
    if (!size) return size.error();
    impl->manifest_bytes = *size;
    impl->cache = std::make_shared<ChunkFileCache>(runtime.ram_budget_bytes);
    impl->means.assign(std::size_t(c.n_attn), {});
    return DocumentStore(std::move(impl));
}

Result<DocumentStore> DocumentStore::open(const std::string& dir,
                                          std::shared_ptr<const Model> model,
                                          const StoreRuntime& runtime) {
    if (!model) return make_error("open: no model");
    auto impl = std::make_unique<Impl>();
    auto m = read_manifest(dir, &impl->manifest_bytes);
    if (!m) return m.error();
    if (auto ok = check_model(dir, *m, *model); !ok) return ok.error();
    remove_leftovers(dir, *m);
    if (auto ok = check_sizes(dir, *m); !ok) return ok.error();
    impl->dir = dir;
    impl->model = std::move(model);
    impl->runtime = runtime;
    impl->manifest = std::move(*m);
    impl->cache = std::make_shared<ChunkFileCache>(runtime.ram_budget_bytes);
    impl->means.assign(std::size_t(impl->manifest.n_attn), {});
    return DocumentStore(std::move(impl));
}

Result<StoreSummary> DocumentStore::summary(const std::string& dir) {
    std::uint64_t size = 0;
    auto m = read_manifest(dir, &size);
    if (!m) return m.error();
    return make_summary(*m, size);
}

StoreSummary DocumentStore::summary() const {
    return make_summary(m_impl->manifest, m_impl->manifest_bytes);
}
const std::string& DocumentStore::dir() const { return m_impl->dir; }
std::int64_t DocumentStore::tokens() const { return m_impl->manifest.tokens; }

Result<void> DocumentStore::verify(const std::string& dir, std::shared_ptr<const Model> model) {
    auto m = read_manifest(dir);
    if (!m) return m.error();
    if (model)
        if (auto ok = check_model(dir, *m, *model); !ok) return ok.error();
    if (auto ok = check_sizes(dir, *m); !ok) return ok;
    for (const ListedFile* f : m->files())
        if (auto bytes = read_listed_file(dir, *f); !bytes) return bytes.error();
    const AttentionOptions& a = m->options.attention;
    for (int j = 0; j < m->n_attn; ++j)
        for (std::int64_t c = 0; c < m->chunk_count(); ++c)
            if (auto ok = verify_chunk_file(chunk_file_path(dir, j, c), j, c, a.kv_dtype,
                                            m->n_head, a.chunk_size);
                !ok)
                return ok;
    if (model)
        for (const CheckpointEntry& ck : m->checkpoints) {
            auto bytes = read_listed_file(dir, ck.file);
            if (!bytes) return bytes.error();
            auto d = decode_checkpoint(*bytes, model->config(), a.chunk_size);
            if (!d) return with_context(dir + "/" + ck.file.path, d.error());
            if (d->position != ck.position)
                return make_error(dir + "/" + ck.file.path + ": holds position " +
                                  std::to_string(d->position) + ", the manifest says " +
                                  std::to_string(ck.position));
        }
    return {};
}

}  // namespace lectern
