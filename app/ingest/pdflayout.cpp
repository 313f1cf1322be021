// PDF layout analysis; see pdflayout.h. All thresholds are in fractions of a line height or
// of the page, so they hold for any font size.
#include "pdflayout.h"

#include <QHash>
#include <QRegularExpression>

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace Ingest {

namespace {

struct Line {
    QVector<PdfWord> words;
    QRectF box;
};

// Groups words into lines: sorted by vertical centre, a word joins the current line when the
// two overlap vertically by at least half the smaller height.
QVector<Line> groupLines(QVector<PdfWord> words)
{
    std::stable_sort(words.begin(), words.end(), [](const PdfWord& a, const PdfWord& b) {
        return a.box.center().y() < b.box.center().y();
    });
    QVector<Line> lines;
    for (PdfWord& w : words) {
        if (!lines.isEmpty()) {
            Line& line = lines.last();
            const double overlap = std::min(line.box.bottom(), w.box.bottom()) -
                                   std::max(line.box.top(), w.box.top());
            if (overlap >= 0.5 * std::min(line.box.height(), w.box.height())) {
                line.box = line.box.united(w.box);
                line.words.append(std::move(w));
                continue;
            }
        }
        lines.append(Line{{w}, w.box});
    }
    for (Line& line : lines)
        std::stable_sort(line.words.begin(), line.words.end(),
                         [](const PdfWord& a, const PdfWord& b) { return a.box.left() < b.box.left(); });
    return lines;
}

PdfLine toPdfLine(const Line& line, int flow)
{
    PdfLine out;
    out.box = line.box;
    out.flow = flow;
    for (int i = 0; i < line.words.size(); ++i) {
        const PdfWord& w = line.words[i];
        if (i > 0) {
            const PdfWord& prev = line.words[i - 1];
            const double gap = w.box.left() - prev.box.right();
            if (prev.spaceAfter || gap > 0.15 * std::min(prev.box.height(), w.box.height()))
                out.text += u' ';
        }
        out.text += PdfLayout::expandLigatures(w.text);
    }
    return out;
}

bool isLowerStart(const QString& s)
{
    return !s.isEmpty() && s[0].isLower();
}

// Bullet glyphs that open a list item at the start of a line.
bool isListItem(const QString& s)
{
    static const QString bullets = QStringLiteral("\u2022\u25E6\u25AA\u2023\u2219\u25CF\u25CB\u25A0\u25A1\u2043");
    return !s.isEmpty() && bullets.contains(s[0]);
}

// Dot leaders: five or more dots, optionally spaced (". . . . ." or "......").
const QRegularExpression& leaderPattern()
{
    static const QRegularExpression re(QStringLiteral("\\s*(?:\\.\\s?){5,}\\s*"));
    return re;
}

// "(?:\.\s?){5,}\s*[0-9ivxlcdm]+$" without a regular expression (it runs for every line).
bool endsWithLeader(const QString& s)
{
    qsizetype i = s.size();
    const auto numeral = [](QChar c) {
        const char16_t u = c.unicode();
        return (u >= u'0' && u <= u'9') || u == u'i' || u == u'v' || u == u'x' || u == u'l' ||
               u == u'c' || u == u'd' || u == u'm';
    };
    while (i > 0 && numeral(s[i - 1]))
        --i;
    if (i == s.size())
        return false;
    while (i > 0 && s[i - 1].isSpace())
        --i;
    // Backwards: (dot, optional one space) repeated; the last dot may be followed by a space.
    int dots = 0;
    while (i > 0) {
        if (s[i - 1] == u'.') {
            ++dots;
            --i;
        } else if (dots > 0 && s[i - 1].isSpace() && i >= 2 && s[i - 2] == u'.') {
            --i;
        } else {
            break;
        }
        if (dots >= 5)
            return true;
    }
    return false;
}

// Leaders carry no words and cost many tokens: "Setup . . . . . 12" -> "Setup … 12".
QString collapseLeaders(const QString& s)
{
    if (!s.contains(QLatin1String("..")) && !s.contains(QLatin1String(". .")))
        return s;
    QString out = s;
    out.replace(leaderPattern(), QStringLiteral(" \u2026 "));
    return out.trimmed();
}

}  // namespace

QString PdfLayout::expandLigatures(const QString& text)
{
    bool any = false;
    for (QChar c : text)
        any = any || (c.unicode() >= 0xFB00 && c.unicode() <= 0xFB06);
    if (!any)
        return text;
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(status);
    QString out;
    for (QChar c : text) {
        if (U_SUCCESS(status) && c.unicode() >= 0xFB00 && c.unicode() <= 0xFB06) {
            icu::UnicodeString folded;
            nfkc->normalize(icu::UnicodeString(UChar(c.unicode())), folded, status);
            out += QString(reinterpret_cast<const QChar*>(folded.getBuffer()), folded.length());
        } else {
            out += c;
        }
    }
    return out;
}

bool PdfLayout::findGutter(const QVector<PdfWord>& words, const QSizeF& pageSize, double* left,
                           double* right)
{
    const int width = int(pageSize.width());
    if (words.size() < 20 || width < 100)
        return false;
    // How many words cover each point of x.
    std::vector<int> cover(size_t(width) + 1, 0);
    for (const PdfWord& w : words) {
        const int x0 = std::clamp(int(w.box.left()), 0, width);
        const int x1 = std::clamp(int(w.box.right() + 0.999), 0, width);
        for (int x = x0; x < x1; ++x)
            ++cover[size_t(x)];
    }
    // A few words may cross (a full-width title); body text must not.
    const int tolerance = std::max(2, int(words.size()) / 50);
    int bestStart = -1, bestLength = 0;
    for (int x = width * 3 / 10, start = -1; x <= width * 7 / 10; ++x) {
        const bool empty = cover[size_t(x)] <= tolerance && x < width * 7 / 10;
        if (empty && start < 0)
            start = x;
        if (!empty && start >= 0) {
            if (x - start > bestLength) { bestLength = x - start; bestStart = start; }
            start = -1;
        }
    }
    // A gutter is wider than a word space (about 3 pt at body sizes).
    if (bestLength < 8)
        return false;
    const double l = bestStart, r = bestStart + bestLength;
    int leftWords = 0, rightWords = 0;
    for (const PdfWord& w : words) {
        if (w.box.right() <= r) ++leftWords;
        else if (w.box.left() >= l) ++rightWords;
    }
    if (leftWords < int(words.size()) / 5 || rightWords < int(words.size()) / 5)
        return false;
    *left = l;
    *right = r;
    return true;
}

QVector<PdfLine> PdfLayout::readingOrder(QVector<PdfWord> words, const QSizeF& pageSize,
                                         bool* twoColumns)
{
    double gl = 0, gr = 0;
    const bool split = findGutter(words, pageSize, &gl, &gr);
    if (twoColumns)
        *twoColumns = split;
    QVector<PdfLine> out;
    if (!split) {
        for (const Line& line : groupLines(std::move(words)))
            out.append(toPdfLine(line, 0));
    } else {
        const double mid = (gl + gr) / 2;
        QVector<PdfWord> leftWords, rightWords, spanning;
        for (PdfWord& w : words) {
            if (w.box.right() <= mid) leftWords.append(std::move(w));
            else if (w.box.left() >= mid) rightWords.append(std::move(w));
            else spanning.append(std::move(w));
        }
        QVector<Line> full = groupLines(spanning);
        // Words beside a spanning word on its line belong to that full-width line.
        auto absorb = [&full](QVector<PdfWord>& side) {
            QVector<PdfWord> kept;
            for (PdfWord& w : side) {
                bool taken = false;
                for (Line& f : full) {
                    const double cy = w.box.center().y();
                    if (cy >= f.box.top() && cy <= f.box.bottom()) {
                        f.box = f.box.united(w.box);
                        f.words.append(std::move(w));
                        taken = true;
                        break;
                    }
                }
                if (!taken) kept.append(std::move(w));
            }
            side = std::move(kept);
        };
        absorb(leftWords);
        absorb(rightWords);
        for (Line& f : full)
            std::stable_sort(f.words.begin(), f.words.end(), [](const PdfWord& a, const PdfWord& b) {
                return a.box.left() < b.box.left();
            });
        const QVector<Line> leftLines = groupLines(std::move(leftWords));
        const QVector<Line> rightLines = groupLines(std::move(rightWords));
        // Full-width lines cut the page into regions; each region is read left column, then
        // right column.
        int flow = 0;
        double top = -1e9;
        for (int i = 0; i <= full.size(); ++i) {
            const double bottom = i < full.size() ? full[i].box.center().y() : 1e9;
            bool any = false;
            for (const Line& l : leftLines)
                if (l.box.center().y() > top && l.box.center().y() <= bottom) {
                    out.append(toPdfLine(l, flow));
                    any = true;
                }
            flow += any ? 1 : 0;
            any = false;
            for (const Line& l : rightLines)
                if (l.box.center().y() > top && l.box.center().y() <= bottom) {
                    out.append(toPdfLine(l, flow));
                    any = true;
                }
            flow += any ? 1 : 0;
            if (i < full.size())
                out.append(toPdfLine(full[i], flow++));
            top = bottom;
        }
    }
    // Header and footer bands: up to two lines nearest each edge, within 12% of the page and
    // set apart from the body by a gap wider than line spacing (so a body line that happens to
    // start high on the page is never taken for a header).
    const double h = pageSize.height();
    QVector<int> byTop(out.size());
    for (int i = 0; i < out.size(); ++i)
        byTop[i] = i;
    std::stable_sort(byTop.begin(), byTop.end(),
                     [&out](int a, int b) { return out[a].box.top() < out[b].box.top(); });
    auto apart = [&out](int a, int b) {  // vertical gap between lines a (above) and b
        return out[b].box.top() - out[a].box.bottom() >
               0.8 * std::max(out[a].box.height(), out[b].box.height());
    };
    for (int k = 0; k < std::min<qsizetype>(2, byTop.size()); ++k) {
        const int i = byTop[k];
        if (out[i].box.top() >= 0.12 * h)
            break;
        if (k + 1 == byTop.size() || apart(i, byTop[k + 1]))
            out[i].inTopBand = true;
    }
    for (int k = int(byTop.size()) - 1; k >= std::max(0, int(byTop.size()) - 2); --k) {
        const int i = byTop[k];
        if (out[i].box.bottom() <= 0.88 * h)
            break;
        if (k == 0 || apart(byTop[k - 1], i))
            out[i].inBottomBand = true;
    }
    return out;
}

QVector<PdfPiece> PdfLayout::paragraphs(const QVector<PdfLine>& lines)
{
    QVector<PdfPiece> out;
    // Right edge of each flow: a line ending well short of it closes a paragraph.
    QHash<int, QPair<double, double>> flowEdges;
    for (const PdfLine& l : lines) {
        auto it = flowEdges.find(l.flow);
        if (it == flowEdges.end()) flowEdges.insert(l.flow, {l.box.left(), l.box.right()});
        else *it = {std::min(it->first, l.box.left()), std::max(it->second, l.box.right())};
    }
    const PdfLine* prev = nullptr;
    for (const PdfLine& line : lines) {
        if (line.dropped || line.text.trimmed().isEmpty())
            continue;
        PdfPiece piece{QString(), line.text.trimmed(), line.box};
        if (prev) {
            bool newParagraph = prev->flow != line.flow;
            const double h = std::min(prev->box.height(), line.box.height());
            const double gap = line.box.top() - prev->box.bottom();
            if (gap > 0.7 * h || gap < -0.5 * h ||  // a wider gap, or a jump back up
                std::abs(prev->box.height() - line.box.height()) >
                    0.3 * std::max(prev->box.height(), line.box.height()))
                newParagraph = true;
            const auto edges = flowEdges.value(prev->flow);
            const QString& pt = out.last().text;
            const QChar last = pt.isEmpty() ? QChar() : pt.back();
            if (!newParagraph && (last == u'.' || last == u':' || last == u'!' || last == u'?') &&
                prev->box.right() < edges.second - 0.15 * (edges.second - edges.first))
                newParagraph = true;
            if (newParagraph) {
                piece.separator = QStringLiteral("\n\n");
            } else if (isListItem(piece.text) || endsWithLeader(out.last().text)) {
                // A list item, or a table-of-contents entry ("Setup . . . . 12"), starts a line.
                piece.separator = QStringLiteral("\n");
            } else {
                QString& prevText = out.last().text;
                const QChar end = prevText.back();
                const bool hyphen = end == u'-' || end == QChar(0x2010) || end == QChar(0x00AD);
                if (hyphen && prevText.size() >= 2 && prevText[prevText.size() - 2].isLetter() &&
                    (isLowerStart(piece.text) || end == QChar(0x00AD))) {
                    prevText.chop(1);  // "exam-" + "ple" -> "example"
                } else if (!hyphen || prevText.size() < 2 || !prevText[prevText.size() - 2].isLetter()) {
                    piece.separator = QStringLiteral(" ");
                }  // else a real hyphen at the line end ("Jean-" + "Paul"): kept, no space
            }
        }
        out.append(piece);
        prev = &line;
    }
    for (PdfPiece& p : out)
        p.text = collapseLeaders(p.text);
    return out;
}

QString PdfLayout::footprint(const QString& lineText)
{
    QString out;
    bool inDigits = false;
    for (QChar c : lineText.simplified().toLower()) {
        if (c.isDigit()) {
            if (!inDigits) out += u'#';
            inDigits = true;
        } else {
            out += c;
            inDigits = false;
        }
    }
    return out;
}

bool PdfLayout::isPageNumber(const QString& lineText)
{
    static const QRegularExpression re(
        QStringLiteral("^[\\s\\-\\x{2013}\\x{2014}\\[\\(]*(page\\s*)?(\\d+|(?=[ivxlcdm])m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3}))"
                       "(\\s*(of|/)\\s*\\d+)?[\\s\\-\\x{2013}\\x{2014}\\]\\)]*$"),
        QRegularExpression::CaseInsensitiveOption);
    return re.match(lineText.trimmed()).hasMatch();
}

}  // namespace Ingest
