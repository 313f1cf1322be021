// OCR of a rendered page through Tesseract (English model), for PDF pages without a text layer.
// Words come back with boxes in page points so they go through the same layout analysis as a
// text layer. Built only when Tesseract is found (LECTERN_HAVE_TESSERACT); available() says so.
#pragma once

#include <QVector>

class QImage;

#include "lectern/result.h"
#include "pdflayout.h"

namespace Ingest {

class PageOcr {
public:
    static bool available();
    // The resolution pages are rendered at for OCR.
    static constexpr double kDpi = 300;
    // `image` rendered at `dpi`; words below `minConfidence` (0-100) are dropped.
    static lectern::Result<QVector<PdfWord>> recognise(const QImage& image, double dpi,
                                                       float minConfidence = 30);
};

}  // namespace Ingest
