// The common output of every document extractor: clean UTF-8 text plus a location map from byte
// ranges of that text back to pages (PDF), chapters (EPUB) or form-feed pages (plain text).
#pragma once

#include <QByteArray>
#include <QRectF>
#include <QSizeF>
#include <QString>
#include <QStringList>
#include <QVector>

namespace Ingest {

// A byte range [begin, end) of ExtractedDocument::text and where it came from. For PDFs `rect`
// is the union of the words' boxes in page points (origin top left); elsewhere it is null.
struct TextSpan {
    qint64 begin = 0;
    qint64 end = 0;
    int page = 0;  // page index (PDF, text) or chapter index (EPUB)
    QRectF rect;
};

// One page of a PDF, one chapter (spine item) of an EPUB, one form-feed page of a text file.
struct PageInfo {
    QString label;            // PDF page label ("iv", "12"), EPUB chapter title, text page number
    QSizeF size;              // PDF page size in points; empty elsewhere
    bool hasTextLayer = true; // false: a PDF page without extractable text (scanned or blank)
    bool ocr = false;         // the text of this page came from OCR
    QStringList warnings;
    qint64 textBegin = 0;     // the page's byte range in ExtractedDocument::text
    qint64 textEnd = 0;
};

// A heading met in the text (EPUB/HTML <h1>-<h6>): a chapter mark for navigation and citing.
struct Heading {
    qint64 offset = 0;  // byte offset of the heading's text
    int level = 1;
    int page = 0;
    QString text;
};

struct ExtractedDocument {
    enum class Format { Text, Html, Pdf, Epub };

    Format format = Format::Text;
    QString title;
    QString encoding;   // what the source was decoded from (text/HTML); "UTF-8" otherwise
    QByteArray text;    // UTF-8, NFC; pages separated by a blank line ("\n\n")
    QVector<TextSpan> map;  // ordered by begin, non-overlapping
    QVector<PageInfo> pages;
    QVector<Heading> headings;
    QStringList warnings;   // document-level warnings, including every page's warnings

    QString textOf(const PageInfo& page) const
    {
        return QString::fromUtf8(text.mid(page.textBegin, page.textEnd - page.textBegin));
    }
    static const char* formatName(Format format);
};

inline const char* ExtractedDocument::formatName(Format format)
{
    switch (format) {
    case Format::Text: return "text";
    case Format::Html: return "html";
    case Format::Pdf: return "pdf";
    case Format::Epub: return "epub";
    }
    return "unknown";
}

}  // namespace Ingest
