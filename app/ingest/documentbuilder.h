// Accumulates an ExtractedDocument page by page: appends NFC-normalised text as UTF-8, keeps the
// byte offsets of every span and page, and collects warnings. Every extractor writes through it,
// so the offset bookkeeping lives in one place.
#pragma once

#include "extracteddocument.h"

namespace Ingest {

class DocumentBuilder {
public:
    explicit DocumentBuilder(ExtractedDocument::Format format);

    // Starts a page (or chapter). Pages are separated by a blank line in the text.
    void beginPage(const PageInfo& info);
    // Ends the current page: records its byte range.
    void endPage();
    bool inPage() const { return m_inPage; }
    int pageIndex() const { return int(m_doc.pages.size()) - 1; }
    PageInfo& currentPage() { return m_doc.pages.last(); }

    // Appends `text` (normalised to NFC) to the current page as one span. Returns its byte range
    // start; empty text appends nothing.
    qint64 append(const QString& text, const QRectF& rect = QRectF());
    // Appends a separator that belongs to no span (" ", "\n").
    void appendSeparator(const char* separator);
    // Ends the paragraph: the next append starts after a blank line (never at a page start).
    void paragraphBreak();
    void addHeading(int level, const QString& text, qint64 offset);

    void addWarning(const QString& warning);      // document level
    void addPageWarning(const QString& warning);  // current page, also copied to the document

    qint64 size() const { return m_doc.text.size(); }
    ExtractedDocument& document() { return m_doc; }
    ExtractedDocument finish();

private:
    ExtractedDocument m_doc;
    bool m_inPage = false;
    bool m_pendingBreak = false;
};

}  // namespace Ingest
