// ReaderPanel: PDF rendering, text view, navigation, zoom, find, attended highlights and the
// no-text-layer notice (the coverage strip's part is in readercoverage.cpp).
#include "readerpanel.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTextBlock>
#include <QTextBrowser>
#include <QToolButton>
#include <QVBoxLayout>

#include <poppler-qt6.h>

#include "coveragestrip.h"
#include "extractor.h"

namespace {

constexpr double kBaseDpi = 96.0;

QToolButton* toolButton(const QString& text, const QString& tip, QWidget* parent)
{
    auto* b = new QToolButton(parent);
    b->setText(text);
    b->setToolTip(tip);
    b->setAccessibleName(tip);
    b->setAutoRaise(true);
    return b;
}

}  // namespace

ReaderPanel::ReaderPanel(QWidget* parent) : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    m_prev = toolButton(tr("◀"), tr("Previous page"), this);
    m_next = toolButton(tr("▶"), tr("Next page"), this);
    m_pageBox = new QSpinBox(this);
    m_pageBox->setAccessibleName(tr("Page"));
    m_pageBox->setMinimum(1);
    m_pageCount = new QLabel(this);
    auto* zoomOutButton = toolButton(tr("−"), tr("Zoom out"), this);
    auto* zoomInButton = toolButton(tr("+"), tr("Zoom in"), this);
    m_zoomLabel = new QLabel(this);
    m_find = new QLineEdit(this);
    m_find->setPlaceholderText(tr("Find in document"));
    m_find->setAccessibleName(tr("Find in document"));
    m_find->setClearButtonEnabled(true);
    bar->addWidget(m_prev);
    bar->addWidget(m_pageBox);
    bar->addWidget(m_pageCount);
    bar->addWidget(m_next);
    bar->addSpacing(8);
    bar->addWidget(zoomOutButton);
    bar->addWidget(m_zoomLabel);
    bar->addWidget(zoomInButton);
    bar->addSpacing(8);
    bar->addWidget(m_find, 1);
    layout->addLayout(bar);

    // Non-modal: the page stays readable under it.
    m_notice = new QLabel(this);
    m_notice->setObjectName(QStringLiteral("pageNotice"));
    m_notice->setWordWrap(true);
    m_notice->setAccessibleName(tr("Page notice"));
    m_notice->setContentsMargins(8, 4, 8, 4);
    m_notice->setAutoFillBackground(true);
    m_notice->setBackgroundRole(QPalette::ToolTipBase);
    m_notice->setForegroundRole(QPalette::ToolTipText);
    m_notice->setFrameShape(QFrame::StyledPanel);
    m_notice->hide();
    layout->addWidget(m_notice);

    m_stack = new QStackedWidget(this);
    m_message = new QLabel(tr("Click a page chip under an answer, or select a document, to "
                              "read it here."),
                           m_stack);
    m_message->setAlignment(Qt::AlignCenter);
    m_message->setWordWrap(true);
    m_message->setForegroundRole(QPalette::PlaceholderText);
    m_scroll = new QScrollArea(m_stack);
    m_scroll->setAlignment(Qt::AlignHCenter);
    m_scroll->setBackgroundRole(QPalette::Dark);
    m_scroll->setAccessibleName(tr("Page view"));
    m_image = new QLabel(m_scroll);
    m_scroll->setWidget(m_image);
    m_textView = new QTextBrowser(m_stack);
    m_textView->setAccessibleName(tr("Document text"));
    m_stack->addWidget(m_message);
    m_stack->addWidget(m_scroll);
    m_stack->addWidget(m_textView);
    auto* body = new QHBoxLayout;
    body->setSpacing(4);
    body->setContentsMargins(0, 0, 3, 0);  // the strip off the window's edge
    body->addWidget(m_stack, 1);
    m_strip = new CoverageStrip(this);
    body->addWidget(m_strip);
    layout->addLayout(body, 1);

    m_loader = new ReaderSourceLoader(this);
    connect(m_loader, &ReaderSourceLoader::loaded, this, &ReaderPanel::onSourceLoaded);
    setUpCoverage();

    connect(m_prev, &QToolButton::clicked, this, [this] { showPage(m_page - 1); });
    connect(m_next, &QToolButton::clicked, this, [this] { showPage(m_page + 1); });
    connect(m_pageBox, &QSpinBox::editingFinished, this, [this] {
        if (m_pageBox->value() - 1 != m_page)
            showPage(m_pageBox->value() - 1);
    });
    connect(zoomInButton, &QToolButton::clicked, this, &ReaderPanel::zoomIn);
    connect(zoomOutButton, &QToolButton::clicked, this, &ReaderPanel::zoomOut);
    connect(m_find, &QLineEdit::returnPressed, this, &ReaderPanel::findNext);
    updateNavigation();
}

