// CoverageStrip: store coverage -> shares of the document's length -> a painted bar.
#include "coveragestrip.h"

#include <QHelpEvent>
#include <QKeyEvent>
#include <QMap>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

#include <algorithm>

namespace {

constexpr int kWidth = 14;
constexpr int kMargin = 2;  // above and below the bar, so its ends stay clickable

const QColor kExact(0x2a, 0x7f, 0xff);      // the attended-passage blue of the page view
const QColor kRecurrent(0xe0, 0x96, 0x1e);  // amber, hatched: tells apart without colour too

// Token -> byte offset of the text, interpolated between the offsets the store reported.
class TokenBytes {
public:
    void add(qint64 token, qint64 byte)
    {
        if (token >= 0 && byte >= 0)
            m_anchors.insert(token, byte);
    }
    bool isEmpty() const { return m_anchors.size() < 2; }
    double byteOf(qint64 token) const
    {
        auto hi = m_anchors.lowerBound(token);
        if (hi == m_anchors.end())
            return double((--hi).value());
        if (hi.key() == token || hi == m_anchors.begin())
            return double(hi.value());
        auto lo = std::prev(hi);
        const double t = double(token - lo.key()) / double(hi.key() - lo.key());
        return double(lo.value()) + t * double(hi.value() - lo.value());
    }

private:
    QMap<qint64, qint64> m_anchors;
};

// Byte offset -> share of the document's length, each page (chapter) counting the same: a
// scanned page without text still takes its place on the strip.
double shareOfByte(double byte, const QList<DocumentPage>& pages, double textBytes)
{
    if (pages.isEmpty())
        return textBytes > 0 ? std::clamp(byte / textBytes, 0.0, 1.0) : 0.0;
    const auto it = std::partition_point(pages.begin(), pages.end(), [byte](const DocumentPage& p) {
        return double(p.textEnd) <= byte;
    });
    if (it == pages.end())
        return 1.0;
    const qint64 size = it->textEnd - it->textBegin;
    const double within =
        size > 0 ? std::clamp((byte - double(it->textBegin)) / double(size), 0.0, 1.0) : 0.0;
    return (double(it - pages.begin()) + within) / double(pages.size());
}

}  // namespace

CoverageStrip::CoverageStrip(QWidget* parent) : QWidget(parent)
{
    setObjectName(QStringLiteral("coverageStrip"));
    setAccessibleName(tr("Reading coverage"));
    setCursor(Qt::PointingHandCursor);
    setFocusPolicy(Qt::TabFocus);  // reachable from the keyboard; a click leaves focus alone
    setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Expanding);
    relayout();
}

QSize CoverageStrip::sizeHint() const
{
    return {kWidth, 200};
}

QSize CoverageStrip::minimumSizeHint() const
{
    return {kWidth, 40};
}

void CoverageStrip::setPages(int pageCount, const QList<DocumentPage>& pages, bool chapters)
{
    m_pageCount = qMax(0, pageCount);
    m_pages = pages;
    m_chapters = chapters;
    relayout();
}

void CoverageStrip::setCoverage(const std::optional<lectern::StoreCoverage>& coverage)
{
    m_coverage = coverage;
    relayout();
}

void CoverageStrip::setReading(qint64 done, qint64 total)
{
    if (done == m_readingDone && total == m_readingTotal)
        return;
    m_readingDone = done;
    m_readingTotal = total;
    relayout();
}

void CoverageStrip::setCurrentPage(int page)
{
    if (page != m_currentPage) {
        m_currentPage = page;
        update();
    }
}

void CoverageStrip::clear()
{
    m_coverage.reset();
    m_pages.clear();
    m_pageCount = 0;
    m_readingDone = m_readingTotal = 0;
    m_currentPage = -1;
    relayout();
}

