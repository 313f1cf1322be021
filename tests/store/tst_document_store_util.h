// Shared helpers of the document store tests: the tiny RWKV-X model, store options with tiny
// chunks, ingesting a token list, reference logits from an in-memory State, and folder snapshots.
#pragma once

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QTemporaryDir>

#include <map>
#include <string>
#include <vector>

#include "infer_test_util.h"
#include "lectern/document_store.h"

namespace store_test {

inline const char* tiny_model = "rwkvx-tiny-f32.pth";
constexpr int question_length = 20;

inline lectern::StoreOptions options(lectern::KvDType dtype = lectern::KvDType::f16,
                                     int chunk = 8) {
    lectern::StoreOptions o;
    o.attention.chunk_size = chunk;
    o.attention.top_k = 3;
    o.attention.kv_dtype = dtype;
    o.checkpoint_every = 64;
    return o;
}

inline lectern::TokenizerIdentity tokenizer() { return {"world", "0123abcd"}; }

inline lectern::SourceInfo source(const std::string& name, std::int64_t tokens,
                                  const std::string& sha = "aa11") {
    lectern::SourceInfo s;
    s.name = name;
    s.sha256 = sha;
    s.bytes = std::uint64_t(tokens) * 3;
    s.settings = "test";
    s.tokens = tokens;
    return s;
}

inline std::vector<std::int64_t> offsets_for(std::int64_t first, std::size_t n) {
    std::vector<std::int64_t> o(n);
    for (std::size_t i = 0; i < n; ++i) o[i] = (first + std::int64_t(i)) * 3;
    return o;
}

// Last-row logits of feeding `prefix` then `question` into a fresh in-memory State.
inline std::vector<float> reference(const std::shared_ptr<const lectern::Model>& m,
                                    const lectern::AttentionOptions& a,
                                    const std::vector<lectern::token_id>& prefix,
                                    const std::vector<lectern::token_id>& question) {
    lectern::State s(m, a);
    std::vector<float> logits;
    if (!prefix.empty() && !lectern::forward(s, prefix, false, logits)) return {};
    if (!lectern::forward(s, question, false, logits)) return {};
    return logits;
}

// Last-row logits of the question on a State loaded from the store; empty with `error` set.
inline std::vector<float> ask(const lectern::DocumentStore& store,
                              const std::vector<lectern::token_id>& question,
                              std::int64_t as_of = -1, std::string* error = nullptr) {
    auto st = store.load_state(as_of);
    if (!st) {
        if (error) *error = st.error().message;
        return {};
    }
    std::vector<float> logits;
    auto ok = lectern::forward(*st, question, false, logits);
    if (!ok) {
        if (error) *error = ok.error().message;
        return {};
    }
    return logits;
}

// Every file under `dir` with its contents (small test stores only).
inline std::map<QString, QByteArray> snapshot(const QString& dir) {
    std::map<QString, QByteArray> out;
    QDirIterator it(dir, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        QFile f(path);
        if (f.open(QIODevice::ReadOnly)) out[QDir(dir).relativeFilePath(path)] = f.readAll();
    }
    return out;
}

inline std::uint64_t folder_bytes(const QString& dir) {
    std::uint64_t n = 0;
    for (const auto& [name, bytes] : snapshot(dir)) n += std::uint64_t(bytes.size());
    return n;
}

inline bool flip_byte(const QString& path, qint64 at) {
    QFile f(path);
    if (!f.open(QIODevice::ReadWrite)) return false;
    if (at < 0) at = f.size() / 2;
    f.seek(at);
    char c = 0;
    f.getChar(&c);
    f.seek(at);
    return f.putChar(char(c ^ 0x5a));
}

inline std::string str(const QString& s) { return s.toStdString(); }

}  // namespace store_test
