// manifest.json: writing (a small hand-rolled JSON emitter; the manifest is flat and small) and
// reading back through the engine's strict JSON reader, with consistency checks so that a
// hand-edited or damaged manifest is refused with a reason instead of misread.
#include "store/manifest.h"

#include <cstdio>

#include "model/json_reader.h"

namespace lectern {
namespace {

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
        switch (ch) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (ch < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", ch);
                    out += buf;
                } else {
                    out.push_back(char(ch));
                }
        }
    }
    return out + "\"";
}

std::string num(std::uint64_t v) { return std::to_string(v); }
std::string num(std::int64_t v) { return std::to_string(v); }
std::string num(int v) { return std::to_string(v); }

std::string file_fields(const ListedFile& f) {
    return "\"file\": " + quote(f.path) + ", \"bytes\": " + num(f.bytes) +
           ", \"crc32\": " + num(std::uint64_t(f.crc));
}

// Typed member access with errors naming the key.
struct Reader {
    const JsonValue& obj;
    std::string where;

    Result<const JsonValue*> get(std::string_view key, JsonValue::Kind kind) const {
        const JsonValue* v = obj.member(key);
        if (!v) return make_error(where + "missing \"" + std::string(key) + "\"");
        if (v->kind != kind)
            return make_error(where + "\"" + std::string(key) + "\" has the wrong type");
        return v;
    }
    Result<std::uint64_t> u64(std::string_view key) const {
        auto v = get(key, JsonValue::Kind::number);
        if (!v) return v.error();
        if (!(*v)->is_uint || (*v)->uint > std::uint64_t(INT64_MAX))
            return make_error(where + "\"" + std::string(key) + "\" is not a valid count");
        return (*v)->uint;
    }
    Result<std::string> text(std::string_view key) const {
        auto v = get(key, JsonValue::Kind::string);
        if (!v) return v.error();
        return (*v)->text;
    }
};

#define TRY_ASSIGN(lhs, expr) \
    do { \
        auto _v = (expr); \
        if (!_v) return _v.error(); \
        lhs = decltype(lhs)(*_v); \
    } while (0)

Result<ListedFile> read_file_fields(const Reader& r) {
    ListedFile f;
    TRY_ASSIGN(f.path, r.text("file"));
    TRY_ASSIGN(f.bytes, r.u64("bytes"));
    std::uint64_t crc = 0;
    TRY_ASSIGN(crc, r.u64("crc32"));
    if (crc > 0xffffffffu) return make_error(r.where + "bad crc32");
    f.crc = std::uint32_t(crc);
    // Listed paths are relative and stay inside the folder (a manifest must not make open()
    // touch files elsewhere).
    if (f.path.empty() || f.path[0] == '/' || f.path.find("..") != std::string::npos)
        return make_error(r.where + "bad file path \"" + f.path + "\"");
    return f;
}

Result<KvDType> parse_dtype(const std::string& s) {
    if (s == "f32") return KvDType::f32;
    if (s == "f16") return KvDType::f16;
    if (s == "int8") return KvDType::int8;
    return make_error("unknown kv_dtype \"" + s + "\"");
}

Result<const JsonValue*> array(const JsonValue& root, std::string_view key) {
    return Reader{root, ""}.get(key, JsonValue::Kind::array);
}

Result<void> check_consistency(const Manifest& m) {
    const auto& a = m.options.attention;
    if (a.chunk_size < 1 || a.top_k < 1 || m.options.checkpoint_every < 1 || m.n_attn < 0 ||
        m.n_head < 1)
        return make_error("bad attention parameters");
    std::int64_t at = 0;
    for (const TokenSegment& s : m.segments) {
        if (s.begin != at || s.end <= s.begin) return make_error("token segments are not contiguous");
        at = s.end;
    }
    if (at != m.tokens)
        return make_error("token segments cover " + std::to_string(at) + " tokens, not " +
                          std::to_string(m.tokens));
    std::vector<std::int64_t> means_end(std::size_t(m.n_attn), 0);
    for (const MeansSegment& s : m.means) {
        if (s.block < 0 || s.block >= m.n_attn) return make_error("means of an unknown block");
        auto& e = means_end[std::size_t(s.block)];
        if (s.first != e || s.end <= s.first) return make_error("means segments are not contiguous");
        e = s.end;
    }
    for (std::int64_t e : means_end)
        if (e != m.chunk_count()) return make_error("means do not cover every chunk");
    std::int64_t prev = -1;
    for (const CheckpointEntry& c : m.checkpoints) {
        if (c.position <= prev || c.position > m.tokens)
            return make_error("checkpoints out of order");
        prev = c.position;
    }
    if (m.tokens > 0 && (m.checkpoints.empty() || m.checkpoints.back().position != m.tokens))
        return make_error("no checkpoint at the committed position");
    std::int64_t first = 0;
    for (const SourceInfo& s : m.sources) {
        if (s.first_token != first) return make_error("sources are not contiguous");
        first += s.tokens;
    }
    return {};
}

}  // namespace

