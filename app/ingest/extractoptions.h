// Options shared by all extractors.
#pragma once

#include <QByteArray>

namespace Ingest {

struct ExtractOptions {
    QByteArray password;  // PDF user or owner password
    bool ocr = false;     // OCR PDF pages without a text layer (Tesseract; see PageOcr::available)
    // Threads reading PDF pages (0 = QThread::idealThreadCount(); fewer for short documents:
    // one per 16 pages). The result does not depend on it.
    int threads = 0;
    // EPUB limits against zip bombs.
    qint64 maxEntryBytes = 64ll << 20;   // one uncompressed entry
    qint64 maxTotalBytes = 512ll << 20;  // all entries read together
    int maxRatio = 200;                  // uncompressed / compressed, for entries over 1 MiB
};

}  // namespace Ingest
