// PDF layout analysis, first part: words to lines in reading order, gutters, header/footer
// bands (paragraphs: pdfparagraphs.cpp); see pdflayout.h. All thresholds are in fractions of a
// line height or of the page, so they hold for any font size.
#include "pdflayout.h"

#include <QVarLengthArray>

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace Ingest {

namespace {

struct Line {
    QVector<PdfWord> words;
    QRectF box;
};

// Groups words into lines: sorted by vertical centre, a word joins the current line when the
// two overlap vertically by at least half the smaller height; each line's words left to right.
// Indices are sorted (stably, so ties keep the words' order) and each word is moved once.
QVector<Line> groupLines(QVector<PdfWord> words)
{
    QVarLengthArray<int, 256> order(words.size());
    std::iota(order.begin(), order.end(), 0);
    QVarLengthArray<double, 256> centreY(words.size());
    for (qsizetype i = 0; i < words.size(); ++i)
        centreY[i] = words[i].box.center().y();
    std::stable_sort(order.begin(), order.end(),
                     [&centreY](int a, int b) { return centreY[a] < centreY[b]; });
    struct Range {
        qsizetype begin;
        qsizetype end;
        QRectF box;
    };
    QVarLengthArray<Range, 64> ranges;
    for (qsizetype k = 0; k < order.size(); ++k) {
        const QRectF& box = words[order[k]].box;
        if (!ranges.isEmpty()) {
            Range& line = ranges.last();
            const double overlap =
                std::min(line.box.bottom(), box.bottom()) - std::max(line.box.top(), box.top());
            if (overlap >= 0.5 * std::min(line.box.height(), box.height())) {
                line.box = line.box.united(box);
                line.end = k + 1;
                continue;
            }
        }
        ranges.append(Range{k, k + 1, box});
    }
    QVector<Line> lines;
    lines.reserve(ranges.size());
    for (const Range& r : ranges) {
        std::stable_sort(order.begin() + r.begin, order.begin() + r.end, [&words](int a, int b) {
            return words[a].box.left() < words[b].box.left();
        });
        Line line;
        line.box = r.box;
        line.words.reserve(r.end - r.begin);
        for (qsizetype k = r.begin; k < r.end; ++k)
            line.words.append(std::move(words[order[k]]));
        lines.append(std::move(line));
    }
    return lines;
}

PdfLine toPdfLine(const Line& line, int flow)
{
    PdfLine out;
    out.box = line.box;
    out.flow = flow;
    qsizetype length = line.words.size();
    for (const PdfWord& w : line.words)
        length += w.text.size();
    out.text.reserve(length);
    for (int i = 0; i < line.words.size(); ++i) {
        const PdfWord& w = line.words[i];
        if (i > 0) {
            const PdfWord& prev = line.words[i - 1];
            const double gap = w.box.left() - prev.box.right();
            if (prev.spaceAfter || gap > 0.15 * std::min(prev.box.height(), w.box.height()))
                out.text += u' ';
        }
        out.text += w.text;
    }
    // Ligatures expand character by character, so once per line is the same as once per word.
    out.text = PdfLayout::expandLigatures(out.text);
    return out;
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
    // How many words cover each point of x: +1 where a word starts, -1 after it ends, summed
    // (per word a constant cost, not one per point of its width).
    // On the stack for page widths up to 2047 pt (no heap block per page).
    QVarLengthArray<int, 2048> cover(width + 1, 0);
    for (const PdfWord& w : words) {
        const int x0 = std::clamp(int(w.box.left()), 0, width);
        const int x1 = std::clamp(int(w.box.right() + 0.999), 0, width);
        if (x0 < x1) {
            ++cover[x0];
            --cover[x1];
        }
    }
    for (qsizetype x = 1; x < cover.size(); ++x)
        cover[x] += cover[x - 1];
    // A few words may cross (a full-width title); body text must not.
    const int tolerance = std::max(2, int(words.size()) / 50);
    int bestStart = -1, bestLength = 0;
    for (int x = width * 3 / 10, start = -1; x <= width * 7 / 10; ++x) {
        const bool empty = cover[x] <= tolerance && x < width * 7 / 10;
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

}  // namespace Ingest
