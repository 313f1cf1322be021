// PDF to ExtractedDocument through Poppler: words with boxes per page (the core text API when
// built with it, else poppler-qt6's textList(); the same words), layout analysis (PdfLayout),
// running headers/footers dropped when they repeat across pages, pages without a text layer
// reported. Pages are loaded one at a time; only our compact lines are kept.
#pragma once

#include <QByteArray>
#include <QString>

#include "extracteddocument.h"
#include "extractoptions.h"
#include "lectern/result.h"

namespace Ingest {

class PdfExtractor {
public:
    // Where page words come from. Auto: Poppler's core TextOutputDev when built with it
    // (LECTERN_POPPLER_CORE; no per-page copy of the cross-reference table, see
    // docs/performance.md), else poppler-qt6. PopplerQt: always poppler-qt6's textList(), for
    // tests that prove both give the same document.
    enum class TextApi { Auto, PopplerQt };

    // True when built with Poppler's core text API.
    static bool hasCoreTextApi();

    static lectern::Result<ExtractedDocument> extract(const QString& path,
                                                      const ExtractOptions& options,
                                                      TextApi api = TextApi::Auto);
    static lectern::Result<ExtractedDocument> extractData(const QByteArray& data,
                                                          const ExtractOptions& options,
                                                          TextApi api = TextApi::Auto);
};

}  // namespace Ingest
