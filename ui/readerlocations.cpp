// ReaderPanel, the document's location map: what arrives from ReaderSourceLoader (the text of
// text-like documents, the PDF map), the attended passage shown from it, and the notice over a
// page that had no text layer.
#include "readerpanel.h"

#include <QLabel>
#include <QScrollArea>
#include <QScrollBar>
#include <QStackedWidget>
#include <QTextBrowser>

#include "coveragestrip.h"

namespace {

constexpr double kBaseDpi = 96.0;  // as in readerpanel.cpp

}  // namespace

void ReaderPanel::onSourceLoaded(const QString& path, const ReaderSourcePtr& source)
{
    if (path != m_document.path || !source)
        return;  // a document closed since
    if (m_source == source)
        return;
    m_source = source;
    if (!m_pdf) {
        if (m_extracted)
            return;
        if (!source->error.isEmpty()) {
            m_message->setText(tr("This document cannot be shown: %1").arg(source->error));
            Q_EMIT sourceLoaded();
            return;
        }
        m_text = source->text;
        m_extracted = true;
        if (m_document.pages.isEmpty())
            for (const Ingest::PageInfo& p : source->map.pages)
                m_document.pages.append(DocumentPage{p.textBegin, p.textEnd, p.label});
        m_textView->setPlainText(QString::fromUtf8(m_text));
        m_stack->setCurrentWidget(m_textView);
        m_strip->setPages(pageCount(), m_document.pages, m_document.format == u"epub");
        const int page = m_pendingPage >= 0 ? m_pendingPage : m_page;
        const qint64 begin = m_pendingBegin, end = m_pendingEnd;
        m_pendingPage = -1;
        m_page = -1;  // showPage(page) moves there
        showPage(page, begin, end);
    } else if (m_pendingPage == m_page) {
        m_attended = m_source->rects(m_page, m_pendingBegin, m_pendingEnd);
        m_pendingPage = -1;
        applyAttended(true);
    }
    updateNotice();
    Q_EMIT sourceLoaded();
}

void ReaderPanel::applyAttended(bool scroll)
{
    render();
    if (!m_attended.isEmpty()) {
        const double scale = kBaseDpi * m_zoom / 72.0;
        m_scroll->ensureVisible(0, int(m_attended.first().center().y() * scale), 0,
                                m_scroll->viewport()->height() / 3);
    } else if (scroll) {
        m_scroll->verticalScrollBar()->setValue(0);
    }
}

void ReaderPanel::highlightText(qint64 begin, qint64 end)
{
    QTextCursor cursor(m_textView->document());
    cursor.setPosition(int(QString::fromUtf8(m_text.left(begin)).size()));
    cursor.setPosition(int(QString::fromUtf8(m_text.left(end)).size()), QTextCursor::KeepAnchor);
    QTextEdit::ExtraSelection selection;
    selection.cursor = cursor;
    selection.format.setBackground(QColor(0x9e, 0xc9, 0xff));
    m_textView->setExtraSelections({selection});
    m_textView->setTextCursor(cursor);
    m_textView->ensureCursorVisible();
}

QString ReaderPanel::pageNotice() const
{
    return m_notice->isHidden() ? QString() : m_notice->text();
}

void ReaderPanel::updateNotice()
{
    QString text;
    if (m_pdf && m_source) {
        if (!m_source->hasTextLayer(m_page))
            text = tr("This page has no text layer (it is an image, such as a scan, or blank), "
                      "so its text was not read: answers cannot draw on it.");
        else if (m_source->isOcr(m_page))
            text = tr("The text of this page was read from its image (OCR) and may contain "
                      "mistakes.");
    }
    m_notice->setText(text);
    m_notice->setVisible(!text.isEmpty());
}
