// The built-in reader: PDF pages rendered with poppler-qt6 at the zoom's resolution with page
// navigation, zoom and find (Poppler::Page::search, matches highlighted); text, Markdown, HTML
// and EPUB documents show their extracted text. Opened from an attended-page chip it goes to
// that page and highlights the attended passage (PDF: the rectangles of the text spans in that
// byte range, from the location map; text: the range itself). The location map and text come
// from ReaderSourceLoader, off the GUI thread (the store's kept map, else one extraction, cached
// per document). A page without a text layer shows a notice; the coverage strip beside the page
// shows what the store holds of the document (readercoverage.cpp).
#pragma once

#include <QList>
#include <QRectF>
#include <QWidget>

#include <memory>

#include "library.h"
#include "readersource.h"

namespace Poppler {
class Document;
}
class CoverageStrip;
class QFileSystemWatcher;
class QLabel;
class QLineEdit;
class QScrollArea;
class QSpinBox;
class QStackedWidget;
class QTextBrowser;
class QTimer;
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
    CoverageStrip* coverageStrip() const { return m_strip; }
    // The location map (and text) of the open document, once loaded; null until then.
    ReaderSourcePtr source() const { return m_source; }
    // The notice over the page ("no text layer"...); empty when none is shown.
    QString pageNotice() const;

public Q_SLOTS:
    void zoomIn();
    void zoomOut();
    void focusFind();
    bool findNext();  // the find box's text from the current position; false: not found
    // Live progress of a reading (LibraryController::readingProgress), for the coverage strip.
    void setReadingProgress(qint64 documentId, qint64 tokensDone, qint64 tokensTotal);

Q_SIGNALS:
    void sourceLoaded();    // source() is set (or failed) for the open document
    void coverageUpdated(); // the strip shows the store's latest commit

private:
    void render();
    void showTextPage(int page);
    void highlightText(qint64 begin, qint64 end);
    void applyAttended(bool scroll);
    void onSourceLoaded(const QString& path, const ReaderSourcePtr& source);
    void updateNotice();
    void updateNavigation();
    // readercoverage.cpp
    void setUpCoverage();
    void watchStore();
    void refreshCoverage();

    DocumentRecord m_document;
    std::unique_ptr<Poppler::Document> m_pdf;
    QByteArray m_text;  // extracted UTF-8 text (text-like documents)
    bool m_extracted = false;  // the text is shown (text-like documents)
    ReaderSourcePtr m_source;
    ReaderSourceLoader* m_loader = nullptr;
    // The attended byte range asked for while the map was still loading (page, begin, end).
    int m_pendingPage = -1;
    qint64 m_pendingBegin = 0;
    qint64 m_pendingEnd = 0;
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
    QLabel* m_notice = nullptr;
    CoverageStrip* m_strip = nullptr;
    QFileSystemWatcher* m_watcher = nullptr;
    QTimer* m_coverageTimer = nullptr;
    bool m_coverageRunning = false;
    bool m_coverageAgain = false;
};
