// The location map of an extracted document in a compact, self-contained form that can be kept
// beside the text (a document store keeps it as its source's attachment): which byte range of
// the extracted text is which page (PDF, form-feed text) or chapter (EPUB), the page labels, and
// the rectangles of the text on PDF pages. Serialized as compact JSON (format below and in
// docs/store-format.md, "Source attachments").
//
//   {"lectern_location_map": 1, "format": "pdf", "text_bytes": N,
//    "pages": [[begin, end, "label", has_text_layer(0/1), ocr(0/1)], ...],
//    "spans": [[begin, end, page, x, y, w, h], ...],      (rect in points, 2 decimals; PDF only)
//    "headings": [[offset, level, page, "text"], ...]}
#pragma once

#include <QByteArray>
#include <QString>
#include <QVector>

#include "extracteddocument.h"
#include "lectern/result.h"

namespace Ingest {

class LocationMap {
public:
    ExtractedDocument::Format format = ExtractedDocument::Format::Text;
    qint64 textBytes = 0;
    QVector<PageInfo> pages;     // label, textBegin/End, hasTextLayer, ocr (no size, warnings)
    QVector<TextSpan> spans;     // PDF: the spans with their rectangles; empty elsewhere
    QVector<Heading> headings;

    static LocationMap fromDocument(const ExtractedDocument& doc);
    QByteArray serialize() const;
    static lectern::Result<LocationMap> parse(const QByteArray& bytes);

    // Indices of the first and last page (chapter) whose text intersects [begin, end) (byte
    // offsets of the text); {-1, -1} when none does (e.g. a separator between pages).
    std::pair<int, int> pagesOf(qint64 begin, qint64 end) const;
    // "pages 12-14" / "pages 7" (PDF and text: page labels), "chapters 2-3" (EPUB: 1-based
    // spine positions), "" when the range covers no page.
    QString describe(qint64 begin, qint64 end) const;
};

}  // namespace Ingest