CoverageLayout CoverageStrip::layoutFor(const lectern::StoreCoverage* coverage, int pageCount,
                                        const QList<DocumentPage>& pages, qint64 readingDone,
                                        qint64 readingTotal)
{
    Q_UNUSED(pageCount);
    CoverageLayout out;
    const double textBytes =
        !pages.isEmpty() ? double(pages.last().textEnd)
                         : (coverage ? double(coverage->source_bytes) : 0.0);
    qint64 total = coverage && coverage->tokens_expected > 0 ? coverage->tokens_expected
                                                             : readingTotal;
    total = qMax(total, readingDone);
    TokenBytes bytes;
    bytes.add(0, 0);
    if (coverage) {
        for (const auto* ranges : {&coverage->exact, &coverage->recurrent_only})
            for (const lectern::CoverageRange& r : *ranges) {
                bytes.add(r.begin, r.byte_begin);
                bytes.add(r.end, r.byte_end);
            }
        for (const lectern::CoverageMark& m : coverage->checkpoints)
            bytes.add(m.position, m.byte);
    }
    if (total > 0 && textBytes > 0)
        bytes.add(total, qint64(textBytes));
    // Without offsets (or a length in bytes), shares of the tokens stand in for shares of bytes.
    const bool byBytes = !bytes.isEmpty() && textBytes > 0;
    auto share = [&](qint64 token) {
        if (byBytes)
            return shareOfByte(bytes.byteOf(token), pages, textBytes);
        return total > 0 ? std::clamp(double(token) / double(total), 0.0, 1.0) : 0.0;
    };
    qint64 committed = 0;
    if (coverage) {
        committed = coverage->tokens;
        for (const lectern::CoverageRange& r : coverage->exact)
            out.segments.append({share(r.begin), share(r.end), CoverageSegment::Kind::Exact});
        for (const lectern::CoverageRange& r : coverage->recurrent_only)
            out.segments.append(
                {share(r.begin), share(r.end), CoverageSegment::Kind::RecurrentOnly});
        for (const lectern::CoverageMark& m : coverage->checkpoints)
            out.ticks.append({share(m.position), m.position, QString::fromStdString(m.label)});
    }
    if (readingDone > committed)
        out.segments.append({share(committed), share(readingDone), CoverageSegment::Kind::Unsaved});
    std::sort(out.segments.begin(), out.segments.end(),
              [](const CoverageSegment& a, const CoverageSegment& b) { return a.from < b.from; });
    for (const CoverageSegment& s : std::as_const(out.segments)) {
        const double length = qMax(0.0, s.to - s.from);
        switch (s.kind) {
        case CoverageSegment::Kind::Exact: out.exact += length; break;
        case CoverageSegment::Kind::RecurrentOnly: out.recurrentOnly += length; break;
        case CoverageSegment::Kind::Unsaved: out.unsaved += length; break;
        }
    }
    return out;
}

void CoverageStrip::relayout()
{
    m_layout = layoutFor(m_coverage ? &*m_coverage : nullptr, m_pageCount, m_pages,
                         m_readingDone, m_readingTotal);
    setAccessibleDescription(summary());
    update();
}

QString CoverageStrip::summary() const
{
    auto percent = [](double share) { return qRound(share * 100.0); };
    if (m_layout.read() <= 0.0)
        return tr("Not read yet.");
    QStringList parts;
    parts << tr("Read: %1% of the document.").arg(percent(m_layout.read()));
    parts << tr("Held exactly: %1%.").arg(percent(m_layout.exact));
    if (m_layout.recurrentOnly > 0.0)
        parts << tr("Only in recurrent memory (exact words no longer available): %1%.")
                     .arg(percent(m_layout.recurrentOnly));
    if (m_layout.unsaved > 0.0)
        parts << tr("Being read, not saved yet: %1%.").arg(percent(m_layout.unsaved));
    if (!m_layout.ticks.isEmpty())
        parts << tr("%n checkpoint(s) to ask as of.", nullptr, int(m_layout.ticks.size()));
    return parts.join(QLatin1Char(' '));
}

QRectF CoverageStrip::barRect() const
{
    return QRectF(rect()).adjusted(2, kMargin, -2, -kMargin);
}

double CoverageStrip::shareAt(int y) const
{
    const QRectF bar = barRect();
    return bar.height() > 0 ? std::clamp((y - bar.top()) / bar.height(), 0.0, 1.0) : 0.0;
}

int CoverageStrip::pageAt(int y) const
{
    if (m_pageCount <= 0)
        return -1;
    return qMin(m_pageCount - 1, int(shareAt(y) * m_pageCount));
}

