// Shared fixtures of the application-layer tests: the tiny test model and SentencePiece
// tokenizer, a several-page text document built from tests/data/documents/book.md, and a store
// template with small chunks so a short document spans many attention chunks and checkpoints.
#pragma once

#include <QDir>
#include <QFile>
#include <QString>

#include "enginerequests.h"

namespace AppTest {

inline QString modelPath() {
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/models/rwkvx-vocab1k-f16.safetensors");
}
inline QString otherModelPath()  // same vocabulary size is not needed: it only has to differ
{
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/models/rwkvx-tiny-f16.safetensors");
}
inline QString tokenizerPath() {
    return QStringLiteral(LECTERN_TEST_DATA_DIR "/spm/tiny.model");
}

// `pages` copies of book.md's text, one per form-feed page, each starting with its number.
inline QString writeDocument(const QString& dir, int pages = 4) {
    QFile book(QStringLiteral(LECTERN_TEST_DATA_DIR "/documents/book.md"));
    if (!book.open(QIODevice::ReadOnly)) return {};
    const QByteArray text = book.readAll();
    QByteArray out;
    for (int i = 0; i < pages; ++i) {
        if (i) out += '\f';
        out += "Page " + QByteArray::number(i + 1) + ".\n\n" + text;
    }
    const QString path = QDir(dir).filePath(QStringLiteral("book-pages.txt"));
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(out) != out.size()) return {};
    return path;
}

inline IngestRequest storeTemplate() {
    IngestRequest r;
    r.tokenizerSpec = tokenizerPath();
    r.modelPath = modelPath();
    r.chunkSize = 32;
    r.topK = 3;
    r.checkpointEvery = 256;
    return r;
}

inline SamplingSettings greedy(int maxTokens = 24) {
    SamplingSettings s;
    s.temperature = 0.0;
    s.topP = 1.0;
    s.maxTokens = maxTokens;
    s.seed = 1;
    return s;
}

}  // namespace AppTest
