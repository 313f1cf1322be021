// PDF to ExtractedDocument through poppler-qt6: words with boxes per page, layout analysis
// (PdfLayout), running headers/footers dropped when they repeat across pages, pages without a
// text layer reported. Pages are loaded one at a time; only our compact lines are kept.
#pragma once

#include <QByteArray>
#include <QString>

#include "extracteddocument.h"
#include "extractoptions.h"
#include "lectern/result.h"

namespace Ingest {

class PdfExtractor {
public:
    static lectern::Result<ExtractedDocument> extract(const QString& path,
                                                      const ExtractOptions& options);
    static lectern::Result<ExtractedDocument> extractData(const QByteArray& data,
                                                          const ExtractOptions& options);
};

}  // namespace Ingest
