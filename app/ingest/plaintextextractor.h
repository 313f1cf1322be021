// Plain text, Markdown and HTML to ExtractedDocument. The encoding is detected (TextDecoder);
// HTML goes through HtmlToText; text is split into pages at form feeds and into paragraphs at
// blank lines, each paragraph one span. Markdown is kept as written.
#pragma once

#include <QByteArray>

#include "extracteddocument.h"
#include "lectern/result.h"

namespace Ingest {

class PlainTextExtractor {
public:
    static lectern::Result<ExtractedDocument> extract(const QByteArray& bytes);
    // True when the decoded text looks like HTML (a doctype, <html>, or <body>/<p> markup early).
    static bool looksLikeHtml(const QString& text);
};

}  // namespace Ingest
