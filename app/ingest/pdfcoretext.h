// The words of PDF pages through Poppler's core text API (TextOutputDev), when Lectern is built
// with it (LECTERN_POPPLER_CORE). The words are those of Poppler::Page::textList(), without its
// per-page copy of the cross-reference table, whose cost grows with the document's object count
// (see docs/performance.md); without the core API open() returns null and callers use poppler-qt6.
#pragma once

#include <QByteArray>
#include <QSizeF>
#include <QString>
#include <QVector>

#include <memory>

#include "pdflayout.h"

namespace Ingest {

class PdfCoreText {
public:
    // True when built with Poppler's core headers (libpoppler-private-dev).
    static bool available();

    // Opens a PDF held in memory; `data` must outlive the object. Null when the core API is not
    // built in, or the PDF does not open or is locked with `password` (callers have already
    // opened it through poppler-qt6 and report those errors themselves). Must only be used while
    // a Poppler::Document is alive (it owns Poppler's global parameters and error callback).
    static std::unique_ptr<PdfCoreText> openData(const QByteArray& data,
                                                 const QByteArray& password);
    // The same for a file read by Poppler.
    static std::unique_ptr<PdfCoreText> openFile(const QString& path, const QByteArray& password);

    ~PdfCoreText();
    PdfCoreText(const PdfCoreText&) = delete;
    PdfCoreText& operator=(const PdfCoreText&) = delete;

    int pageCount() const;

    // The page's label and size as Poppler::Page::label() and pageSizeF() give them (the crop
    // box, rotated); false when the page cannot be read (poppler-qt6 gives no page then).
    bool pageInfo(int index, QString* label, QSizeF* size) const;

    // The words of page `index` (0-based) exactly as Poppler::Page::textList() gives them (text,
    // box at 72 dpi, unrotated, a space after), blank words included.
    QVector<PdfWord> words(int index);

private:
    struct Impl;
    explicit PdfCoreText(std::unique_ptr<Impl> impl);
    static std::unique_ptr<PdfCoreText> opened(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> d;
};

}  // namespace Ingest