std::string kv_dtype_label(KvDType t) {
    switch (t) {
        case KvDType::f32: return "f32";
        case KvDType::f16: return "f16";
        case KvDType::int8: return "int8";
    }
    return "?";
}

std::int64_t Manifest::tokens_expected() const {
    std::int64_t n = 0;
    for (const SourceInfo& s : sources) n += s.tokens;
    return n;
}

std::vector<const ListedFile*> Manifest::files() const {
    std::vector<const ListedFile*> out;
    for (const auto& a : attachments)
        if (!a.path.empty()) out.push_back(&a);
    for (const auto& s : segments) out.push_back(&s.file);
    for (const auto& s : means) out.push_back(&s.file);
    for (const auto& c : checkpoints) out.push_back(&c.file);
    return out;
}

std::uint64_t Manifest::listed_bytes() const {
    std::uint64_t n = chunk_file_bytes * std::uint64_t(chunk_count()) * std::uint64_t(n_attn);
    for (const ListedFile* f : files()) n += f->bytes;
    return n;
}

std::string manifest_to_json(const Manifest& m) {
    const AttentionOptions& a = m.options.attention;
    std::string j = "{\n";
    j += "  \"format\": \"lectern-document-store\",\n";
    j += "  \"version\": " + num(m.version) + ",\n";
    j += "  \"model\": {\"sha256\": " + quote(m.model_sha256) + ", \"path\": " +
         quote(m.model_path) + ", \"attention_blocks\": " + num(m.n_attn) +
         ", \"heads\": " + num(m.n_head) + "},\n";
    j += "  \"tokenizer\": {\"kind\": " + quote(m.tokenizer.kind) + ", \"sha256\": " +
         quote(m.tokenizer.sha256) + "},\n";
    j += "  \"attention\": {\"mode\": \"native\", \"chunk_size\": " + num(a.chunk_size) +
         ", \"top_k\": " + num(a.top_k) + ", \"kv_dtype\": " + quote(kv_dtype_label(a.kv_dtype)) +
         "},\n";
    j += "  \"checkpoint_every\": " + num(m.options.checkpoint_every) + ",\n";
    j += "  \"disk_budget_bytes\": " + num(m.options.disk_budget_bytes) + ",\n";
    j += "  \"tokens\": " + num(m.tokens) + ",\n";
    j += "  \"chunk_file_bytes\": " + num(m.chunk_file_bytes) + ",\n";
    j += "  \"sources\": [";
    for (std::size_t i = 0; i < m.sources.size(); ++i) {
        const SourceInfo& s = m.sources[i];
        j += std::string(i ? ",\n" : "\n") + "    {\"name\": " + quote(s.name) +
             ", \"sha256\": " + quote(s.sha256) + ", \"bytes\": " + num(s.bytes) +
             ", \"settings\": " + quote(s.settings) + ", \"first_token\": " + num(s.first_token) +
             ", \"tokens\": " + num(s.tokens);
        if (i < m.attachments.size() && !m.attachments[i].path.empty())
            j += ", \"attachment\": {" + file_fields(m.attachments[i]) + "}";
        j += "}";
    }
    j += "],\n  \"token_segments\": [";
    for (std::size_t i = 0; i < m.segments.size(); ++i) {
        const TokenSegment& s = m.segments[i];
        j += std::string(i ? ",\n" : "\n") + "    {\"begin\": " + num(s.begin) +
             ", \"end\": " + num(s.end) + ", " + file_fields(s.file) + "}";
    }
    j += "],\n  \"means\": [";
    for (std::size_t i = 0; i < m.means.size(); ++i) {
        const MeansSegment& s = m.means[i];
        j += std::string(i ? ",\n" : "\n") + "    {\"block\": " + num(s.block) +
             ", \"first_chunk\": " + num(s.first) + ", \"end_chunk\": " + num(s.end) + ", " +
             file_fields(s.file) + "}";
    }
    j += "],\n  \"checkpoints\": [";
    for (std::size_t i = 0; i < m.checkpoints.size(); ++i) {
        const CheckpointEntry& c = m.checkpoints[i];
        j += std::string(i ? ",\n" : "\n") + "    {\"position\": " + num(c.position) +
             ", \"label\": " + quote(c.label) + ", \"keep\": " + (c.keep ? "true" : "false") +
             ", " + file_fields(c.file) + "}";
    }
    j += "]\n}\n";
    return j;
}

