// The built-in reader: PDF pages rendered with poppler-qt6 at the zoom's resolution with page
// navigation, zoom and find (Poppler::Page::search, matches highlighted); text, Markdown, HTML
// and EPUB documents show their extracted text. Opened from an attended-page chip it goes to
// that page and highlights the attended passage (PDF: the rectangles of the text spans in that
// byte range, from the extractor's location map; text: the range itself).
#pragma once

#include <QList>
#include <QRectF>
#include <QWidget>

#include <memory>

#include "library.h"

namespace Poppler {
class Document;
}
class QLabel;
class QLineEdit;
class QScrollArea;
class QSpinBox;
class QStackedWidget;
class QTextBrowser;
class QToolButton;

class ReaderPanel : public QWidget
{
    Q_OBJECT

public:
    explicit ReaderPanel(QWidget* parent = nullptr);
    ~ReaderPanel() override;

    // Shows the document (no-op when it is already shown); false when it cannot be shown.
    bool openDocument(const DocumentRecord& document);
    void closeDocument();
    // Page index into the document's page map; a non-empty byte range is highlighted.
    void showPage(int page, qint64 textBegin = 0, qint64 textEnd = 0);
    int currentPage() const { return m_page; }
    int pageCount() const;
    bool isPdf() const { return m_pdf != nullptr; }
    double zoom() const { return m_zoom; }
    qint64 documentId() const { return m_document.id; }
    QList<QRectF> highlights() const { return m_attended + m_matches; }  // page points

public Q_SLOTS:
    void zoomIn();
    void zoomOut();
    void focusFind();
    bool findNext();  // the find box's text from the current position; false: not found

private:
    void render();
    void showTextPage(int page);
    QList<QRectF> attendedRects(int page, qint64 begin, qint64 end);
    void updateNavigation();

    DocumentRecord m_document;
    std::unique_ptr<Poppler::Document> m_pdf;
    QByteArray m_text;  // extracted UTF-8 text (text-like documents, and PDF spans on demand)
    QList<QPair<QPair<qint64, qint64>, QPair<int, QRectF>>> m_spans;  // PDF: bytes -> page, rect
    bool m_extracted = false;
    int m_page = 0;
    double m_zoom = 1.0;
    QList<QRectF> m_attended;
    QList<QRectF> m_matches;
    int m_matchIndex = -1;
    QString m_lastSearch;

    QStackedWidget* m_stack = nullptr;
    QScrollArea* m_scroll = nullptr;
    QLabel* m_image = nullptr;
    QTextBrowser* m_textView = nullptr;
    QLabel* m_message = nullptr;
    QToolButton* m_prev = nullptr;
    QToolButton* m_next = nullptr;
    QSpinBox* m_pageBox = nullptr;
    QLabel* m_pageCount = nullptr;
    QLabel* m_zoomLabel = nullptr;
    QLineEdit* m_find = nullptr;
};
