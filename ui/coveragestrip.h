// The coverage strip beside the reader: a vertical bar over the document's length (its pages, or
// chapters, top to bottom) showing what the model has read, which of it the attention still
// holds exactly (KV chunk files on disk), which only the recurrent state remembers (no attention
// blocks, or chunk files missing), and what is being read now but not yet saved; the checkpoints
// one can ask "as of" are ticks. Computed from DocumentStore::coverage (see readerpanel.cpp);
// a click asks for the page under it.
#pragma once

#include <QList>
#include <QString>
#include <QWidget>

#include <optional>

#include "enginerequests.h"
#include "lectern/document_store.h"

struct CoverageSegment {
    enum class Kind { Exact, RecurrentOnly, Unsaved };
    double from = 0.0;  // share of the document's length, 0 = its start
    double to = 0.0;
    Kind kind = Kind::Exact;
};

struct CoverageTick {
    double at = 0.0;
    qint64 position = 0;  // token
    QString label;
};

struct CoverageLayout {
    QList<CoverageSegment> segments;  // in document order, not overlapping
    QList<CoverageTick> ticks;
    double exact = 0.0;  // shares of the document's length
    double recurrentOnly = 0.0;
    double unsaved = 0.0;
    double read() const { return exact + recurrentOnly + unsaved; }
};

class CoverageStrip : public QWidget
{
    Q_OBJECT

public:
    explicit CoverageStrip(QWidget* parent = nullptr);

    // The axis: `pageCount` pages (chapters when `chapters`) whose text byte ranges are `pages`
    // (may be empty: then positions are shares of the tokens).
    void setPages(int pageCount, const QList<DocumentPage>& pages, bool chapters = false);
    void setCoverage(const std::optional<lectern::StoreCoverage>& coverage);
    // Live progress of a reading in this process (tokens processed, of the document's total);
    // what is past the store's last commit shows as being read.
    void setReading(qint64 done, qint64 total);
    void setCurrentPage(int page);
    void clear();

    const CoverageLayout& coverageLayout() const { return m_layout; }
    int pageCount() const { return m_pageCount; }
    int pageAt(int y) const;  // widget coordinates
    QString summary() const;  // what the accessible description says
    QString describeAt(int y) const;  // the tooltip

    static CoverageLayout layoutFor(const lectern::StoreCoverage* coverage, int pageCount,
                                    const QList<DocumentPage>& pages, qint64 readingDone,
                                    qint64 readingTotal);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

Q_SIGNALS:
    void pageRequested(int page);

protected:
    bool event(QEvent* event) override;
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;  // Up/Down/Home/End: another page

private:
    void relayout();
    QRectF barRect() const;
    double shareAt(int y) const;

    std::optional<lectern::StoreCoverage> m_coverage;
    QList<DocumentPage> m_pages;
    int m_pageCount = 0;
    bool m_chapters = false;
    qint64 m_readingDone = 0;
    qint64 m_readingTotal = 0;
    int m_currentPage = -1;
    CoverageLayout m_layout;
};