QString CoverageStrip::describeAt(int y) const
{
    const double at = shareAt(y);
    const int page = pageAt(y);
    QString where;
    if (page >= 0) {
        const QString label =
            page < m_pages.size() && !m_pages[page].label.isEmpty() ? m_pages[page].label
                                                                    : QString::number(page + 1);
        where = m_chapters ? tr("Chapter %1").arg(label) : tr("Page %1").arg(label);
    } else {
        where = tr("Here");
    }
    QString state = tr("not read yet.");
    for (const CoverageSegment& s : m_layout.segments) {
        if (at < s.from || at > s.to)
            continue;
        switch (s.kind) {
        case CoverageSegment::Kind::Exact:
            state = tr("read; its words are held exactly for answers.");
            break;
        case CoverageSegment::Kind::RecurrentOnly:
            state = tr("read, but only kept in the model's recurrent memory: answers recall its "
                       "gist, not its exact words.");
            break;
        case CoverageSegment::Kind::Unsaved:
            state = tr("being read now (saved at the next checkpoint).");
            break;
        }
        break;
    }
    QString text = tr("%1: %2").arg(where, state);
    const double slack = 3.0 / qMax(1.0, barRect().height());
    for (const CoverageTick& t : m_layout.ticks)
        if (qAbs(t.at - at) <= slack) {
            text += QLatin1Char('\n') +
                    (t.label.isEmpty() ? tr("Checkpoint: you can ask as of here.")
                                       : tr("Checkpoint “%1”: you can ask as of here.").arg(t.label));
            break;
        }
    if (page >= 0)
        text += QLatin1Char('\n') + tr("Click to open it.");
    return text + QLatin1String("\n\n") + summary();
}

bool CoverageStrip::event(QEvent* event)
{
    if (event->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(event);
        QToolTip::showText(help->globalPos(), describeAt(help->pos().y()), this);
        return true;
    }
    return QWidget::event(event);
}

void CoverageStrip::mousePressEvent(QMouseEvent* event)
{
    if (event->button() != Qt::LeftButton) {
        QWidget::mousePressEvent(event);
        return;
    }
    const int page = pageAt(qRound(event->position().y()));
    if (page >= 0)
        Q_EMIT pageRequested(page);
    event->accept();
}

void CoverageStrip::keyPressEvent(QKeyEvent* event)
{
    int page = -1;
    switch (event->key()) {
    case Qt::Key_Up: page = m_currentPage - 1; break;
    case Qt::Key_Down: page = m_currentPage + 1; break;
    case Qt::Key_Home: page = 0; break;
    case Qt::Key_End: page = m_pageCount - 1; break;
    default: QWidget::keyPressEvent(event); return;
    }
    if (page >= 0 && page < m_pageCount)
        Q_EMIT pageRequested(page);
    event->accept();
}

void CoverageStrip::paintEvent(QPaintEvent*)
{
    QPainter p(this);
    const QRectF bar = barRect();
    p.setPen(Qt::NoPen);
    p.setBrush(palette().color(QPalette::Base));
    p.drawRect(bar);
    auto band = [&](double from, double to) {
        const double top = bar.top() + from * bar.height();
        // At least a pixel, so a single short range stays visible on a long document.
        return QRectF(bar.left(), top, bar.width(), qMax(1.0, (to - from) * bar.height()));
    };
    for (const CoverageSegment& s : m_layout.segments) {
        const QRectF r = band(s.from, s.to);
        switch (s.kind) {
        case CoverageSegment::Kind::Exact:
            p.fillRect(r, kExact);
            break;
        case CoverageSegment::Kind::RecurrentOnly:
            p.fillRect(r, kRecurrent.lighter(130));
            p.fillRect(r, QBrush(kRecurrent.darker(140), Qt::BDiagPattern));
            break;
        case CoverageSegment::Kind::Unsaved: {
            QColor c = kExact;
            c.setAlpha(110);
            p.fillRect(r, c);
            break;
        }
        }
    }
    // The page shown in the reader, then the checkpoints across the whole width.
    if (m_currentPage >= 0 && m_pageCount > 0) {
        QRectF r = band(double(m_currentPage) / m_pageCount, double(m_currentPage + 1) / m_pageCount);
        if (r.height() < 3)
            r.adjust(0, -1, 0, 1);
        p.setBrush(Qt::NoBrush);
        p.setPen(QPen(palette().color(QPalette::WindowText), 1.5));
        p.drawRect(r.adjusted(-1.5, 0, 1.5, 0));
    }
    p.setPen(QPen(palette().color(QPalette::WindowText), 1));
    for (const CoverageTick& t : m_layout.ticks) {
        const double y = qMin(bar.bottom() - 0.5, bar.top() + t.at * bar.height());
        p.drawLine(QPointF(0, y), QPointF(width(), y));
    }
    p.setPen(hasFocus() ? QPen(palette().color(QPalette::Highlight), 2)
                        : QPen(palette().color(QPalette::Mid)));
    p.setBrush(Qt::NoBrush);
    p.drawRect(bar.adjusted(-0.5, -0.5, 0.5, 0.5));
}
