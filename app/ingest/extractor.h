// The entry point of document ingestion: picks PDF, EPUB or text by the file's bytes (not its
// name) and returns clean text with its location map, or a one-line error. Never throws.
#pragma once

#include <QByteArray>
#include <QString>

#include "extracteddocument.h"
#include "extractoptions.h"
#include "lectern/result.h"

namespace Ingest {

class Extractor {
public:
    enum class Kind { Pdf, Epub, Zip, Text };
    // By content: "%PDF-" near the start; a zip whose first entry is "mimetype" =
    // application/epub+zip, or any zip holding META-INF/container.xml; else text.
    static Kind sniff(const QByteArray& head);

    static lectern::Result<ExtractedDocument> extractFile(const QString& path,
                                                          const ExtractOptions& options = {});
    // For PDF, `bytes` are written nowhere: Poppler reads them from memory.
    static lectern::Result<ExtractedDocument> extractBytes(const QByteArray& bytes,
                                                           const ExtractOptions& options = {});
    // Largest file accepted (text and EPUB are read whole into memory).
    static constexpr qint64 kMaxFileBytes = 1ll << 30;
};

}  // namespace Ingest