ReaderPanel::~ReaderPanel() = default;

int ReaderPanel::pageCount() const
{
    if (m_pdf)
        return m_pdf->numPages();
    return int(m_document.pages.size());
}

bool ReaderPanel::openDocument(const DocumentRecord& document)
{
    if (document.id && document.id == m_document.id && document.path == m_document.path) {
        // The same document, newer record (reading progressed, finished, its store made).
        const QString storeDir = m_document.storeDir;
        const QList<DocumentPage> pages = m_document.pages;
        m_document = document;
        if (m_document.pages.isEmpty())
            m_document.pages = pages;
        m_strip->setPages(pageCount(), m_document.pages, m_document.format == u"epub");
        if (m_document.storeDir != storeDir)
            watchStore();  // and refreshes
        else
            refreshCoverage();
        updateNavigation();
        return true;
    }
    closeDocument();
    m_document = document;
    QFile file(document.path);
    if (!file.open(QIODevice::ReadOnly)) {
        m_message->setText(tr("“%1” cannot be opened: the file was moved or deleted.")
                               .arg(QFileInfo(document.path).fileName()));
        return false;
    }
    const QByteArray head = file.read(1024);
    file.close();
    if (Ingest::Extractor::sniff(head) == Ingest::Extractor::Kind::Pdf) {
        m_pdf = Poppler::Document::load(document.path);
        if (!m_pdf || m_pdf->isLocked()) {
            m_pdf.reset();
            m_message->setText(tr("This PDF cannot be shown (damaged or encrypted)."));
            return false;
        }
        m_pdf->setRenderHint(Poppler::Document::Antialiasing);
        m_pdf->setRenderHint(Poppler::Document::TextAntialiasing);
        m_stack->setCurrentWidget(m_scroll);
        m_loader->request(document.path, document.storeDir, false);
        // Start at the page's width (readable without scrolling sideways), within 50%-200%.
        if (std::unique_ptr<Poppler::Page> first = m_pdf->page(0)) {
            const double width = first->pageSizeF().width() * kBaseDpi / 72.0;
            const int room = m_stack->width() - 40;
            if (width > 0 && room > 100)
                m_zoom = qBound(0.5, room / width, 2.0);
        }
        m_strip->setPages(pageCount(), m_document.pages);
        watchStore();
        showPage(0);
        return true;
    }
    // Text, HTML, EPUB: the extracted text, which arrives from the loader.
    m_message->setText(tr("Opening “%1”…").arg(QFileInfo(document.path).fileName()));
    m_loader->request(document.path, document.storeDir, true);
    m_strip->setPages(pageCount(), m_document.pages, m_document.format == u"epub");
    watchStore();
    updateNavigation();
    return true;
}

void ReaderPanel::closeDocument()
{
    m_pdf.reset();
    m_document = {};
    m_text.clear();
    m_source.reset();
    m_pendingPage = -1;
    m_extracted = false;
    m_page = 0;
    m_attended.clear();
    m_matches.clear();
    m_matchIndex = -1;
    m_image->clear();
    m_textView->clear();
    m_message->setText(tr("Select a document to read it here."));
    m_stack->setCurrentWidget(m_message);
    m_strip->clear();
    watchStore();
    updateNotice();
    updateNavigation();
}

void ReaderPanel::showPage(int page, qint64 textBegin, qint64 textEnd)
{
    const int count = pageCount();
    if (count <= 0 && !m_pdf)
        return;
    page = qBound(0, page, qMax(0, count - 1));
    const bool moved = page != m_page;
    m_page = page;
    if (moved || textEnd > textBegin) {
        m_matches.clear();
        m_matchIndex = -1;
    }
    const bool highlight = textEnd > textBegin;
    // Until the map (PDF) or the text arrives, remember the passage; onSourceLoaded shows it.
    m_pendingPage = -1;
    if (highlight && (m_pdf ? !m_source : !m_extracted)) {
        m_pendingPage = page;
        m_pendingBegin = textBegin;
        m_pendingEnd = textEnd;
    }
    if (m_pdf) {
        m_attended = highlight && m_source ? m_source->rects(page, textBegin, textEnd)
                                           : QList<QRectF>();
        applyAttended(moved);
    } else if (m_extracted) {
        showTextPage(page);
        if (highlight)
            highlightText(textBegin, textEnd);
    }
    updateNotice();
    updateNavigation();
}

