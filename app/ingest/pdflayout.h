// Page layout analysis for PDFs, independent of Poppler so it can be tested on synthetic words:
// words -> lines (by vertical overlap) -> reading order (column by column when a vertical
// gutter splits the page) -> paragraphs with end-of-line hyphenation repaired. Also the
// footprints used to find running headers and footers that repeat across pages.
#pragma once

#include <QRectF>
#include <QSizeF>
#include <QString>
#include <QVector>

namespace Ingest {

struct PdfWord {
    QString text;
    QRectF box;  // page points, origin top left
    bool spaceAfter = false;
};

struct PdfLine {
    QString text;
    QRectF box;
    int flow = 0;        // lines of one flow (a column inside a region) read consecutively
    bool inTopBand = false;
    bool inBottomBand = false;
    bool dropped = false;  // a running header, footer or page number
};

// A piece of output: one line's text (hyphen possibly removed) and the separator before it.
struct PdfPiece {
    QString separator;  // "", " ", "\n" (list item, contents entry) or "\n\n" (paragraph)
    QString text;
    QRectF box;
};

}  // namespace Ingest

// QString and QRectF move by memcpy, so these do too (cheaper QVector growth and moves).
Q_DECLARE_TYPEINFO(Ingest::PdfWord, Q_RELOCATABLE_TYPE);
Q_DECLARE_TYPEINFO(Ingest::PdfLine, Q_RELOCATABLE_TYPE);
Q_DECLARE_TYPEINFO(Ingest::PdfPiece, Q_RELOCATABLE_TYPE);

namespace Ingest {

class PdfLayout {
public:
    // Expands the Latin ligatures U+FB00-U+FB06 (ff, fi, fl, ffi, ffl, st) by NFKC; nothing else
    // is compatibility-folded.
    static QString expandLigatures(const QString& text);

    // Lines of a page in reading order. `twoColumns` (optional) reports whether a gutter was
    // found.
    static QVector<PdfLine> readingOrder(QVector<PdfWord> words, const QSizeF& pageSize,
                                         bool* twoColumns = nullptr);

    // The x range of a vertical gutter (no word crosses it, text on both sides), or an empty
    // range. Exposed for tests.
    static bool findGutter(const QVector<PdfWord>& words, const QSizeF& pageSize, double* left,
                           double* right);

    // Lines (the dropped ones skipped) to pieces: lines of one flow are joined into paragraphs;
    // a new flow, a larger vertical gap or a change of line height starts a paragraph.
    static QVector<PdfPiece> paragraphs(const QVector<PdfLine>& lines);

    // Marks running headers, footers and page numbers (PdfLine::dropped) among the band lines
    // of a document's pages (each page's lines, in page order).
    static void dropRunningLines(const QVector<QVector<PdfLine>*>& pages);

    // "Page 12 of 30" -> "page # of #": the key under which header/footer lines are counted.
    static QString footprint(const QString& lineText);
    // True for lines that are only a page number ("12", "- 12 -", "Page 3", "iv").
    static bool isPageNumber(const QString& lineText);
};

}  // namespace Ingest
