// EPUB 2/3 to ExtractedDocument: META-INF/container.xml -> the OPF package -> spine order; each
// spine item (XHTML) becomes one "page" (a chapter) through HtmlToText, its headings become
// chapter marks, and chapter titles come from the nav document (EPUB 3) or toc.ncx (EPUB 2).
#pragma once

#include <QByteArray>

#include "extracteddocument.h"
#include "extractoptions.h"
#include "lectern/result.h"

namespace Ingest {

class EpubExtractor {
public:
    static lectern::Result<ExtractedDocument> extract(const QByteArray& bytes,
                                                      const ExtractOptions& options);
};

}  // namespace Ingest