Result<Manifest> parse_manifest(std::string_view text) {
    auto parsed = parse_json(text);
    if (!parsed) return parsed.error();
    const JsonValue& root = *parsed;
    if (root.kind != JsonValue::Kind::object) return make_error("not a JSON object");
    const Reader r{root, ""};
    Manifest m;
    std::string format;
    TRY_ASSIGN(format, r.text("format"));
    if (format != "lectern-document-store") return make_error("not a Lectern document store");
    std::uint64_t version = 0;
    TRY_ASSIGN(version, r.u64("version"));
    if (version != std::uint64_t(store_format_version))
        return make_error("format version " + std::to_string(version) + " is not supported (" +
                          "this Lectern reads version " + std::to_string(store_format_version) +
                          ")");
    m.version = int(version);

    const JsonValue* model = nullptr;
    TRY_ASSIGN(model, r.get("model", JsonValue::Kind::object));
    const Reader mr{*model, "model: "};
    TRY_ASSIGN(m.model_sha256, mr.text("sha256"));
    TRY_ASSIGN(m.model_path, mr.text("path"));
    TRY_ASSIGN(m.n_attn, mr.u64("attention_blocks"));
    TRY_ASSIGN(m.n_head, mr.u64("heads"));
    const JsonValue* tok = nullptr;
    TRY_ASSIGN(tok, r.get("tokenizer", JsonValue::Kind::object));
    const Reader tr{*tok, "tokenizer: "};
    TRY_ASSIGN(m.tokenizer.kind, tr.text("kind"));
    TRY_ASSIGN(m.tokenizer.sha256, tr.text("sha256"));
    const JsonValue* att = nullptr;
    TRY_ASSIGN(att, r.get("attention", JsonValue::Kind::object));
    const Reader ar{*att, "attention: "};
    std::string mode, dtype;
    TRY_ASSIGN(mode, ar.text("mode"));
    if (mode != "native") return make_error("attention mode \"" + mode + "\" is not supported");
    AttentionOptions& a = m.options.attention;
    a = AttentionOptions{};
    TRY_ASSIGN(a.chunk_size, ar.u64("chunk_size"));
    TRY_ASSIGN(a.top_k, ar.u64("top_k"));
    TRY_ASSIGN(dtype, ar.text("kv_dtype"));
    TRY_ASSIGN(a.kv_dtype, parse_dtype(dtype));
    TRY_ASSIGN(m.options.checkpoint_every, r.u64("checkpoint_every"));
    TRY_ASSIGN(m.options.disk_budget_bytes, r.u64("disk_budget_bytes"));
    TRY_ASSIGN(m.tokens, r.u64("tokens"));
    TRY_ASSIGN(m.chunk_file_bytes, r.u64("chunk_file_bytes"));

    const JsonValue* list = nullptr;
    TRY_ASSIGN(list, array(root, "sources"));
    for (const JsonValue& item : list->items) {
        const Reader s{item, "source: "};
        SourceInfo info;
        TRY_ASSIGN(info.name, s.text("name"));
        TRY_ASSIGN(info.sha256, s.text("sha256"));
        TRY_ASSIGN(info.bytes, s.u64("bytes"));
        TRY_ASSIGN(info.settings, s.text("settings"));
        TRY_ASSIGN(info.first_token, s.u64("first_token"));
        TRY_ASSIGN(info.tokens, s.u64("tokens"));
        ListedFile attachment;
        if (item.member("attachment")) {  // optional: sources without one have no key
            const JsonValue* att_obj = nullptr;
            TRY_ASSIGN(att_obj, s.get("attachment", JsonValue::Kind::object));
            TRY_ASSIGN(attachment, read_file_fields(Reader{*att_obj, "source attachment: "}));
            if (attachment.path.rfind("sources/", 0) != 0)
                return make_error("source attachment: bad file path \"" + attachment.path + "\"");
            info.attachment_bytes = attachment.bytes;
        }
        m.sources.push_back(std::move(info));
        m.attachments.push_back(std::move(attachment));
    }
    TRY_ASSIGN(list, array(root, "token_segments"));
    for (const JsonValue& item : list->items) {
        const Reader s{item, "token segment: "};
        TokenSegment seg;
        TRY_ASSIGN(seg.begin, s.u64("begin"));
        TRY_ASSIGN(seg.end, s.u64("end"));
        TRY_ASSIGN(seg.file, read_file_fields(s));
        m.segments.push_back(std::move(seg));
    }
    TRY_ASSIGN(list, array(root, "means"));
    for (const JsonValue& item : list->items) {
        const Reader s{item, "means: "};
        MeansSegment seg;
        TRY_ASSIGN(seg.block, s.u64("block"));
        TRY_ASSIGN(seg.first, s.u64("first_chunk"));
        TRY_ASSIGN(seg.end, s.u64("end_chunk"));
        TRY_ASSIGN(seg.file, read_file_fields(s));
        m.means.push_back(std::move(seg));
    }
    TRY_ASSIGN(list, array(root, "checkpoints"));
    for (const JsonValue& item : list->items) {
        const Reader s{item, "checkpoint: "};
        CheckpointEntry c;
        TRY_ASSIGN(c.position, s.u64("position"));
        TRY_ASSIGN(c.label, s.text("label"));
        const JsonValue* keep = nullptr;
        TRY_ASSIGN(keep, s.get("keep", JsonValue::Kind::boolean));
        c.keep = keep->boolean;
        TRY_ASSIGN(c.file, read_file_fields(s));
        m.checkpoints.push_back(std::move(c));
    }
    if (auto ok = check_consistency(m); !ok) return ok.error();
    return m;
}

}  // namespace lectern
