// PDF layout, second part: lines to paragraphs (hyphenation, list items, leaders) and running
// headers/footers across pages; see pdflayout.h.
#include "pdflayout.h"

#include <QHash>
#include <QRegularExpression>
#include <QSet>

#include <algorithm>
#include <cmath>
#include <optional>

namespace Ingest {

namespace {

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
    // Nothing to do without ".." or ". ." (one pass instead of two searches).
    bool leader = false;
    for (qsizetype i = 1; i < s.size() && !leader; ++i)
        leader = s[i] == u'.' &&
                 (s[i - 1] == u'.' || (i >= 2 && s[i - 1] == u' ' && s[i - 2] == u'.'));
    if (!leader)
        return s;
    QString out = s;
    out.replace(leaderPattern(), QStringLiteral(" \u2026 "));
    return out.trimmed();
}

}  // namespace

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


void PdfLayout::dropRunningLines(const QVector<QVector<PdfLine>*>& pages)
{
    // Band lines whose footprint (digits folded) recurs on many pages, or that carry the page
    // number at an edge with the same offset from the page index on many pages ("Chapter 2:
    // Setup    17"), or that are only a page number.
    const int pageCount = int(pages.size());
    if (pageCount < 2)
        return;
    const int minPages = std::max(3, int(std::ceil(0.2 * pageCount)));
    auto key = [](const PdfLine& l) {
        QString k = l.inTopBand ? QStringLiteral("T:") : QStringLiteral("B:");
        k.append(footprint(l.text));
        return k;
    };
    auto numberOffset = [](const PdfLine& l, int pageIndex) -> std::optional<QString> {
        const QStringList words = l.text.split(u' ', Qt::SkipEmptyParts);
        if (words.size() < 2)
            return std::nullopt;
        bool ok = false;
        int n = words.first().toInt(&ok);
        if (!ok)
            n = words.last().toInt(&ok);
        if (!ok)
            return std::nullopt;
        return (l.inTopBand ? QStringLiteral("T") : QStringLiteral("B")) +
               QString::number(n - pageIndex);
    };
    // Both keys of every band line, in the order the lines are met (computed once, used twice).
    struct BandKeys {
        QString footprint;
        std::optional<QString> offset;
    };
    QVector<BandKeys> keys;
    QHash<QString, QSet<int>> seen;
    for (int i = 0; i < pages.size(); ++i)
        for (const PdfLine& l : *pages[i]) {
            if (!l.inTopBand && !l.inBottomBand)
                continue;
            BandKeys k{key(l), numberOffset(l, i)};
            seen[k.footprint].insert(i);
            if (k.offset)
                seen[*k.offset].insert(i);
            keys.append(std::move(k));
        }
    qsizetype next = 0;
    for (int i = 0; i < pages.size(); ++i)
        for (PdfLine& l : *pages[i]) {
            if (!l.inTopBand && !l.inBottomBand)
                continue;
            const BandKeys& k = keys[next++];
            l.dropped = isPageNumber(l.text) ||
                        (pageCount >= 3 && seen.value(k.footprint).size() >= minPages) ||
                        (k.offset && seen.value(*k.offset).size() >= minPages);
        }
}

}  // namespace Ingest