void ReaderPanel::showTextPage(int page)
{
    m_textView->setExtraSelections({});
    if (page < 0 || page >= m_document.pages.size())
        return;
    const int position = int(QString::fromUtf8(m_text.left(m_document.pages[page].textBegin)).size());
    QTextCursor cursor(m_textView->document());
    cursor.setPosition(qMin(position, m_textView->document()->characterCount() - 1));
    m_textView->setTextCursor(cursor);
    // Put the page's start at the top of the view.
    const QRect r = m_textView->cursorRect(cursor);
    QScrollBar* bar = m_textView->verticalScrollBar();
    bar->setValue(bar->value() + r.top());
}

void ReaderPanel::render()
{
    if (!m_pdf)
        return;
    std::unique_ptr<Poppler::Page> page = m_pdf->page(m_page);
    if (!page) {
        m_image->setText(tr("This page cannot be shown."));
        return;
    }
    const double dpi = kBaseDpi * m_zoom * devicePixelRatioF();
    QImage image = page->renderToImage(dpi, dpi);
    if (image.isNull()) {
        m_image->setText(tr("This page cannot be shown."));
        return;
    }
    const double scale = dpi / 72.0;
    QPainter painter(&image);
    painter.setPen(Qt::NoPen);
    painter.setBrush(QColor(0x2a, 0x7f, 0xff, 70));
    for (const QRectF& r : std::as_const(m_attended))
        painter.drawRect(QRectF(r.topLeft() * scale, r.size() * scale));
    for (int i = 0; i < m_matches.size(); ++i) {
        painter.setBrush(i == m_matchIndex ? QColor(0xff, 0x8c, 0x00, 140)
                                           : QColor(0xff, 0xe0, 0x00, 120));
        const QRectF& r = m_matches[i];
        painter.drawRect(QRectF(r.topLeft() * scale, r.size() * scale));
    }
    painter.end();
    image.setDevicePixelRatio(devicePixelRatioF());
    m_image->setPixmap(QPixmap::fromImage(image));
    m_image->resize(m_image->sizeHint());
}

void ReaderPanel::updateNavigation()
{
    const int count = pageCount();
    const bool open = m_pdf || m_extracted;
    m_pageBox->setMaximum(qMax(1, count));
    m_pageBox->setValue(m_page + 1);
    m_pageBox->setEnabled(open && count > 1);
    m_pageCount->setText(open ? tr("of %1").arg(count) : QString());
    m_prev->setEnabled(open && m_page > 0);
    m_next->setEnabled(open && m_page + 1 < count);
    m_find->setEnabled(open);
    m_zoomLabel->setText(tr("%1%").arg(qRound(m_zoom * 100)));
    m_strip->setCurrentPage(open ? m_page : -1);
    m_strip->setVisible(open || !m_document.path.isEmpty());
}

void ReaderPanel::zoomIn()
{
    m_zoom = qMin(4.0, m_zoom * 1.25);
    if (m_pdf)
        render();
    else
        m_textView->zoomIn(1);
    updateNavigation();
}

void ReaderPanel::zoomOut()
{
    m_zoom = qMax(0.25, m_zoom / 1.25);
    if (m_pdf)
        render();
    else
        m_textView->zoomOut(1);
    updateNavigation();
}

void ReaderPanel::focusFind()
{
    m_find->setFocus();
    m_find->selectAll();
}

bool ReaderPanel::findNext()
{
    const QString text = m_find->text();
    if (text.isEmpty())
        return false;
    if (!m_pdf) {
        if (m_textView->find(text))
            return true;
        m_textView->moveCursor(QTextCursor::Start);  // wrap around once
        return m_textView->find(text);
    }
    // The next match on this page, else the first page after it (wrapping) that has one.
    if (text == m_lastSearch && m_matchIndex + 1 < m_matches.size()) {
        ++m_matchIndex;
        render();
        return true;
    }
    const bool again = text == m_lastSearch && !m_matches.isEmpty();
    m_lastSearch = text;
    const int count = m_pdf->numPages();
    for (int step = again ? 1 : 0; step <= count; ++step) {
        const int index = (m_page + step) % count;
        std::unique_ptr<Poppler::Page> page = m_pdf->page(index);
        const QList<QRectF> found =
            page ? page->search(text, Poppler::Page::IgnoreCase) : QList<QRectF>();
        if (found.isEmpty())
            continue;
        m_attended.clear();
        m_page = index;
        m_matches = found;
        m_matchIndex = 0;
        render();
        const double scale = kBaseDpi * m_zoom / 72.0;
        m_scroll->ensureVisible(0, int(found.first().center().y() * scale), 0, 80);
        updateNavigation();
        return true;
    }
    m_matches.clear();
    m_matchIndex = -1;
    render();
    return false;
}
