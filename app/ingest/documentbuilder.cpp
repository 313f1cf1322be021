// Page and span bookkeeping for extractors; see documentbuilder.h.
#include "documentbuilder.h"

namespace Ingest {

DocumentBuilder::DocumentBuilder(ExtractedDocument::Format format)
{
    m_doc.format = format;
    m_doc.encoding = QStringLiteral("UTF-8");
}

void DocumentBuilder::beginPage(const PageInfo& info)
{
    if (m_inPage)
        endPage();
    if (!m_doc.text.isEmpty())
        m_doc.text.append("\n\n");
    m_doc.pages.append(info);
    m_doc.pages.last().textBegin = m_doc.text.size();
    m_doc.pages.last().textEnd = m_doc.text.size();
    m_inPage = true;
    m_pendingBreak = false;
}

void DocumentBuilder::endPage()
{
    if (!m_inPage)
        return;
    PageInfo& page = m_doc.pages.last();
    page.textEnd = m_doc.text.size();
    if (page.textEnd == page.textBegin && !m_doc.text.isEmpty() &&
        m_doc.text.endsWith("\n\n") && m_doc.pages.size() > 1) {
        // An empty page: take back the separator so empty pages do not pile up blank lines.
        m_doc.text.chop(2);
        page.textBegin = page.textEnd = m_doc.text.size();
    }
    m_inPage = false;
    m_pendingBreak = false;
}

qint64 DocumentBuilder::append(const QString& text, const QRectF& rect)
{
    if (text.isEmpty())
        return m_doc.text.size();
    if (!m_inPage)
        beginPage(PageInfo{});
    if (m_pendingBreak) {
        if (m_doc.text.size() > m_doc.pages.last().textBegin)
            m_doc.text.append("\n\n");
        m_pendingBreak = false;
    }
    // Text below U+0300 (Latin-1 and the Latin extensions, no combining marks) is already NFC;
    // only the rest pays for normalization.
    bool simple = true;
    for (const QChar c : text) {
        if (c.unicode() >= 0x300) {
            simple = false;
            break;
        }
    }
    const QByteArray utf8 = simple ? text.toUtf8()
                                   : text.normalized(QString::NormalizationForm_C).toUtf8();
    TextSpan span;
    span.begin = m_doc.text.size();
    m_doc.text.append(utf8);
    span.end = m_doc.text.size();
    span.page = pageIndex();
    span.rect = rect;
    m_doc.map.append(span);
    return span.begin;
}

void DocumentBuilder::appendSeparator(const char* separator)
{
    if (!m_inPage || m_pendingBreak || m_doc.text.size() == m_doc.pages.last().textBegin)
        return;
    m_doc.text.append(separator);
}

void DocumentBuilder::paragraphBreak()
{
    m_pendingBreak = true;
}

void DocumentBuilder::addHeading(int level, const QString& text, qint64 offset)
{
    m_doc.headings.append(Heading{offset, level, pageIndex() < 0 ? 0 : pageIndex(), text});
}

void DocumentBuilder::addWarning(const QString& warning)
{
    m_doc.warnings.append(warning);
}

void DocumentBuilder::addPageWarning(const QString& warning)
{
    if (!m_inPage) {
        addWarning(warning);
        return;
    }
    m_doc.pages.last().warnings.append(warning);
    m_doc.warnings.append(warning);
}

ExtractedDocument DocumentBuilder::finish()
{
    endPage();
    return std::move(m_doc);
}

}  // namespace Ingest
